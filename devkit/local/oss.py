"""A local OSS for local runs: moto's S3-compatible server, seeded with the sample objects.

``deploy_hook`` reads the manifest an OSS event names from the bucket. Locally that bucket is
moto's server (path-style, which oss2 speaks: ``../shared/platform/SDK-NOTES.md``, "oss2
against moto"), on a free loopback port in this process, holding every file under the objects
folder: ``<objects>/<bucket>/<key>``. The sample events' eTags are the MD5 of those files, as
OSS reports them for a simple upload, so a sample event and its object agree.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

#: Objects the sample OSS events name, as ``<bucket>/<key>`` under this folder of the repository.
SAMPLE_OBJECTS = Path("events/objects")

# moto accepts any credentials; these only sign the seeding requests.
_SEED_KEY_ID, _SEED_SECRET = "snapstack-local", "snapstack-local-secret"


def objects_in(folder: Path) -> Iterator[tuple[str, str, Path]]:
    """``(bucket, key, file)`` for every file under ``folder`` (``<bucket>/<key...>``), sorted."""
    for bucket in sorted(p for p in folder.iterdir() if p.is_dir()):
        for file in sorted(p for p in bucket.rglob("*") if p.is_file()):
            yield bucket.name, file.relative_to(bucket).as_posix(), file


@contextlib.contextmanager
def local_oss(objects: Path | None) -> Iterator[str]:
    """Serve an S3-compatible endpoint holding ``objects`` (may be None: empty); yields its URL.

    The server runs in this process and stops when the block ends.
    """
    import oss2
    from moto.server import ThreadedMotoServer

    # werkzeug logs one line per request on stderr; a local run's stderr is the function's log.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        auth = oss2.Auth(_SEED_KEY_ID, _SEED_SECRET)
        buckets: dict[str, oss2.Bucket] = {}
        for name, key, file in objects_in(objects) if objects is not None else ():
            if name not in buckets:
                buckets[name] = oss2.Bucket(auth, endpoint, name, is_path_style=True)
                buckets[name].create_bucket()
            buckets[name].put_object(key, file.read_bytes())
        yield endpoint
    finally:
        server.stop()
