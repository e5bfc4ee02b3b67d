"""Shared helpers for the event decoder tests: the sample files under events/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"
SAMPLES = sorted(p.name for p in EVENTS.iterdir() if p.is_file() and p.name != "README.md")


def raw(name: str) -> bytes:
    """A sample event exactly as FC delivers it: bytes."""
    return (EVENTS / name).read_bytes()


def sample(name: str) -> Any:
    """A JSON sample, parsed (for building variants)."""
    return json.loads(raw(name))


def as_bytes(value: Any) -> bytes:
    """A JSON value encoded the way FC delivers it."""
    return json.dumps(value).encode()
