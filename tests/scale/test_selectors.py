"""Selectors compiled once: membership is a hash look-up, never a scan of the selector's ids.

The proof is structural, not timed: the disk id handed to the matcher counts how often it is
compared for equality. A set compares it with (at most) the one id of the same hash; a list or
tuple would compare it with every id it holds. The CPU time of the same 100,000-id selector is
measured in ``bench/listing.py``.
"""

from __future__ import annotations

from snapstack.policy.model import Selector
from snapstack.targets import Disk, SelectorMatch, matches

IDS = 100_000


class CountingId(str):
    """A disk id that counts the equality comparisons made against it."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        CountingId.compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def probe(n: int, instance: str = "i-1") -> Disk:
    # model_construct keeps the counting id as it is (validation would copy it into a plain str).
    return Disk.model_construct(disk_id=CountingId(f"d-{n:07d}"), instance_id=instance, type="data", tags={})


def test_a_100k_id_selector_compares_each_disk_id_at_most_a_few_times():
    wanted = [f"d-{n:07d}" for n in range(0, 2 * IDS, 2)]  # every even disk
    selector = Selector(disk_ids=wanted, exclude_disk_ids=wanted[:10])
    match = SelectorMatch(selector, instances={f"i-{n}" for n in range(IDS)})
    assert isinstance(match.disk_ids, frozenset) and isinstance(match.instances, frozenset)
    assert isinstance(match.exclude_ids, frozenset)
    probes = [probe(n, instance=f"i-{n % IDS}") for n in range(2_000)]
    CountingId.compared = 0
    picked = [d.disk_id for d in probes if match(d)]
    assert len(picked) == 1_000 - 10
    # a scan would compare each probe with up to 100,000 ids: 10^8 comparisons for these 2,000
    assert CountingId.compared <= 3 * len(probes)


def test_the_one_disk_helper_agrees_with_the_compiled_matcher():
    selector = Selector(disk_ids=["d-a", "d-b"], disk_tags={"app": "web"}, exclude_disk_tags={"env": "dev"})
    disks = [
        Disk(disk_id="d-a", tags={"app": "web", "env": "prod"}),
        Disk(disk_id="d-b", tags={"app": "web", "env": "dev"}),
        Disk(disk_id="d-c", tags={"app": "web"}),
    ]
    compiled = SelectorMatch(selector)
    assert [matches(d, selector, None) for d in disks] == [compiled(d) for d in disks] == [True, False, False]
