"""Slot keys and ClientTokens: pinned vectors (a silent change re-snapshots every slot) and properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snapstack.tokens.slots import client_token, client_token_at, slot_key

# Computed once with coreutils (printf '%s' KEY | sha256sum | cut -c1-32). Never edit these: a new
# derivation gets a new prefix and new vectors beside these. ss1 (no namespace) stays derivable.
PINNED = [
    (
        slot_key("timer", policy="daily", disk="d-1", slot="2026-11-27T00:00+08:00"),
        "timer/disk=d-1/policy=daily/slot=2026-11-27T00:00+08:00",
        "ss1-8ff385cd68e597a9e5377ab432d6cf1b",
    ),
    (
        slot_key(
            "oss", bucket="releases", key="app/v1.2/manifest.json", etag='"5B3C1A2E053D763E1B002CC607C5A0FE"'
        ),
        "oss/bucket=releases/etag=%225B3C1A2E053D763E1B002CC607C5A0FE%22/key=app%2Fv1.2%2Fmanifest.json",
        "ss1-2752b2d7efdb595a1b4e49a46852062f",
    ),
    (
        slot_key("mns", message_id="5F08AC8D8A6D0D2D-1-1742A0C2D9E-200000001"),
        "mns/message_id=5F08AC8D8A6D0D2D-1-1742A0C2D9E-200000001",
        "ss1-5516190f3ae01e6c1df2a73ccc47bc5b",
    ),
    (
        slot_key("alarm", rule="cpu high", disk="d-2", window="2026-11-27T10:00Z"),
        "alarm/disk=d-2/rule=cpu%20high/window=2026-11-27T10:00Z",
        "ss1-259c4c65e26f515e85edb2545c1ac6f6",
    ),
]
# ss2: the namespace (FC service, function, policy) is part of every slot key (decision D3).
PINNED_SS2 = [
    (
        slot_key(
            "timer",
            policy="daily",
            disk="d-1",
            slot="2026-11-27T00:00+08:00",
            ns_stack="snapstack",
            ns_function="scheduled_backup",
            ns_policy="daily",
        ),
        "timer/disk=d-1/ns_function=scheduled_backup/ns_policy=daily/ns_stack=snapstack/policy=daily/"
        "slot=2026-11-27T00:00+08:00",
        "ss2-e9f129876454f88e51d520749a661735",
    ),
    (
        slot_key(
            "oss",
            bucket="releases",
            key="app/v1.2/manifest.json",
            etag='"5B3C"',
            disk="d-9",
            ns_stack="snapstack",
            ns_function="deploy_hook",
            ns_policy="deploy",
        ),
        "oss/bucket=releases/disk=d-9/etag=%225B3C%22/key=app%2Fv1.2%2Fmanifest.json/ns_function=deploy_hook/"
        "ns_policy=deploy/ns_stack=snapstack",
        "ss2-80e9475365fa4daa38d6e2e9cfd14455",
    ),
]
# Generations: g0 is the slot token itself; later ones append -g<N>.
PINNED_GENERATIONS = [
    (0, "ss2-e9f129876454f88e51d520749a661735"),
    (1, "ss2-e9f129876454f88e51d520749a661735-g1"),
    (12, "ss2-e9f129876454f88e51d520749a661735-g12"),
]
TOKEN_SHAPE = re.compile(r"ss2-[0-9a-f]{32}")

names = st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True)
parts = st.dictionaries(names, st.text(max_size=40), max_size=5)
kinds = st.text(min_size=1, max_size=12)
# Tiny alphabets full of separators and escapes, so that naive joins of different inputs collide often.
dense_parts = st.dictionaries(st.sampled_from(["a", "b", "a_b"]), st.text(alphabet="a/=%2F_é", max_size=5))
dense_kinds = st.text(alphabet="a/=%2F", min_size=1, max_size=4)


@pytest.mark.parametrize(("key", "canonical", "token"), PINNED, ids=[p[1].split("/")[0] for p in PINNED])
def test_pinned_vectors(key: str, canonical: str, token: str) -> None:
    assert key == canonical
    assert client_token(key, prefix="ss1-") == token


@pytest.mark.parametrize(("key", "canonical", "token"), PINNED_SS2, ids=["timer", "oss"])
def test_pinned_ss2_vectors(key: str, canonical: str, token: str) -> None:
    assert key == canonical
    assert client_token(key) == token


@pytest.mark.parametrize(("generation", "token"), PINNED_GENERATIONS)
def test_pinned_generations(generation: int, token: str) -> None:
    assert client_token_at(PINNED_SS2[0][2], generation) == token


def test_generations_stay_within_the_client_token_rule() -> None:
    slot = PINNED_SS2[0][2]
    assert len(client_token_at(slot, 10**20)) <= 64
    with pytest.raises(ValueError, match="64"):
        client_token_at(slot, 10**30)
    with pytest.raises(ValueError, match="generation"):
        client_token_at(slot, -1)
    with pytest.raises(ValueError, match="prefix"):
        client_token("k", prefix="ss9-")


def test_part_order_does_not_matter() -> None:
    assert slot_key("timer", disk="d-1", policy="p") == slot_key("timer", policy="p", disk="d-1")


def test_separators_inside_values_cannot_forge_another_key() -> None:
    # Without escaping, both would read "k/a=1/b=2".
    assert slot_key("k", a="1/b=2") != slot_key("k", a="1", b="2")
    assert slot_key("k", a="1/b=2") == "k/a=1%2Fb%3D2"
    assert slot_key("k/a=1") != slot_key("k", a="1")
    assert slot_key("k", a="%2F") == "k/a=%252F"


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        slot_key("")
    with pytest.raises(TypeError, match="disk"):
        slot_key("timer", disk=7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty slot key"):
        client_token("")


@given(kinds, parts)
def test_tokens_are_short_ascii_and_deterministic(kind: str, fields: dict[str, str]) -> None:
    key = slot_key(kind, **fields)
    token = client_token(key)

    assert key.isascii()
    assert TOKEN_SHAPE.fullmatch(token) and len(token) <= 64
    assert client_token(slot_key(kind, **dict(reversed(list(fields.items()))))) == token


@given(dense_kinds, dense_parts, dense_kinds, dense_parts)
def test_different_slots_give_different_keys_and_tokens(
    kind_a: str, fields_a: dict[str, str], kind_b: str, fields_b: dict[str, str]
) -> None:
    key_a, key_b = slot_key(kind_a, **fields_a), slot_key(kind_b, **fields_b)

    assert (key_a == key_b) == ((kind_a, fields_a) == (kind_b, fields_b))
    assert (client_token(key_a) == client_token(key_b)) == (key_a == key_b)


def test_a_generation_token_may_use_all_64_characters_and_no_more() -> None:
    assert client_token_at("t" * 61, 1) == "t" * 61 + "-g1"  # 64 characters
    with pytest.raises(ValueError, match="64"):
        client_token_at("t" * 62, 1)  # 65
    assert client_token_at("t" * 64, 0) == "t" * 64
    with pytest.raises(TypeError):
        client_token("timer/disk=d-1", "ss1-")  # type: ignore[misc]
