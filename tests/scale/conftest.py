"""Scale: the streaming pipeline, the summary's bound, selectors, and the memory bound."""

from __future__ import annotations

from tests.e2e.conftest import config_json, stack  # noqa: F401 - fixtures reused here
