"""Run one FC invocation the way FC's python3.10 runtime does, inside FC's image environment.

Executed by the image environment's interpreter (``.snapstack/fc-python310``) with the unzipped
function as the working directory and first on ``PYTHONPATH`` (FC's code directory); imports
nothing of devkit or tests, which the deployed function never has. Reads one JSON request on
stdin ``{"handler": "index.handler", "event": "<base64>", "context": {...}}`` and prints one line
``RESULT <json>`` after whatever the function logged: ``{"summary": ..., "error": ..., "modules":
{name: (version, file)}}``.
"""

import base64
import importlib
import json
import sys
import traceback
from types import SimpleNamespace

MARK = "RESULT "
REPORTED = ("snapstack", "oss2", "redis", "tablestore", "requests", "pydantic", "urllib3")


def context(spec):
    creds = spec["credentials"]
    return SimpleNamespace(
        request_id=spec["request_id"],
        credentials=SimpleNamespace(
            access_key_id=creds["access_key_id"],
            access_key_secret=creds["access_key_secret"],
            security_token=creds["security_token"],
        ),
        function=SimpleNamespace(name=spec["function"], handler=spec["handler"], memory=256, timeout=300),
        service=SimpleNamespace(name=spec["service"], log_project="", log_store="", qualifier="LATEST"),
        region=spec["region"],
        account_id="1234567890123456",
    )


def main():
    request = json.loads(sys.stdin.read())
    module_name, _, attr = request["handler"].partition(".")
    answer = {"summary": None, "error": None, "incomplete": False}
    try:
        handler = getattr(importlib.import_module(module_name), attr)
        answer["summary"] = handler(base64.b64decode(request["event"]), context(request["context"]))
    except Exception as exc:
        if type(exc).__name__ == "IncompleteRun":
            answer["summary"], answer["incomplete"] = getattr(exc, "summary", None), True
        else:
            answer["error"] = traceback.format_exc()
    modules = {}
    for name in REPORTED:
        module = sys.modules.get(name)
        if module is not None:
            modules[name] = [getattr(module, "__version__", None), getattr(module, "__file__", None)]
    answer["modules"] = modules
    sys.stdout.write(MARK + json.dumps(answer, default=str) + "\n")


main()
