"""The fan-out's garbage-collector settings (``collector.py``): applied while a stream runs,
shared by overlapping streams, and handed back exactly as found."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from snapstack.collector import GEN0_THRESHOLD, tuned_collector


@pytest.fixture(autouse=True)
def untouched_collector() -> Iterator[tuple[int, int, int]]:
    """Every test starts from CPython's defaults and leaves them so (a failure included)."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    yield gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(*before)


def test_a_fan_out_freezes_what_exists_and_raises_gen0_then_restores_both():
    existing = [object()]  # a container the collector tracks, made before the fan-out
    with tuned_collector():
        assert gc.get_threshold() == (GEN0_THRESHOLD, 10, 10)
        assert gc.get_freeze_count() > 0
        assert not any(o is existing for o in gc.get_objects()), "objects from before were walked"
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0
    assert any(o is existing for o in gc.get_objects())


def test_a_higher_gen0_threshold_the_process_chose_is_kept():
    gc.set_threshold(20_000, 5, 7)
    with tuned_collector():
        assert gc.get_threshold() == (20_000, 5, 7)
    assert gc.get_threshold() == (20_000, 5, 7)


def test_a_process_that_froze_objects_itself_keeps_them_frozen():
    mine = [object()]
    gc.freeze()
    with tuned_collector():
        assert not any(o is mine for o in gc.get_objects())
    assert gc.get_freeze_count() > 0
    assert not any(o is mine for o in gc.get_objects()), "the fan-out unfroze what it had not frozen"


def test_overlapping_fan_outs_keep_the_settings_until_the_last_one_ends():
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[tuple[int, int, int]] = []

    def first() -> None:
        with tuned_collector():
            first_in.set()
            second_in.wait()
        first_out.set()

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait()
    with tuned_collector():
        second_in.set()
        first_out.wait()
        seen.append(gc.get_threshold())
        frozen_while_second_runs = gc.get_freeze_count()
    thread.join()
    assert seen == [(GEN0_THRESHOLD, 10, 10)], "the first to finish restored the settings under the second"
    assert frozen_while_second_runs > 0
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_the_settings_are_restored_when_the_fan_out_raises():
    with pytest.raises(RuntimeError), tuned_collector():
        raise RuntimeError("a listing failed")
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0
