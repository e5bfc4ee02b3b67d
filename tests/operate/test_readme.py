"""The README's reconciler and report commands run as written, and print what it shows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from devkit import exitcodes
from devkit.cli import main
from devkit.emulator.testing import EcsEmulator
from tests.reliability.support import ROOT

README = (ROOT / "README.md").read_text()


def blocks(section: str) -> list[str]:
    """The fenced blocks of the README section whose heading starts with ``section``."""
    body = README.split(f"\n## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```\n(.*?)```", body, flags=re.S)


def commands(block: str) -> list[list[str]]:
    """Each ``.venv/bin/snapstack ...`` command of a block, as argv (continuation lines joined)."""
    text = block.replace("\\\n", " ")
    return [
        shlex.split(line, comments=True)[1:]
        for line in text.splitlines()
        if line.startswith(".venv/bin/snapstack")
    ]


def same_row(shown: str, printed: str) -> bool:
    """Lines equal but for snapshot ids (they vary)."""
    return (
        re.sub(r"s-[a-z0-9]{20}", "s-*", shown).split() == re.sub(r"s-[a-z0-9]{20}", "s-*", printed).split()
    )


def test_the_report_sequence_against_the_emulator(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    found = blocks("Local tools")
    at = next(i for i, b in enumerate(found) if "snapstack report --policy" in b)
    sequence, shown = found[at : at + 2]
    start, *runs = commands(sequence)
    assert start[:2] == ["emulator", "start"]
    with EcsEmulator() as emu:
        codes = []
        for run in runs:
            argv = [emu.endpoint if a == "127.0.0.1:8500" else a for a in run]
            codes.append(main([*argv, "--token-table", f"sqlite:///{tmp_path}/tokens.db"]))
        printed = capfd.readouterr().out
    assert codes[-1] == exitcodes.FAILED  # the locked disk's failure has not been repaired
    report = printed[printed.index("policy  disk") :].splitlines()
    for line in shown.strip().splitlines():
        if line == "...":
            continue
        assert any(same_row(line, out) for out in report), f"README line not printed: {line!r}\n{printed}"


def test_the_rpo_demo_prints_what_the_readme_shows(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    # The demo quiets this process's logs and metrics; these are restored when the test ends.
    monkeypatch.setenv("SNAPSTACK_LOG_LEVEL", "INFO")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    (demo,) = [b for b in blocks("Reconciler and RPO") if b.startswith(".venv/bin/snapstack demo --rpo")]
    (argv,) = commands(demo)
    assert main(argv) == exitcodes.OK
    printed = capfd.readouterr().out.splitlines()
    shown = demo.splitlines()[1:]
    for line in shown:
        if line.strip() in ("", "..."):
            continue
        assert any(same_row(line, out) for out in printed), f"README line not printed: {line!r}"


def test_one_reconciler_run_against_the_emulator(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    (block,) = [b for b in blocks("Reconciler and RPO") if "local invoke reconciler" in b]
    argv = next(a for a in commands(block) if a[:3] == ["local", "invoke", "reconciler"])
    assert main([*argv, "--token-table", f"sqlite:///{tmp_path}/tokens.db"]) == exitcodes.OK
    printed = capfd.readouterr()  # the result on stdout, the function's log lines on stderr
    assert "reconciler: nothing to do" in printed.out and '"alert":"RpoBreach"' in printed.err
