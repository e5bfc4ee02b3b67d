"""``snapstack emulator start``: the ECS emulator in the foreground (Ctrl-C or SIGTERM stops it)."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
from typing import Any

from devkit import exitcodes
from snapstack.collector import tuned_collector


def register(subparsers: Any) -> None:
    """Add ``emulator start`` to the ``snapstack`` command."""
    parser = subparsers.add_parser("emulator", help="the local ECS emulator (devkit/emulator)")
    commands = parser.add_subparsers(dest="emulator_command", required=True)
    start = commands.add_parser("start", help="serve the ECS emulator in the foreground until Ctrl-C")
    start.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    start.add_argument("--port", type=int, default=0, help="port to bind (default: any free port)")
    start.add_argument("--fleet", help="fleet fixture JSON (default: the sample fleet)")
    start.add_argument("--faults", help="faults configuration, JSON or YAML (default: none)")
    start.add_argument(
        "--clock-rate",
        type=float,
        help="virtual seconds per real second (default: the fleet's; the sample fleet's clock is frozen)",
    )
    start.add_argument(
        "--token-errors",
        choices=("remember", "release"),
        help="a ClientToken whose first CreateSnapshot was refused: answer repeats with that error "
        "(remember, as ECS documents; the default) or evaluate them afresh (release)",
    )
    start.add_argument("--verbose", action="store_true", help="log one line per RPC request")
    start.set_defaults(func=start_emulator)


def start_emulator(args: argparse.Namespace) -> int:
    """Serve until interrupted; prints the endpoint and the credentials to use."""
    from devkit.emulator.fleet import load_fleet
    from devkit.emulator.server import EmulatorApp, EmulatorServer
    from devkit.emulator.testing import load_faults

    try:
        fleet = load_fleet(args.fleet)
        if args.clock_rate is not None:
            fleet["clock"] = {**(fleet.get("clock") or {}), "rate": args.clock_rate}
        if args.token_errors is not None:
            fleet["token_errors"] = args.token_errors
        app = EmulatorApp(fleet, load_faults(args.faults))
        _check_bindable(args.host, args.port)  # werkzeug would print two lines and exit on its own
        server = EmulatorServer(app, args.host, args.port)
    except (OSError, ValueError) as exc:
        print(f"snapstack emulator: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    plain, sts = app.credentials[0], next((c for c in app.credentials if c.security_token), None)
    lines = [
        f"ECS emulator on http://{server.endpoint}  (Ctrl-C stops)",
        f"  endpoint           {server.endpoint}   Config(endpoint=..., protocol='http')",
        f"  region             {app.state.region_id}",
        f"  token errors       {app.state.token_errors}",
        f"  access key id      {plain.access_key_id}",
        f"  access key secret  {plain.access_key_secret}",
    ]
    if sts is not None:
        lines.append(
            f"  STS triple         {sts.access_key_id} / {sts.access_key_secret} / {sts.security_token}"
        )
    lines.append(f"  control API        http://{server.endpoint}/_emulator/state")
    stopped = threading.Event()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, or a supervisor's stop
        signal.signal(stop_signal, lambda signum, frame: stopped.set())
    server.start()
    try:
        print("\n".join(lines), flush=True)
        # The fleet and every snapshot are long-lived: with CPython's default collector, full
        # collections walked them all and paused every request 100-500 ms at 50,000 disks (a
        # real region does not); the fan-out's settings apply (snapstack/collector.py).
        with tuned_collector():
            while not stopped.wait(1.0):
                pass
    finally:
        server.stop()
    print("ECS emulator stopped", flush=True)
    return exitcodes.OK


def _check_bindable(host: str, port: int) -> None:
    """Raise ``OSError`` naming the address when ``host:port`` cannot be bound (e.g. in use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port} ({exc.strerror}): give another --port") from None
