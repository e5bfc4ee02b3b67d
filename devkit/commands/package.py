"""``snapstack package``: build the function zips, upload them to OSS, write packaged-template.yml.

Like ``aws cloudformation package``: each zip goes to ``--bucket`` under ``--prefix`` and a name
holding its content hash (a new build is a new object, so an UpdateStack picks the new code up;
an unchanged build uploads nothing), and the template is written again with every function's
``Code`` pointing at its object. Credentials and region: ``ALIBABA_CLOUD_*`` (see
``devkit/ros/client.py``); ``--endpoint`` (or ``SNAPSTACK_OSS_ENDPOINT``) overrides
``https://oss-<region>.aliyuncs.com``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from devkit import exitcodes


def register(subparsers: Any) -> None:
    """Add ``package``."""
    parser = subparsers.add_parser(
        "package", help="build the function zips, upload them, write packaged-template.yml"
    )
    parser.add_argument("--bucket", required=True, help="OSS bucket for the zips (created if missing)")
    parser.add_argument("--prefix", default="", help="object name prefix, e.g. snapstack/ (default: none)")
    parser.add_argument("--template", type=Path, default=Path("template.yml"))
    parser.add_argument("--output", type=Path, default=Path("packaged-template.yml"))
    parser.add_argument("--dist", type=Path, default=Path("dist"), help="where the zips are built")
    parser.add_argument("--region", default=None, help="default: $ALIBABA_CLOUD_REGION_ID")
    parser.add_argument("--endpoint", default=None, help="OSS endpoint (default: the region's public one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build, upload, write the packaged template."""
    import oss2

    from devkit.package import PackageError, build, packaged_template, size_line, upload
    from devkit.ros.client import Account, DeployError

    if not args.template.is_file():
        print(f"snapstack package: no template at {args.template}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        account = Account.from_env(args.region)
    except DeployError as exc:
        print(f"snapstack package: {exc.message}", file=sys.stderr)
        return exitcodes.USAGE
    endpoint = (
        args.endpoint
        or os.environ.get("SNAPSTACK_OSS_ENDPOINT")
        or f"https://oss-{account.region}.aliyuncs.com"
    )
    auth = (
        oss2.StsAuth(account.access_key_id, account.access_key_secret, account.security_token)
        if account.security_token
        else oss2.Auth(account.access_key_id, account.access_key_secret)
    )
    try:
        artifacts = build(args.dist)
        placed = upload(artifacts, oss2.Bucket(auth, endpoint, args.bucket), args.prefix)
    except PackageError as exc:
        print(f"snapstack package: {exc}", file=sys.stderr)
        return exitcodes.TOOL_ERROR
    except (oss2.exceptions.OssError, oss2.exceptions.RequestError) as exc:
        detail = getattr(exc, "message", "") or str(exc)
        print(f"snapstack package: OSS {getattr(exc, 'code', '')} {detail}".rstrip(), file=sys.stderr)
        return exitcodes.TOOL_ERROR
    doc = packaged_template(args.template, args.bucket, {f: key for f, (key, _) in placed.items()})
    args.output.write_text(yaml.safe_dump(doc, sort_keys=False, width=110), encoding="utf-8")
    for artifact in artifacts:
        key, uploaded = placed[artifact.function]
        state = "uploaded" if uploaded else "unchanged"
        print(f"{size_line(artifact)}  {state} oss://{args.bucket}/{key}")
    print(f"wrote {args.output}")
    return exitcodes.OK
