"""Which generation of a store's index is current, so `ingest --rebuild` can build a
new index beside the old one and switch atomically.

Generation 0 is the layout stores have always had (collections `<name>_chunks` and
`<name>_docs`, BM25 in `<store>/bm25`); generation n > 0 uses `<name>-g<n>_*` and
`<store>/bm25-g<n>`. The number lives in `<store>/generation.json`, replaced with
os.replace: a rebuild killed at any moment leaves the old generation current and whole.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

POINTER = "generation.json"


def current(store_dir: Path | str) -> int:
    """The generation readers should use (0 when none was ever switched to)."""
    try:
        return int(json.loads((Path(store_dir) / POINTER).read_text())["generation"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def pointer_mtime(store_dir: Path | str) -> float | None:
    """Changes whenever a rebuild switches generations (a cheap check for readers)."""
    try:
        return (Path(store_dir) / POINTER).stat().st_mtime_ns
    except OSError:
        return None


def switch(store_dir: Path | str, generation: int) -> None:
    """Make `generation` current, atomically and durably."""
    pointer = Path(store_dir) / POINTER
    partial = pointer.with_name(f".{POINTER}.part")
    with open(partial, "w") as f:
        json.dump({"generation": generation}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, pointer)
    fd = os.open(Path(store_dir), os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself must survive a power cut
    finally:
        os.close(fd)


def collection_name(base: str, generation: int) -> str:
    return base if generation == 0 else f"{base}-g{generation}"


def keyword_dir(store_dir: Path | str, generation: int) -> Path:
    return Path(store_dir) / ("bm25" if generation == 0 else f"bm25-g{generation}")
