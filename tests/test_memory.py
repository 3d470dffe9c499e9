"""release_freed_memory hands fragmented free heap back to the OS (glibc only)."""
from __future__ import annotations

import numpy as np
import pytest

from rag.memory import _malloc_trim, release_freed_memory


def _anon_rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon")) / 1024


@pytest.mark.skipif(_malloc_trim() is None, reason="malloc_trim is glibc's; a no-op elsewhere")
def test_trim_returns_freed_fragments():
    # 100 KB blocks sit below glibc's mmap threshold, so they live in the heap; freeing
    # every other one leaves holes that free() alone keeps (the last block pins the top).
    blocks = [np.ones(12_500) for _ in range(3_000)]  # ~300 MB
    del blocks[::2]
    before = _anon_rss_mb()
    release_freed_memory()
    after = _anon_rss_mb()
    assert before - after > 100, (before, after)  # ~150 MB of holes go back
    assert len(blocks) == 1_500
