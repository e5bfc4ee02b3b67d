"""``snapstack tablestore start`` in a real subprocess: it serves, prints how to connect, stops on SIGINT."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import tablestore


def test_start_serves_in_the_foreground_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit.cli", "tablestore", "start", "--port", "0", "--instance", "cli"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed = []
        for line in process.stdout:
            printed.append(line)
            if line.startswith("Ctrl-C"):
                break
        output = "".join(printed)
        endpoint = re.search(r"listening on (http://\S+)", output)
        key_id = re.search(r"access key id:\s+(\S+)", output)
        secret = re.search(r"access key secret:\s+(\S+)", output)
        assert endpoint and key_id and secret, output
        assert "tablestore://cli/TABLE?endpoint=" in output

        client = tablestore.OTSClient(endpoint[1], key_id[1], secret[1], "cli")
        assert client.list_table() == ()
    finally:
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=10)
    assert process.returncode == 0, errors
    assert errors == ""
