"""A warm local-invocation process for the duplicate storm: ``python -m tests.reliability.worker``.

It imports everything an invocation needs, then prints ``{"ready": true, ...}``. Each line it
then reads on stdin is a job: run one function of template.yml through
``devkit.local.runner.invoke`` (what ``snapstack local invoke`` runs) and print one line
``{"summary", "incomplete", "error", "seconds"}``. The handler's own output (JSON logs, EMF
metrics) goes to the job's ``log`` file, so stdout carries nothing but these lines. EOF ends it.

Job keys: function, event (a file), endpoint, access_key_id, access_key_secret, security_token,
token_table, log.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[2]


def _send(out: TextIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def main() -> int:
    """Serve jobs until stdin closes."""
    started = time.monotonic()
    from devkit.local.runner import Target, invoke, load_handler
    from devkit.local.template import load_template

    template = load_template(ROOT / "template.yml")
    # What the first invocation would import (handler, ECS SDK, token tables, metrics): done
    # before "ready", so released workers start their runs together.
    load_handler(template.function("scheduled_backup"))
    for module in (
        "alibabacloud_ecs20140526.client",
        "alibabacloud_tea_openapi.utils_models",
        "aws_lambda_powertools.metrics",
        "snapstack.tokens.redis",
        "snapstack.tokens.sqlite",
    ):
        importlib.import_module(module)

    out = sys.stdout
    _send(out, {"ready": True, "pid": os.getpid(), "import_seconds": round(time.monotonic() - started, 3)})
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        target = Target(
            job["endpoint"], job["access_key_id"], job["access_key_secret"], job.get("security_token")
        )
        event = Path(job["event"]).read_bytes()
        began = time.monotonic()
        with open(job["log"], "a", encoding="utf-8") as log, contextlib.redirect_stdout(log):
            result = invoke(template, job["function"], event, target, token_table=job["token_table"])
        _send(
            out,
            {
                "summary": result.summary,
                "incomplete": result.incomplete,
                "error": result.error,
                "seconds": round(time.monotonic() - began, 3),
            },
        )
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip interpreter teardown: 32 of them at once cost seconds, and nothing is left to flush
