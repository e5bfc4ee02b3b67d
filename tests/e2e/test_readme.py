"""The README's local-tools commands, run exactly as written, print what the README shows.

In a fenced block of the "Local tools" section, a line starting with ``$ `` is a command (run by
bash in a fresh checkout-like folder, in order, so later commands see what earlier ones did);
the lines after it, up to the next command, are its stdout. A trailing comment ``# exit N``
gives the expected exit code (else 0); ``# foreground ...`` marks a server, stopped with SIGTERM
once it has printed what is shown. Snapshot ids, ports and temporary folders are normalised
(``tests/e2e/cli.py``). ``make demo``'s output is checked against "The two commands" too.
"""

from __future__ import annotations

import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .cli import ROOT, environment, make_workspace, normalise

README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M)


@dataclass(frozen=True)
class Shown:
    """One command of the README and what the README says it does."""

    command: str
    output: list[str]
    exit_code: int
    foreground: bool


def section(title: str) -> str:
    start = README.index(f"## {title}")
    return README[start : README.index("\n## ", start + 1)]


def shown_commands(text: str) -> list[Shown]:
    commands: list[Shown] = []
    for block in FENCE.findall(text):
        current: tuple[str, str] | None = None
        output: list[str] = []
        for line in [*block.splitlines(), "$ "]:
            if not line.startswith("$ "):
                output.append(line)
                continue
            if current is not None:
                command, comment = current
                exit_code = re.search(r"\bexit (\d+)", comment)
                commands.append(
                    Shown(
                        command, output, int(exit_code.group(1)) if exit_code else 0, "foreground" in comment
                    )
                )
            command, _, comment = line[2:].partition("  #")
            current, output = (command.strip(), comment), []
    return [c for c in commands if c.command]


LOCAL_TOOLS = shown_commands(section("Local tools"))


def test_the_section_shows_the_commands_it_documents():
    names = " ".join(c.command for c in LOCAL_TOOLS)
    for needed in (
        "local invoke",
        "plan",
        "validate",
        "emulator start",
        "tablestore start",
        "tokens ls",
        "| jq",
    ):
        assert needed in names
    assert len(LOCAL_TOOLS) >= 9


def test_the_readme_commands_print_what_the_readme_shows(tmp_path: Path) -> None:
    """In order, in one fresh checkout: later commands see what earlier ones did."""
    checkout = make_workspace(tmp_path / "checkout")
    for shown in LOCAL_TOOLS:
        if shown.foreground:
            code, stdout = run_server(shown, checkout)
        else:
            result = run_shell(shown.command, checkout)
            code, stdout = result.returncode, result.stdout
            assert "Traceback" not in result.stderr, (shown.command, result.stderr)
        assert code == shown.exit_code, (shown.command, stdout)
        if shown.output:
            expected = [normalise(line) for line in shown.output]
            assert normalise(stdout).splitlines() == expected, shown.command
        else:
            assert stdout.strip(), f"{shown.command}: a command without shown output still prints something"


def run_shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` as bash runs it (pipes and redirections as written), output captured."""
    env = environment()
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )


def run_server(shown: Shown, cwd: Path) -> tuple[int, str]:
    """Start a foreground server, read what the README shows (or its first line), stop it."""
    process = subprocess.Popen(
        ["bash", "-c", f"exec {shown.command}"], cwd=cwd, env=environment(), stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(max(1, len(shown.output)))]
    process.send_signal(signal.SIGTERM)
    process.stdout.read()  # the rest of its banner, and its goodbye
    return process.wait(timeout=60), "".join(lines)


def test_make_demo_prints_what_the_two_commands_section_shows() -> None:
    text = section("The two commands")
    block = FENCE.findall(text[text.index("`make demo` prints") :])[0]
    expected = [normalise(line) for line in block.splitlines()]
    assert expected[-1] == "..."
    result = subprocess.run(
        ["make", "demo"],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = [normalise(line) for line in result.stdout.splitlines() if "snapstack demo" not in line]
    assert printed[: len(expected) - 1] == expected[:-1]
    assert result.stderr == ""
