"""FC entry point: timer trigger -> snapstack.handlers.reconciler (the library does the work)."""

from pathlib import Path

from snapstack.handlers import reconciler

HERE = Path(__file__).resolve().parent


def handler(event, context):
    """Re-drive open slots until done or past their deadline; check every policy's RPO."""
    return reconciler.handle(event, context, HERE)
