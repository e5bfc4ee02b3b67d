"""What local commands print: results on stdout; the function's log, progress and notes on stderr.

On FC a function's log lines and EMF metrics go to stdout, which FC ships to SLS. Locally,
as SAM CLI does (``sam local invoke ... 2>err.log 1>out.log`` leaves only the response in
out.log: https://github.com/aws/aws-sam-cli/issues/1081), they go to stderr so that stdout
holds only the command's result (a table, or JSON with ``--json``) and can be piped:
``FunctionLog`` is the stdout a local invocation writes to. It forwards each line to stderr
when its level is shown, and counts the per-disk decision lines for the progress line (tqdm,
on stderr; ``disable=None`` turns it off when stderr is not a terminal:
https://tqdm.github.io/docs/tqdm/).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any, TextIO, TypeVar

from devkit import exitcodes

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
QUIET = logging.CRITICAL + 1  # a threshold no log line reaches

T = TypeVar("T")


def counts_line(summary: dict[str, Any]) -> str:
    """``7 created, 1 failed`` — the non-zero outcomes, in the runtime's ``Outcome`` order."""
    from snapstack.execute import Outcome

    parts = [f"{summary[o.value]} {o.value.replace('_', ' ')}" for o in Outcome if summary.get(o.value)]
    return ", ".join(parts) or "nothing to do"


