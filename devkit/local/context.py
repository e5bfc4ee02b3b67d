"""An FC 2.0 python3.10-shaped ``context`` object (FACTS.md §2), for local invocations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FcCredentials:
    """``context.credentials``: the service role's STS credentials on FC."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class FcFunction:
    """``context.function``."""

    name: str
    handler: str
    memory: int
    timeout: int
    initializer: str | None = None


@dataclass(frozen=True)
class FcService:
    """``context.service``."""

    name: str
    log_project: str = ""
    log_store: str = ""
    qualifier: str = "LATEST"
    version_id: str = ""


@dataclass(frozen=True)
class FcContext:
    """What FC passes as the handler's second argument."""

    credentials: FcCredentials
    function: FcFunction
    service: FcService
    region: str
    account_id: str = "1234567890123456"
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    retry_count: int = 0
