"""Build the zips template.yml deploys: one per function, the library layer, the deps layer.

- functions/<name>.zip: the function folder (index.py + snapstack.json) at the zip root.
- layers/snapstack.zip: ``python/snapstack/...`` with bytecode compiled for the running
  interpreter (FC's python3.10 when ``make`` picked it), so a cold start skips compilation.
- layers/deps.zip (``--deps``): ``pip install --target python/`` of layers/deps/requirements.txt
  for FC's platform (manylinux x86_64, CPython 3.10, wheels only), precompiled too.

Usage: ``python -m devkit.package [--out dist] [--deps]``
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache"}


def _zip_tree(src: Path, dest: Path, prefix: str = "") -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                zf.write(path, f"{prefix}{path.relative_to(src).as_posix()}")
    return dest


def _staged_library(stage: Path) -> Path:
    target = stage / "python" / "snapstack"
    shutil.copytree(
        ROOT / "layers/snapstack/python/snapstack", target, ignore=shutil.ignore_patterns(*SKIP_DIRS)
    )
    compileall.compile_dir(str(target), quiet=1, optimize=0)
    return stage


def build(out: Path, *, deps: bool = False) -> list[Path]:
    """Write the zips under ``out``; returns their paths."""
    built: list[Path] = []
    for folder in sorted((ROOT / "functions").iterdir()):
        if (folder / "index.py").is_file():
            with tempfile.TemporaryDirectory() as tmp:
                stage = Path(tmp) / folder.name
                shutil.copytree(folder, stage, ignore=shutil.ignore_patterns(*SKIP_DIRS))
                built.append(_zip_tree(stage, out / "functions" / f"{folder.name}.zip"))
    with tempfile.TemporaryDirectory() as tmp:
        built.append(_zip_tree(_staged_library(Path(tmp)), out / "layers" / "snapstack.zip"))
    if deps:
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "python"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--target",
                    str(target),
                    "--platform",
                    "manylinux2014_x86_64",
                    "--python-version",
                    "3.10",
                    "--implementation",
                    "cp",
                    "--only-binary=:all:",
                    "-r",
                    str(ROOT / "layers/deps/requirements.txt"),
                ],
                check=True,
            )
            compileall.compile_dir(str(target), quiet=1)
            built.append(_zip_tree(Path(tmp), out / "layers" / "deps.zip"))
    return built


def main(argv: list[str] | None = None) -> int:
    """Command line entry."""
    parser = argparse.ArgumentParser(description="build the deployable zips")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--deps", action="store_true", help="also build the third-party deps layer")
    args = parser.parse_args(argv)
    for path in build(args.out, deps=args.deps):
        print(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  {path.stat().st_size:,} bytes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
