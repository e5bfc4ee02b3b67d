"""Slot keys and the ClientToken derived from them.

A *slot key* names what a snapshot is for (DESIGN.md, "Dedupe"): a kind plus named parts, e.g.
``slot_key("timer", policy="daily", disk="d-1", slot="2026-11-27T00:00+08:00")``. Its canonical form is::

    <kind>/<name>=<value>/<name>=<value>...

with the parts sorted by name and the kind, every name and every value percent-encoded (UTF-8) so that
only ``A-Z a-z 0-9 _ . - ~ : + @ , ;`` stay literal. The separators ``/`` and ``=`` and the escape
character ``%`` are always encoded inside a component, so the form is injective: two different
(kind, parts) inputs never give the same string. Part order in the call does not matter.

The *ClientToken* of a slot key (derivation version ``ss1``) is::

    "ss1-" + sha256(slot_key.encode("utf-8")).hexdigest()[:32]

36 ASCII characters: within CreateSnapshot's rule (ASCII, at most 64 characters). 128 bits of the hash
keep accidental collisions out of reach for any realistic number of slots. The same token is sent to
ECS and used as the token table's primary key, so ECS-side idempotence and the table agree.

Changing either the canonical form or the hash changes every token, which would let a redelivered
event create a second snapshot: such a change must bump the prefix (``ss2-``) and is pinned by tests.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

TOKEN_PREFIX = "ss2-"
LEGACY_PREFIX = "ss1-"
_TOKEN_HEX_CHARS = 32
#: ClientToken's limit in CreateSnapshot (the seed): ASCII, at most 64 characters.
MAX_CLIENT_TOKEN = 64
# Kept literal for readability (timestamps, ARNs); none of them is a separator or the escape char.
_SAFE = ":+@,;"


def _component(text: str) -> str:
    return quote(text, safe=_SAFE)


def slot_key(kind: str, **parts: str) -> str:
    """The canonical slot key of ``kind`` and its named ``parts`` (see the module docstring)."""
    if not kind:
        raise ValueError("a slot key needs a non-empty kind")
    for name, value in parts.items():
        if not isinstance(value, str):
            raise TypeError(f"slot key part {name!r} must be a str, not {type(value).__name__}")
    fields = "".join(f"/{_component(name)}={_component(value)}" for name, value in sorted(parts.items()))
    return _component(kind) + fields


def client_token(key: str, *, prefix: str = TOKEN_PREFIX) -> str:
    """The slot token (token-table key, ``snapstack:slot`` tag, generation-0 ClientToken) of ``key``.

    ``prefix`` selects the derivation version: ``ss2-`` (current) or ``ss1-`` (legacy, pinned).
    """
    if not key:
        raise ValueError("cannot derive a ClientToken from an empty slot key")
    if prefix not in (TOKEN_PREFIX, LEGACY_PREFIX):
        raise ValueError(f"unknown token prefix {prefix!r}")
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return prefix + digest[:_TOKEN_HEX_CHARS]


def client_token_at(slot_token: str, generation: int) -> str:
    """The ClientToken sent to ECS for ``slot_token`` at ``generation`` (0: the slot token itself)."""
    if generation < 0:
        raise ValueError("a generation is a whole number >= 0")
    token = slot_token if generation == 0 else f"{slot_token}-g{generation}"
    if len(token) > MAX_CLIENT_TOKEN or not token.isascii():
        raise ValueError(f"ClientToken {token!r} breaks CreateSnapshot's rule (ASCII, <= 64 characters)")
    return token
