"""FC entry point: timer trigger -> snapstack.handlers.prune (the library does the work)."""

from pathlib import Path

from snapstack.handlers import prune

HERE = Path(__file__).resolve().parent


def handler(event, context):
    """Prune the configured policies' own snapshots by their retention rules."""
    return prune.handle(event, context, HERE)
