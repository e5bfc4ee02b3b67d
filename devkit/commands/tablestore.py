"""``snapstack tablestore start``: run the Tablestore emulator in the foreground."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType
from typing import Any

from devkit import exitcodes
from devkit.local.errors import UsageError


def register(subparsers: Any) -> None:
    """Add ``tablestore`` and its ``start`` sub-command."""
    parser = subparsers.add_parser("tablestore", help="a local Tablestore (OTS) emulator")
    commands = parser.add_subparsers(dest="tablestore_command", required=True)
    start = commands.add_parser("start", help="serve the emulator until interrupted (Ctrl-C)")
    start.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    start.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    start.add_argument("--instance", default=None, help="instance name (default: snapstack)")
    start.add_argument("--access-key-id", default=None, help="AccessKey ID clients must sign with")
    start.add_argument("--access-key-secret", default=None, help="AccessKey secret clients must sign with")
    start.add_argument("--verbose", action="store_true", help="log every request")
    start.set_defaults(func=_start)


def _start(args: argparse.Namespace) -> int:
    # The SDK warns at import that its native codecs do not fit this Python; nothing to act on here.
    logging.getLogger("tablestore").setLevel(logging.ERROR)
    # Imported here: the emulator pulls in the SDK, slow to import, and only this command needs it.
    from devkit.tablestore import server

    emulator = server.TablestoreEmulator(
        host=args.host,
        port=args.port,
        instance=args.instance or server.DEFAULT_INSTANCE,
        access_key_id=args.access_key_id or server.DEFAULT_ACCESS_KEY_ID,
        access_key_secret=args.access_key_secret or server.DEFAULT_ACCESS_KEY_SECRET,
        verbose=args.verbose,
    )
    try:
        emulator.start()  # binds: a port in use is a usage mistake, said in one line
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {args.host}:{args.port} ({exc.strerror}): give another --port"
        ) from None
    stopped = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    with emulator:
        print(f"Tablestore emulator listening on {emulator.endpoint}")
        print(f"  instance:          {emulator.instance}")
        print(f"  access key id:     {emulator.access_key_id}")
        print(f"  access key secret: {emulator.access_key_secret}")
        print(f"  token table URL:   tablestore://{emulator.instance}/TABLE?endpoint={emulator.endpoint}")
        print(f"export ALIBABA_CLOUD_ACCESS_KEY_ID={emulator.access_key_id}")
        print(f"export ALIBABA_CLOUD_ACCESS_KEY_SECRET={emulator.access_key_secret}")
        print("Ctrl-C stops it.", flush=True)
        while not stopped.wait(1.0):
            pass
    return exitcodes.OK
