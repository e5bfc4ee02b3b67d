"""Token-table URLs without their secrets: what may be printed in logs, errors and CLI output.

A URL such as ``rediss://user:password@host:6380/0`` carries a credential. ``redact_url`` keeps the
scheme, host, port, path and the *names* of query parameters, and replaces the user info and every
query value that could be a secret with ``***``, so the text is safe anywhere.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit, urlunsplit

#: Query parameters whose values are not secrets (kept so an operator can read the settings).
_PLAIN_QUERY = frozenset(
    {"endpoint", "socket_timeout", "socket_connect_timeout", "db", "ssl_cert_reqs", "ssl_check_hostname"}
)


def redact_url(url: str) -> str:
    """``url`` with its user info and secret-looking query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        # Unparsable (e.g. a port that is not a number): keep only the scheme.
        return f"{url.partition('://')[0]}://***" if "://" in url else "***"
    netloc = host if port is None else f"{host}:{port}"
    if parts.username or parts.password:
        netloc = f"***@{netloc}"
    query = "&".join(
        f"{name}={value if name in _PLAIN_QUERY else '***'}"
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    if not parts.netloc:  # sqlite:////abs/path: urlunsplit would drop the empty authority's "//"
        return f"{parts.scheme}://{parts.path}" + (f"?{query}" if query else "")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
