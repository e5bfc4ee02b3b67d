"""Suite-wide settings: the credential chain must never reach for the metadata address."""

from __future__ import annotations

import os

os.environ.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
os.environ.setdefault("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
