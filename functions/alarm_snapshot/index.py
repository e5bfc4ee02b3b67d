"""FC entry point: alarm / ECS event -> snapstack.handlers.alarm (the library does the work)."""

from pathlib import Path

from snapstack.handlers import alarm

HERE = Path(__file__).resolve().parent


def handler(event, context):
    """Snapshot the disks an alarm names, once per cooldown window, within the allow-list."""
    return alarm.handle(event, context, HERE)
