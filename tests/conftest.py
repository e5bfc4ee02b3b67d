"""Suite-wide settings: the credential chain must never reach for the metadata address, and
hypothesis judges examples, not the machine's speed (no per-example deadline or too-slow health
check: tests never measure wall-clock time, and a loaded 2-core CI machine must not fail them)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from snapstack.tokens.tablestore import silence_native_codec_notice

# Tests import the tablestore SDK directly too: its import-time notice is filtered like at runtime.
silence_native_codec_notice()

settings.register_profile("snapstack", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("snapstack")

os.environ.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
os.environ.setdefault("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--long`` scales tests/reliability up; pytest reads options only from the top conftest."""
    parser.addoption(
        "--long", action="store_true", default=False, help="reliability scenarios at full size (manual runs)"
    )
