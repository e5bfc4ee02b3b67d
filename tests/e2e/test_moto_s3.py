"""``devkit.local.oss.moto_s3``: moto's S3 served so that no oss2 signature can misroute a request."""

from __future__ import annotations

import itertools
import urllib.request

import oss2
import pytest

from devkit.local.oss import MOTO_API_PATH, moto_s3

BUCKET = "four-slashes"
AUTH = oss2.Auth("AKIDoss", "oss-secret")


def signed_put(endpoint: str, body: bytes, slashes: int) -> tuple[str, oss2.http.Request]:
    """A PUT signed by oss2 for the first key whose signature holds exactly ``slashes`` '/'.

    oss2 signs as it sends, with the current date; signing the request here with oss2's own
    signer and sending that very request lets the test choose the key by its signature.
    """
    for n in itertools.count():
        key = f"releases/{n}/manifest.json"
        request = oss2.http.Request("PUT", f"{endpoint}/{BUCKET}/{key}", data=body)
        AUTH._sign_request(request, BUCKET, key)
        signature = request.headers["authorization"].split(":", 1)[1]
        if signature.count("/") == slashes:
            return key, request
    raise AssertionError("unreachable")


def reset(endpoint: str) -> int:
    """moto's control API: forget every bucket (moto's state is this process's)."""
    request = urllib.request.Request(f"{endpoint}{MOTO_API_PATH}/reset", method="POST")
    with urllib.request.urlopen(request) as answer:
        return int(answer.status)


@pytest.fixture
def endpoint():
    with moto_s3() as url:
        reset(url)
        oss2.Bucket(AUTH, url, BUCKET, is_path_style=True).create_bucket()
        yield url


def test_a_key_whose_signature_holds_four_slashes_round_trips(endpoint):
    body = b'{"instance_ids": ["i-web-01"]}'
    key, request = signed_put(endpoint, body, slashes=4)
    response = oss2.http.Session().do_request(request, timeout=30)
    assert response.status == 200, response.read()
    assert oss2.Bucket(AUTH, endpoint, BUCKET, is_path_style=True).get_object(key).read() == body


def test_moto_s_control_api_is_served_beside_s3(endpoint):
    bucket = oss2.Bucket(AUTH, endpoint, BUCKET, is_path_style=True)
    bucket.put_object("k", b"v")
    assert reset(endpoint) == 200
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        bucket.get_object("k")
