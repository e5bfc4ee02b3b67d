"""CPython's cyclic garbage collector while a fan-out runs (``Executor.stream``).

Every collection holds the GIL: no worker claims, sends or records while one runs. With the
default settings the collector stopped a 50,000-disk fan-out for 10.7 s of its 270 s (4 %;
timed with ``gc.callbacks`` around ``bench/fanout.py``'s run, 2026-11-30), and the workers then
finished each disk ~30 ms after the 50 ms CreateSnapshot answer, too late to keep up with the
API's rate limit. Two causes, and what ``tuned_collector`` does about each while the fan-out runs:

- **Full collections walk everything the imports made** (~160,000 tracked objects: modules,
  pydantic schemas, SDK model classes), 120 ms a time, though none of it can become garbage.
  ``gc.freeze`` moves every object that exists when the fan-out starts to the permanent
  generation, which collections skip; ``gc.unfreeze`` hands them back when it ends.
- **Gen-0 collections every 700 allocations** (about 14 a second) catch each in-flight
  request's objects while their 50 ms call is open, and promote them, so gen-1 and gen-2 walk
  them again. A gen-0 threshold of ``GEN0_THRESHOLD`` lets nearly all of them die by reference
  count first.

With both, the same run's collections took 2.9 s and the workers kept up (limiter waits of
15-20 ms instead of ~0). Garbage cycles still get collected, later; the memory benchmark
(``bench/memory.py``) measures the peak with this in place.

Collector settings are process-wide, so concurrent fan-outs (FC instance concurrency) share
one setting: the first to start applies it, the last to finish restores what it found. A
process that froze objects itself (``gc.get_freeze_count()`` > 0) is left to its own freezing.
Source: https://docs.python.org/3.10/library/gc.html (``freeze``, ``unfreeze``,
``set_threshold``).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Allocations (net of deallocations) between gen-0 collections while tuned; CPython's default
#: is 700. Measured in the run above: 507 gen-0 collections instead of 3,885.
GEN0_THRESHOLD = 7000


class _Shared:
    """The one process-wide setting and who uses it (``tuned_collector``'s state)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.saved: tuple[tuple[int, int, int], bool] | None = None  # thresholds found; we froze?

    def enter(self) -> None:
        with self.lock:
            self.users += 1
            if self.users > 1:
                return
            gen0, gen1, gen2 = gc.get_threshold()
            freeze = gc.get_freeze_count() == 0
            self.saved = ((gen0, gen1, gen2), freeze)
            if freeze:
                gc.freeze()
            gc.set_threshold(max(GEN0_THRESHOLD, gen0), gen1, gen2)

    def exit(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users > 0 or self.saved is None:
                return
            threshold, froze = self.saved
            self.saved = None
            gc.set_threshold(*threshold)
            if froze:
                gc.unfreeze()


_SHARED = _Shared()


@contextmanager
def tuned_collector() -> Iterator[None]:
    """Apply the fan-out's collector settings (see the module docstring) for the ``with`` body."""
    _SHARED.enter()
    try:
        yield
    finally:
        _SHARED.exit()