def policies(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """prune's per-policy results (``snapstack.handlers.prune.describe``); none for a backup function."""
    return [p for p in summary.get("policies") or [] if isinstance(p, dict)]


def policy_line(policy: dict[str, Any]) -> str:
    """``policy daily (dry_run): 3 disk(s), 12 snapshot(s): kept 9, deleted 0, dry run 3`` for prune."""
    counts = ", ".join(
        f"{k.replace('_', ' ')} {policy.get(k, 0)}" for k in ("kept", "deleted", "gone", "failed", "dry_run")
    )
    reasons = [policy[k] for k in ("dry_run_reason", "breaker_reason", "error_code") if policy.get(k)]
    why = f" ({'; '.join(map(str, reasons))})" if reasons else ""
    head = f"policy {policy.get('policy')} ({policy.get('mode')}): {policy.get('disks', 0)} disk(s), "
    return f"{head}{policy.get('snapshots', 0)} snapshot(s): {counts}{why}"


def aligned(rows: Sequence[Sequence[str]], *, rule: bool = True) -> str:
    """Rows as left-aligned columns; the first row is the header (underlined when ``rule``)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    if rule:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table(summary: dict[str, Any]) -> str:
    """One row per disk: disk, outcome, snapshot, error code."""
    rows = [("disk", "outcome", "snapshot", "error")]
    for d in summary.get("disks", []):
        rows.append((d["disk_id"], d["outcome"], d.get("snapshot_id", ""), d.get("error_code", "")))
    return aligned(rows)


def legend(summary: dict[str, Any]) -> str:
    """Why each ECS error code in the summary ended as it did, from the taxonomy."""
    from snapstack.ecs.errors import ERRORS, classify

    codes = sorted({d["error_code"] for d in summary.get("disks", []) if d.get("error_code") in ERRORS})
    return "\n".join(
        f"  {code}: {classify(code).disposition.value} - {classify(code).reason}" for code in codes
    )


def bad_input_line(summary: dict[str, Any]) -> str:
    """``bad input, nothing was done: <source> <field>: <rule>`` for a bad-input summary."""
    error = summary.get("error") or {}
    where = " ".join(str(error[k]) for k in ("source", "field") if error.get(k))
    return f"bad input, nothing was done: {where}: {error.get('rule') or error.get('error') or error}"


def exit_code(summary: dict[str, Any]) -> int:
    """The exit code of a run with this summary (``devkit/exitcodes.py``).

    Bad input: ``BAD_INPUT``. Any disk failed, or (prune) a deletion failed or the breaker
    tripped: ``FAILED`` (even when others are unfinished: a rerun finishes those, but a failure
    needs someone to look). Disks deferred or in progress
    elsewhere: ``INCOMPLETE``. Otherwise (created, deduplicated, skipped, denied): ``OK``.
    """
    if not summary.get("ok"):
        return exitcodes.BAD_INPUT
    if summary.get("failed") or any(p.get("failed") or p.get("breaker_reason") for p in policies(summary)):
        return exitcodes.FAILED
    if summary.get("deferred") or summary.get("in_progress"):
        return exitcodes.INCOMPLETE
    return exitcodes.OK


def level_number(name: str) -> int:
    """``"INFO"`` -> ``logging.INFO``; an unknown name reads as INFO."""
    value = logging.getLevelName(name.upper())
    return value if isinstance(value, int) else logging.INFO


def progress_bar(desc: str, total: int | None, stream: TextIO, unit: str = " disk") -> Any:
    """A tqdm progress line on ``stream``, disabled unless it is a terminal (tqdm's ``disable=None``)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=stream, disable=None, leave=False)


def with_progress(items: Sequence[T], desc: str, stream: TextIO | None = None) -> Iterator[T]:
    """Iterate ``items`` with a progress line on ``stream`` (default: stderr) when it is a terminal."""
    bar = progress_bar(desc, len(items), stream or sys.stderr)
    try:
        for item in items:
            yield item
            bar.update(1)
    finally:
        bar.close()


class FunctionLog(io.TextIOBase):
    """The stdout of a local invocation: log lines at or above ``threshold`` go on to ``sink``.

    A line is a log record when it is a JSON object with a ``level``; EMF metrics (``_aws``)
    and plain text count as INFO. A record with ``disk_id`` and ``outcome`` (one per disk,
    README "How one invocation runs") advances ``bar``. Thread-safe: the function's workers
    write at once.
    """

    def __init__(self, sink: TextIO, threshold: int, bar: Any = None) -> None:
        super().__init__()
        self._sink, self._threshold, self._bar = sink, threshold, bar
        self._pending = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        """Always: this is an output stream."""
        return True

    def write(self, text: str) -> int:
        """Buffer ``text`` and handle each complete line."""
        with self._lock:
            *lines, self._pending = (self._pending + text).split("\n")
            for line in lines:
                self._line(line)
        return len(text)

    def flush(self) -> None:
        """Flush the sink (a partial line waits for its end)."""
        with self._lock:
            self._sink.flush()

    def _line(self, line: str) -> None:
        record = _json_object(line)
        level = logging.INFO
        if record is not None:
            if self._bar is not None and "disk_id" in record and "outcome" in record:
                self._bar.update(1)
            if isinstance(record.get("level"), str):
                level = level_number(record["level"])
        if level < self._threshold:
            return
        if self._bar is not None and not self._bar.disable:
            self._bar.write(line, file=self._sink)  # clears the progress line, writes, redraws it
        else:
            self._sink.write(line + "\n")


def _json_object(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@contextlib.contextmanager
def function_output(threshold: int, progress: str | None = None, unit: str = " disk") -> Iterator[None]:
    """Route what the function writes to stdout through ``FunctionLog`` to stderr for the block.

    ``progress`` names the progress line, counting the records that carry ``disk_id`` and
    ``outcome`` (disks decided; for prune, snapshot deletions: ``unit``); None shows none. The
    library's log handler writes to whatever ``sys.stdout`` is at the time, so redirecting
    it here is enough; on FC nothing changes.
    """
    sink = sys.stderr
    bar = progress_bar(progress, None, sink, unit) if progress else None
    stream = FunctionLog(sink, threshold, bar)
    try:
        with contextlib.redirect_stdout(stream):
            yield
    finally:
        if bar is not None:
            bar.close()
        sink.flush()


def print_json(value: Any, stream: TextIO | None = None) -> None:
    """``value`` as indented JSON on stdout: the whole of a ``--json`` command's output."""
    print(json.dumps(value, indent=2), file=stream or sys.stdout)
