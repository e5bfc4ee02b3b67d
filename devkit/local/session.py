"""Where a local run's ECS calls go: a given endpoint, or an in-process emulator."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from devkit.local.runner import Target
from devkit.local.template import Template, load_template

if TYPE_CHECKING:
    from devkit.emulator.testing import EcsEmulator

DEFAULT_TEMPLATE = Path("template.yml")
HANDLER_MODULES = {
    "timer": "snapstack.handlers.scheduled",
    "oss": "snapstack.handlers.deploy",
    "alarm": "snapstack.handlers.alarm",
}


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every local command shares."""
    parser.add_argument(
        "--template", type=Path, default=DEFAULT_TEMPLATE, help="stack template (template.yml)"
    )
    parser.add_argument("--endpoint", help="ECS endpoint host:port; default: start the emulator in-process")
    parser.add_argument("--access-key-id", default=None, help="with --endpoint")
    parser.add_argument("--access-key-secret", default=None, help="with --endpoint")
    parser.add_argument(
        "--fleet", type=Path, default=None, help="emulator fleet JSON (default: the sample fleet)"
    )
    parser.add_argument(
        "--token-table", default=None, help="token table URL (default: sqlite:///.snapstack/tokens.db)"
    )


@contextlib.contextmanager
def target_from(args: argparse.Namespace) -> Iterator[tuple[Template, Target, EcsEmulator | None]]:
    """The template, the ECS target, and the emulator when one was started here."""
    template = load_template(args.template)
    if getattr(args, "oss_endpoint", None):
        os.environ["SNAPSTACK_OSS_ENDPOINT"] = args.oss_endpoint
        os.environ["SNAPSTACK_OSS_PATH_STYLE"] = "true"
    if args.endpoint:
        yield template, Target(args.endpoint, args.access_key_id or "", args.access_key_secret or ""), None
        return
    from devkit.emulator.testing import EcsEmulator

    with EcsEmulator(fleet=args.fleet) as emulator:
        creds = emulator.credentials
        yield (
            template,
            Target(emulator.endpoint, creds.access_key_id, creds.access_key_secret, creds.security_token),
            emulator,
        )
