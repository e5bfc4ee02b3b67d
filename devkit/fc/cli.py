"""``snapstack local start-fc``: the local FC endpoint in the foreground (Ctrl-C stops it).

It serves template.yml's functions over FC 2.0's invoke API, signed as aliyun-fc2 signs; their ECS
calls go to ``--endpoint`` or to an ECS emulator started in-process with the sample fleet, their
token table is ``--token-table`` (default ``sqlite:///.snapstack/tokens.db``), as for
``snapstack local invoke``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devkit.emulator.responses import Credential


def add_start_fc(verbs: Any) -> None:
    """Add ``start-fc`` to ``snapstack local``."""
    from devkit.local.session import add_target_arguments

    start = verbs.add_parser(
        "start-fc", help="serve template.yml's functions over FC's invoke API (foreground)"
    )
    start.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    start.add_argument("--port", type=int, default=0, help="port to bind (default: any free port)")
    start.add_argument(
        "--caller-key",
        action="append",
        default=[],
        metavar="ID:SECRET[:TOKEN]",
        help="a key FC callers may sign with (repeat; default: the built-in pair and STS triple)",
    )
    start.add_argument(
        "--async-retries", type=int, default=3, help="retries of a failed async invocation (FC's default: 3)"
    )
    start.add_argument("--retry-delay", type=float, default=1.0, help="seconds between async retries")
    start.add_argument("--workers", type=int, default=4, help="async invocations run at once")
    start.add_argument("--verbose", action="store_true", help="log one line per request (stderr)")
    add_target_arguments(start)
    start.set_defaults(func=start_fc)


def parse_access_key(text: str) -> Credential:
    """``ID:SECRET`` or ``ID:SECRET:TOKEN``."""
    from devkit.emulator.responses import Credential

    parts = text.split(":", 2)
    if len(parts) < 2 or not all(parts[:2]):
        raise ValueError(f"--caller-key {text!r}: expected ID:SECRET or ID:SECRET:TOKEN")
    return Credential(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def start_fc(args: argparse.Namespace) -> int:
    """Serve until interrupted; prints the endpoint, the keys and the service it serves."""
    from devkit import exitcodes
    from devkit.emulator.server import EmulatorServer
    from devkit.fc.execution import RunSettings
    from devkit.fc.server import DEFAULT_CREDENTIALS
    from devkit.fc.testing import build_app
    from devkit.local.session import target_from
    from devkit.local.template import TemplateError

    try:
        keys = tuple(parse_access_key(k) for k in args.caller_key) or DEFAULT_CREDENTIALS
        with target_from(args) as (template, target, _):
            settings = RunSettings(args.token_table, args.async_retries, args.retry_delay, args.workers)
            app = build_app(template, target, settings, keys)
            server = EmulatorServer(app, args.host, args.port)
            if args.verbose:
                logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
            _banner(server, app, target.endpoint)
            try:
                server.serve_forever()
            finally:
                app.host.close()
    except (OSError, ValueError, TemplateError) as exc:
        print(f"snapstack local start-fc: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    print("FC endpoint stopped", flush=True)
    return exitcodes.OK


def _banner(server: Any, app: Any, ecs_endpoint: str) -> None:
    plain = app.credentials[0]
    lines = [
        f"FC endpoint on {server.url}  (Ctrl-C stops)",
        f"  service            {app.state.service} (qualifier LATEST)",
        f"  functions          {', '.join(sorted(app.state.functions))}",
        f"  access key id      {plain.access_key_id}",
        f"  access key secret  {plain.access_key_secret}",
        f"  ECS endpoint       {ecs_endpoint}",
        f"  control API        {server.url}/_fc/invocations",
    ]
    print("\n".join(lines), flush=True)
