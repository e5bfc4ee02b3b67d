"""FC entry point: timer trigger -> snapstack.handlers.scheduled (the library does the work)."""

from pathlib import Path

from snapstack.handlers import scheduled

HERE = Path(__file__).resolve().parent


def handler(event, context):
    """Snapshot the timer's policy's disks, once per schedule slot."""
    return scheduled.handle(event, context, HERE)
