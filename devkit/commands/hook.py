"""``snapstack hook``: ask deploy_hook, through FC's async invoke, to snapshot a release's disks.

    snapstack hook --service S --function F (--instance ID | --disk ID | --tag K=V)... \\
                   --reason TEXT --deploy-id ID [--wait] [--json]

What it asked for and the invocation id go to stdout (with ``--json``: one JSON object at the end,
nothing else); progress and errors go to stderr. Exit codes: ``devkit/exitcodes.py``; the
``--wait`` verdicts: ``devkit/hook/wait.py``. Heavy imports stay inside ``run``: a CI job pays only
for what this command uses.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from devkit import exitcodes

DEFAULT_WAIT_TIMEOUT = 1800.0  # deploy_hook's 300 s timeout, times FC's 1 + 3 async attempts, and slack
DEFAULT_POLL_INTERVAL = 2.0


def register(subparsers: Any) -> None:
    """Add ``hook`` to the ``snapstack`` command."""
    parser = subparsers.add_parser(
        "hook",
        help="snapshot a release's disks through deploy_hook (FC async invoke, once per deploy)",
        description="Invoke deploy_hook asynchronously with a stateful invocation id derived from the "
        "deploy id and the targets, so a re-run CI job never submits twice.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The hook's options."""
    what = parser.add_argument_group("what to snapshot")
    what.add_argument("--service", required=True, help="FC service of the stack (e.g. snapstack)")
    what.add_argument("--function", required=True, help="the deploy hook function (e.g. deploy_hook)")
    what.add_argument("--qualifier", help="service version or alias (default: LATEST)")
    what.add_argument(
        "--instance", action="append", default=[], metavar="ID", help="an ECS instance (repeat)"
    )
    what.add_argument("--disk", action="append", default=[], metavar="ID", help="an ECS disk (repeat)")
    what.add_argument("--tag", action="append", default=[], metavar="K=V", help="disks tagged K=V (repeat)")
    what.add_argument("--reason", required=True, help="why (goes into the snapshot description)")
    what.add_argument("--deploy-id", required=True, help="the release: one snapshot per disk per deploy id")
    what.add_argument("--invocation-id", help="use this stateful invocation id instead of the derived one")
    where = parser.add_argument_group("where FC is")
    where.add_argument(
        "--endpoint",
        default=os.environ.get("SNAPSTACK_FC_ENDPOINT"),
        help="FC endpoint URL (env SNAPSTACK_FC_ENDPOINT)",
    )
    where.add_argument(
        "--account-id",
        default=os.environ.get("ALIBABA_CLOUD_ACCOUNT_ID"),
        help="for https://<account>.<region>.fc.aliyuncs.com",
    )
    where.add_argument("--region", default=os.environ.get("ALIBABA_CLOUD_REGION_ID"), help="e.g. cn-hangzhou")
    where.add_argument(
        "--internal", action="store_true", help="the <region>-internal endpoint (from the VPC)"
    )
    where.add_argument(
        "--profile", help="an aliyun CLI profile (default: ALIBABA_CLOUD_* variables, then the chain)"
    )
    where.add_argument("--timeout", type=float, default=60.0, help="seconds per HTTP request (default 60)")
    where.add_argument(
        "--connect-retries", type=int, help="connection retries per request (default: aliyun-fc2's 5, ~30 s)"
    )
    after = parser.add_argument_group("after submitting")
    after.add_argument(
        "--wait", action="store_true", help="poll the invocation until it ends; print its summary"
    )
    after.add_argument(
        "--wait-timeout", type=float, default=DEFAULT_WAIT_TIMEOUT, help="seconds (default 1800)"
    )
    after.add_argument(
        "--poll-interval", type=float, default=DEFAULT_POLL_INTERVAL, help="seconds (default 2)"
    )
    after.add_argument("--json", action="store_true", help="print one machine-readable JSON result on stdout")


