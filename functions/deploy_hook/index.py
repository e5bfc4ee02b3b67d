"""FC entry point: OSS object event -> snapstack.handlers.deploy (the library does the work)."""

from pathlib import Path

from snapstack.handlers import deploy

HERE = Path(__file__).resolve().parent


def handler(event, context):
    """Snapshot the disks a deploy names (key rules or manifest), within the allow-list."""
    return deploy.handle(event, context, HERE)
