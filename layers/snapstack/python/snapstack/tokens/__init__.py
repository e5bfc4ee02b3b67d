"""The token table (dedupe state) and the slot keys it is keyed by.

``open_table(url)`` picks the backend by URL scheme and imports only that backend, so choosing
SQLite never pays for the redis or tablestore imports at cold start.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

from snapstack.tokens.base import (
    ClaimOutcome,
    ClaimResult,
    LeaseLost,
    RearmRefused,
    TokenRecord,
    TokenState,
    TokenTable,
    TokenTableAuthError,
    TokenTableError,
    TokenTableFatal,
    TokenTableUnavailable,
    default_owner,
)
from snapstack.tokens.slots import client_token, client_token_at, slot_key
from snapstack.tokens.urls import redact_url

#: The environment variable naming the token table's URL.
URL_ENV = "SNAPSTACK_TOKEN_TABLE"
#: The embedded default: a SQLite file under the working directory.
DEFAULT_URL = "sqlite:///.snapstack/tokens.db"

# scheme -> (module, class); imported only when that scheme is asked for.
_BACKENDS: dict[str, tuple[str, str]] = {
    "sqlite": ("snapstack.tokens.sqlite", "SqliteTokenTable"),
    "redis": ("snapstack.tokens.redis", "RedisTokenTable"),
    "rediss": ("snapstack.tokens.redis", "RedisTokenTable"),  # Redis over TLS
    "tablestore": ("snapstack.tokens.tablestore", "TablestoreTokenTable"),
}

__all__ = [
    "DEFAULT_URL",
    "URL_ENV",
    "ClaimOutcome",
    "ClaimResult",
    "LeaseLost",
    "RearmRefused",
    "TokenRecord",
    "TokenState",
    "TokenTable",
    "TokenTableAuthError",
    "TokenTableError",
    "TokenTableFatal",
    "TokenTableUnavailable",
    "client_token",
    "client_token_at",
    "default_owner",
    "open_table",
    "redact_url",
    "slot_key",
]


def open_table(url: str | None = None, **kwargs: Any) -> TokenTable:
    """Open the token table at ``url`` (default: ``$SNAPSTACK_TOKEN_TABLE``, else ``DEFAULT_URL``).

    ``kwargs`` go to the backend's constructor (``lease_seconds``, ``record_ttl_seconds``, ``clock``,
    ``clock_skew_seconds``, and backend options such as ``busy_timeout`` or ``socket_timeout``).
    ``ValueError`` for a URL no backend serves; its message never holds the URL's credentials.
    """
    url = url or os.environ.get(URL_ENV) or DEFAULT_URL
    scheme = url.partition("://")[0] if "://" in url else ""
    if scheme not in _BACKENDS:
        supported = ", ".join(sorted(_BACKENDS))
        raise ValueError(
            f"unsupported token table URL {redact_url(url)!r}: the scheme must be one of {supported}"
        )
    module_name, class_name = _BACKENDS[scheme]
    table_class: Callable[..., TokenTable] = getattr(importlib.import_module(module_name), class_name)
    return table_class(url, **kwargs)