def run(args: argparse.Namespace) -> int:
    """Submit (and with ``--wait``, follow) one deploy's snapshot request; returns the exit code."""
    from devkit.hook.errors import HookError
    from devkit.hook.request import UsageError, build_request, check_invocation_id

    # fc2 logs every error answer on the root logger, request headers (signature) included; the
    # hook reports each failure itself in one line, so nothing reaches Python's last-resort handler.
    logging.getLogger().addHandler(logging.NullHandler())
    result: dict[str, Any] = {"service": args.service, "function": args.function, "qualifier": args.qualifier}
    try:
        request = build_request(
            args.deploy_id, args.reason, instances=args.instance, disks=args.disk, tags=args.tag
        )
        invocation_id = (
            check_invocation_id(args.invocation_id) if args.invocation_id else request.invocation_id()
        )
    except UsageError as exc:
        return _finish(args, result, exitcodes.USAGE, error={"kind": "usage", "message": str(exc)})
    result.update(payload=request.payload(), invocation_id=invocation_id)
    try:
        return _submit_and_wait(args, result, request.body(), invocation_id)
    except HookError as err:
        return _finish(args, result, err.exit_code, error=err.to_dict(), line=err.line())


def _submit_and_wait(
    args: argparse.Namespace, result: dict[str, Any], body: bytes, invocation_id: str
) -> int:
    from devkit.hook.client import FcHook, caller_credentials, fc_endpoint

    endpoint = fc_endpoint(args.endpoint, args.account_id, args.region, internal=args.internal)
    result["endpoint"] = endpoint
    if not args.json:
        _say(_asked(args, result))
    hook = FcHook(
        endpoint, caller_credentials(args.profile), timeout=args.timeout, connect_retries=args.connect_retries
    )
    submission = hook.submit(args.service, args.function, args.qualifier, body, invocation_id)
    result.update(already_submitted=submission.already_submitted, request_id=submission.request_id)
    if not args.json:
        if submission.already_submitted:
            _say(
                f"already submitted: FC has invocation {invocation_id} ({submission.code or 'duplicate id'})"
            )
        else:
            _say(f"submitted (request id {submission.request_id})")
    if not args.wait:
        return _finish(args, result, exitcodes.OK)
    from devkit.hook.wait import judge, poll

    record = poll(
        hook,
        (args.service, args.function, args.qualifier),
        invocation_id,
        timeout=args.wait_timeout,
        interval=args.poll_interval,
        progress=lambda note: print(f"waiting for {invocation_id}: {note}", file=sys.stderr, flush=True),
    )
    if record is None:
        message = f"still not finished after {args.wait_timeout:g} s; it goes on in FC"
        return _finish(args, result, exitcodes.INCOMPLETE, error={"kind": "wait_timeout", "message": message})
    verdict = judge(record)
    result.update(status=record.get("status"), verdict=verdict.headline, summary=verdict.summary)
    if not args.json:
        _say(_report(verdict.headline, verdict.summary))
    return _finish(args, result, verdict.exit_code)


def _asked(args: argparse.Namespace, result: dict[str, Any]) -> str:
    payload = result["payload"]
    rows = [
        ("deploy id", payload["deploy_id"]),
        ("reason", payload["reason"] or "-"),
        ("instances", ", ".join(payload.get("instance_ids", [])) or "-"),
        ("disks", ", ".join(payload.get("disk_ids", [])) or "-"),
        ("disk tags", ", ".join(f"{k}={v}" for k, v in payload.get("disk_tags", {}).items()) or "-"),
        ("invocation id", result["invocation_id"]),
    ]
    head = f"{args.function} (service {args.service}, {args.qualifier or 'LATEST'}) at {result['endpoint']}"
    return "\n".join([head, *(f"  {k:<14} {v}" for k, v in rows)])


def _report(headline: str, summary: dict[str, Any] | None) -> str:
    if summary is None or not summary.get("disks"):
        return headline
    from devkit.local.output import counts_line, table

    return f"{headline}: {counts_line(summary)}\n{table(summary)}"


def _say(text: str) -> None:
    print(text, flush=True)


def _finish(
    args: argparse.Namespace,
    result: dict[str, Any],
    code: int,
    *,
    error: dict[str, Any] | None = None,
    line: str | None = None,
) -> int:
    if error is not None:
        print(
            f"snapstack hook: {line or error['kind'] + ': ' + error['message']}", file=sys.stderr, flush=True
        )
    if args.json:
        print(
            json.dumps({**result, "error": error, "exit_code": code}, indent=2, ensure_ascii=False),
            flush=True,
        )
    return code
