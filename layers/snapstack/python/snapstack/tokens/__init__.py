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
    TokenRecord,
    TokenState,
    TokenTable,
    TokenTableError,
    TokenTableUnavailable,
    default_owner,
)
from snapstack.tokens.slots import client_token, slot_key

#: The environment variable naming the token table's URL.
URL_ENV = "SNAPSTACK_TOKEN_TABLE"
#: The embedded default: a SQLite file under the working directory.
DEFAULT_URL = "sqlite:///.snapstack/tokens.db"

# scheme -> (module, class); imported only when that scheme is asked for.
_BACKENDS: dict[str, tuple[str, str]] = {
    "sqlite": ("snapstack.tokens.sqlite", "SqliteTokenTable"),
    "redis": ("snapstack.tokens.redis", "RedisTokenTable"),
    "tablestore": ("snapstack.tokens.tablestore", "TablestoreTokenTable"),
}

__all__ = [
    "DEFAULT_URL",
    "URL_ENV",
    "ClaimOutcome",
    "ClaimResult",
    "LeaseLost",
    "TokenRecord",
    "TokenState",
    "TokenTable",
    "TokenTableError",
    "TokenTableUnavailable",
    "client_token",
    "default_owner",
    "open_table",
    "slot_key",
]


def open_table(url: str | None = None, **kwargs: Any) -> TokenTable:
    """Open the token table at ``url`` (default: ``$SNAPSTACK_TOKEN_TABLE``, else ``DEFAULT_URL``).

    ``kwargs`` go to the backend's constructor (``lease_seconds``, ``record_ttl_seconds``, ``clock``,
    and backend options such as ``busy_timeout`` or ``socket_timeout``).
    """
    url = url or os.environ.get(URL_ENV) or DEFAULT_URL
    scheme = url.partition("://")[0] if "://" in url else ""
    if scheme not in _BACKENDS:
        supported = ", ".join(sorted(_BACKENDS))
        raise ValueError(f"unsupported token table URL {url!r}: the scheme must be one of {supported}")
    module_name, class_name = _BACKENDS[scheme]
    table_class: Callable[..., TokenTable] = getattr(importlib.import_module(module_name), class_name)
    return table_class(url, **kwargs)
