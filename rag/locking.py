"""One writer per store: an exclusive, non-blocking file lock with the holder's PID.

The lock is local to the machine. With a Chroma server shared by several machines,
writers must be coordinated outside this package (see README, Scaling).
"""
from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock, Timeout

from rag.errors import StoreError, StoreLockedError


class WriteLock:
    """`with WriteLock(store_dir):` holds the store for writing, or raises at once."""

    def __init__(self, store_dir: Path):
        self.dir = Path(store_dir)
        self.pid_file = self.dir / "writer.pid"
        self._lock: FileLock | None = None

    def __enter__(self) -> "WriteLock":
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(self.dir / "write.lock", timeout=0)
            self._lock.acquire()
        except Timeout:
            raise StoreLockedError(f"the store {self.dir} is in use by PID {self.holder() or 'unknown'}; "
                                   "wait for it to finish") from None
        except OSError as exc:
            raise StoreError(f"cannot write the store at {self.dir}: {exc.strerror or exc}") from exc
        self.pid_file.write_text(str(os.getpid()))
        return self

    def __exit__(self, *exc) -> None:
        self.pid_file.unlink(missing_ok=True)
        if self._lock:
            self._lock.release()

    def holder(self) -> str:
        try:
            return self.pid_file.read_text().strip()
        except OSError:
            return ""
