"""Suite-wide settings: the credential chain must never reach for the metadata address, and no
test has a wall-clock limit (hypothesis's per-example deadline and its too-slow health check
would fail a correct test on a loaded machine)."""

from __future__ import annotations

import os

import pytest

from snapstack.tokens.tablestore import silence_native_codec_notice

# Tests import the tablestore SDK directly too: its import-time notice is filtered like at runtime.
silence_native_codec_notice()

os.environ.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
os.environ.setdefault("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--long`` scales tests/reliability up; pytest reads options only from the top conftest."""
    parser.addoption(
        "--long", action="store_true", default=False, help="reliability scenarios at full size (manual runs)"
    )


def pytest_configure(config: pytest.Config) -> None:
    """Without the hypothesis plugin (``make mutation`` drops it where unused) nothing to set."""
    if config.pluginmanager.has_plugin("hypothesispytest"):
        from hypothesis import HealthCheck, settings

        settings.register_profile("snapstack", deadline=None, suppress_health_check=[HealthCheck.too_slow])
        settings.load_profile("snapstack")
