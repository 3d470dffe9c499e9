"""Per-stage wall-clock timings, as every `Answer.timings_ms` reports them."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stage(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add the time spent in the block to `timings[name]`, in milliseconds."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + (time.perf_counter() - t0) * 1000
