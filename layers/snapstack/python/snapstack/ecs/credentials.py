"""Where ECS credentials come from: the FC context (STS), else the environment, else explicit config.

FC hands each invocation the service role's STS credentials on ``context.credentials``
(snake_case, with camelCase aliases on some runtimes); python3.12 on FC 3.0 has no
``credentials`` and sets the ``ALIBABA_CLOUD_*`` variables instead. Credentials are never
logged: ``Credentials.__repr__`` hides the secret and the token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from snapstack.ecs.errors import EcsError


@dataclass(frozen=True)
class Credentials:
    """An AccessKey pair, with an STS token when the pair is temporary."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


class CredentialsNotFound(EcsError):
    """No source offered credentials."""

    def __init__(self, tried: str) -> None:
        super().__init__("Credentials.Missing", f"no credentials found (tried {tried})")


def _from_context(context: Any) -> Credentials | None:
    creds = getattr(context, "credentials", None)
    if creds is None:
        return None
    key_id = getattr(creds, "access_key_id", None) or getattr(creds, "accessKeyId", None)
    secret = getattr(creds, "access_key_secret", None) or getattr(creds, "accessKeySecret", None)
    token = getattr(creds, "security_token", None) or getattr(creds, "securityToken", None)
    if key_id and secret:
        return Credentials(key_id, secret, token or None)
    return None


def _from_env(env: Mapping[str, str]) -> Credentials | None:
    key_id = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID")
    secret = env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    if key_id and secret:
        return Credentials(key_id, secret, env.get("ALIBABA_CLOUD_SECURITY_TOKEN") or None)
    return None


def resolve_credentials(
    context: Any = None,
    *,
    env: Mapping[str, str] | None = None,
    explicit: Credentials | None = None,
) -> Credentials:
    """The first credentials found: FC context, then ``ALIBABA_CLOUD_*`` env vars, then ``explicit``."""
    found = _from_context(context) or _from_env(os.environ if env is None else env) or explicit
    if found is None:
        raise CredentialsNotFound("FC context, ALIBABA_CLOUD_* environment, explicit config")
    return found
