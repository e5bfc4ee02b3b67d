"""redact_url: what a token-table URL may show in logs, errors and CLI output."""

from __future__ import annotations

import pytest

from snapstack.tokens.urls import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://***@cache:6379/0"),
        ("rediss://user:s3cret@cache.example:6380/2", "rediss://***@cache.example:6380/2"),
        ("rediss://user@cache:6380", "rediss://***@cache:6380"),
        ("redis://cache:6379/0?password=s3cret&db=2", "redis://cache:6379/0?password=***&db=2"),
        ("redis://cache?socket_timeout=5&token=", "redis://cache?socket_timeout=5&token=***"),
        ("sqlite:////var/snapstack/tokens.db", "sqlite:////var/snapstack/tokens.db"),
        ("sqlite:///tokens.db", "sqlite:///tokens.db"),
        (
            "ots://instance.cn-hangzhou.ots.aliyuncs.com/tokens",
            "ots://instance.cn-hangzhou.ots.aliyuncs.com/tokens",
        ),
    ],
)
def test_secrets_are_replaced_and_the_rest_is_kept(url, shown):
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:s3cret@cache:notaport/0", "redis://***"),  # a port that is not a number
        ("rediss://user:s3cret@[::1/0", "rediss://***"),  # an IPv6 host never closed
        ("//user:s3cret@[::1", "***"),  # not even a scheme
    ],
)
def test_an_unparsable_url_shows_its_scheme_at_most(url, shown):
    assert redact_url(url) == shown
