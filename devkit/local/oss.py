"""A local OSS for local runs: moto's S3-compatible server, seeded with the sample objects.

``deploy_hook`` reads the manifest an OSS event names from the bucket. Locally that bucket is
moto's server (path-style, which oss2 speaks: ``../shared/platform/SDK-NOTES.md``, "oss2
against moto"), on a free loopback port in this process, holding every file under the objects
folder: ``<objects>/<bucket>/<key>``. The sample events' eTags are the MD5 of those files, as
OSS reports them for a simple upload, so a sample event and its object agree.

``moto_s3`` is how every moto S3 server of this repository starts (local runs, tests, benches).
It serves moto's S3 application itself rather than moto's ``ThreadedMotoServer``: that server's
``DomainDispatcherApplication`` picks the backend from the request, and for a signed request it
reads the service out of the ``Authorization`` header as if it were AWS SigV4
(``Credential=<key>/<date>/<region>/<service>/aws4_request``). oss2 signs ``OSS <id>:<base64
HMAC-SHA1>``; when that base64 holds exactly four ``/`` the split "finds" a service named by
signature bytes, and moto answers HTTP 500 "Unable to find appropriate backend" (moto 5.x,
``moto/moto_server/werkzeug_app.py``, ``infer_service_region_host``; non-SigV4 headers there:
https://github.com/getmoto/moto/issues/1192). Routing by path instead (moto's control API under
``/moto-api``, S3 for the rest) takes the signature out of routing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

#: Objects the sample OSS events name, as ``<bucket>/<key>`` under this folder of the repository.
SAMPLE_OBJECTS = Path("events/objects")

# moto accepts any credentials; these only sign the seeding requests.
_SEED_KEY_ID, _SEED_SECRET = "snapstack-local", "snapstack-local-secret"


def objects_in(folder: Path) -> Iterator[tuple[str, str, Path]]:
    """``(bucket, key, file)`` for every file under ``folder`` (``<bucket>/<key...>``), sorted."""
    for bucket in sorted(p for p in folder.iterdir() if p.is_dir()):
        for file in sorted(p for p in bucket.rglob("*") if p.is_file()):
            yield bucket.name, file.relative_to(bucket).as_posix(), file


#: moto's control API (``POST /moto-api/reset`` forgets every bucket) lives under this path.
MOTO_API_PATH = "/moto-api"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def moto_s3_app() -> WsgiApp:
    """moto's S3 application, with moto's control API under ``MOTO_API_PATH``; routed by path only."""
    from moto.moto_server.werkzeug_app import create_backend_app

    s3, control = create_backend_app("s3"), create_backend_app("moto_api")

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        chosen = control if str(environ.get("PATH_INFO", "")).startswith(MOTO_API_PATH) else s3
        return chosen(environ, start_response)

    return app


@contextlib.contextmanager
def moto_s3(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``moto_s3_app()`` on ``host:port`` (0: a free port) in a thread of this process for
    the block; yields the endpoint URL, ``http://host:port`` (path-style).

    Served as moto's ``ThreadedMotoServer`` serves (werkzeug's threaded ``make_server`` with moto's
    request handler, which keeps S3 metadata headers spelled with ``_``), minus the dispatcher
    (module docstring). ``OSError`` when the address cannot be bound.
    """
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    # werkzeug logs one line per request on stderr; a local run's stderr is the function's log.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server(host, port, moto_s3_app(), threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto-s3", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@contextlib.contextmanager
def local_oss(objects: Path | None) -> Iterator[str]:
    """Serve an S3-compatible endpoint holding ``objects`` (may be None: empty); yields its URL.

    The server (``moto_s3``) runs in this process and stops when the block ends.
    """
    import oss2

    with moto_s3() as endpoint:
        auth = oss2.Auth(_SEED_KEY_ID, _SEED_SECRET)
        buckets: dict[str, oss2.Bucket] = {}
        for name, key, file in objects_in(objects) if objects is not None else ():
            if name not in buckets:
                buckets[name] = oss2.Bucket(auth, endpoint, name, is_path_style=True)
                buckets[name].create_bucket()
            buckets[name].put_object(key, file.read_bytes())
        yield endpoint
