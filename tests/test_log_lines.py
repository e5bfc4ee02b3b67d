"""The process logger's handler: whole JSON lines from many threads, and a record it cannot format."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
from pathlib import Path

from snapstack.observability import get_logger


def test_lines_from_many_threads_never_interleave(tmp_path: Path) -> None:
    # Formatting happens outside the handler's lock (workers queued behind it); the write does not.
    logger = get_logger()
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        start.wait()
        for k in range(200):
            logger.info("snapshot decision", extra={"disk_id": f"d-{n}-{k}", "pad": "x" * 2000})

    with (tmp_path / "stdout").open("w") as out, contextlib.redirect_stdout(out):
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    lines = (tmp_path / "stdout").read_text().splitlines()
    assert sorted(json.loads(line)["disk_id"] for line in lines) == sorted(
        f"d-{n}-{k}" for n in range(8) for k in range(200)
    )


def test_a_record_that_cannot_be_formatted_is_reported_not_raised() -> None:
    # As StreamHandler.emit does: logging's own "--- Logging error ---" report on stderr, no line.
    handler = get_logger().registered_handler
    record = logging.LogRecord("snapstack", logging.INFO, __file__, 1, "%d", ("not a number",), None)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert handler.handle(record) is True
    assert out.getvalue() == ""
    assert "--- Logging error ---" in err.getvalue() and "%d format" in err.getvalue()
