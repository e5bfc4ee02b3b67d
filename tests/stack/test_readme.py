"""README "Deploying": its ``$ .venv/bin/snapstack ...`` commands, run in order against moto's S3
server and the ROS stand-in, print what the README shows (times, hashes and ids aside)."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from devkit import exitcodes
from devkit.cli import main
from devkit.ros.testing import RosStandIn

ROOT = Path(__file__).resolve().parents[2]


def deploying_blocks() -> list[tuple[str, list[str]]]:
    """``(command, shown output lines)`` for each command block of the section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Deploying\n") : text.index("\n## ", text.index("## Deploying\n") + 1)]
    blocks = []
    for block in re.findall(r"```\n(.*?)```", section, flags=re.S):
        lines = block.splitlines()
        if lines and lines[0].startswith("$ .venv/bin/snapstack "):
            blocks.append((lines[0][2:], lines[1:]))
    return blocks


def normalise(line: str) -> str:
    line = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", "TIME", line)
    line = re.sub(r"\b[0-9a-f]{16}\b", "HASH", line)
    line = re.sub(r"(snap|snapstack-|deploys-)[0-9a-f]{8}\b", r"\1ID", line)
    line = re.sub(r"\d+\.\d MB", "N MB", line)
    return " ".join(line.split())


def test_the_section_shows_package_deploy_update_and_destroy():
    commands = [c.split()[1] for c, _ in deploying_blocks()]
    assert commands == ["package", "deploy", "deploy", "destroy"]


@pytest.mark.slow
def test_each_command_prints_what_the_readme_shows(tmp_path, monkeypatch, capsys, moto_endpoint):
    shutil.copy(ROOT / "template.yml", tmp_path / "template.yml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tEmulatorKey0001")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "emulator-secret-0001")
    monkeypatch.setenv("ALIBABA_CLOUD_REGION_ID", "cn-hangzhou")
    monkeypatch.setenv("SNAPSTACK_OSS_ENDPOINT", moto_endpoint)
    with RosStandIn() as ros:
        monkeypatch.setenv("SNAPSTACK_ROS_ENDPOINT", ros.endpoint)
        monkeypatch.setenv("SNAPSTACK_ROS_PROTOCOL", "http")
        monkeypatch.setenv("SNAPSTACK_ROS_POLL_SECONDS", "0")
        for command, shown in deploying_blocks():
            code = main(shlex.split(command)[1:])
            captured = capsys.readouterr()
            printed = [normalise(line) for line in (captured.err + captured.out).splitlines()]
            assert code == exitcodes.OK, captured.err
            for line in shown:
                if line != "...":
                    assert normalise(line) in printed, f"{command}: {line!r} not printed"
    assert (tmp_path / "packaged-template.yml").is_file()
