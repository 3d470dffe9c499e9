"""One writer per store: an exclusive, non-blocking file lock with the holder's PID.

The lock is local to the machine. With a Chroma server shared by several machines,
writers must be coordinated outside this package (see README, Scaling).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from filelock import FileLock, Timeout

from rag.errors import StoreError, StoreLockedError

# Re-entrant per thread: opening the store inside `with WriteLock(...)` runs the crash
# repair, which takes the same lock again. A second flock on a new descriptor would
# fail even in the holding process, and the repair would be skipped.
_held = threading.local()


class WriteLock:
    """`with WriteLock(store_dir):` holds the store for writing, or raises at once."""

    def __init__(self, store_dir: Path):
        self.dir = Path(store_dir)
        self.pid_file = self.dir / "writer.pid"
        self._lock: FileLock | None = None

    def __enter__(self) -> "WriteLock":
        depth = getattr(_held, "depth", {})
        _held.depth = depth
        self._key = str(self.dir.absolute())
        if depth.get(self._key):
            depth[self._key] += 1
            return self
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(self.dir / "write.lock", timeout=0)
            self._lock.acquire()
            self.pid_file.write_text(str(os.getpid()))
        except Timeout:
            raise StoreLockedError(f"the store {self.dir} is in use by PID {self.holder() or 'unknown'}; "
                                   "wait for it to finish") from None
        except OSError as exc:
            if self._lock is not None and self._lock.is_locked:
                self._lock.release()
            raise StoreError(f"cannot write the store at {self.dir}: {exc.strerror or exc}") from exc
        depth[self._key] = 1
        return self

    def __exit__(self, *exc: object) -> None:
        depth = _held.depth
        depth[self._key] -= 1
        if depth[self._key]:
            return
        del depth[self._key]
        self.pid_file.unlink(missing_ok=True)
        if self._lock:
            self._lock.release()

    def holder(self) -> str:
        try:
            return self.pid_file.read_text().strip()
        except OSError:
            return ""
