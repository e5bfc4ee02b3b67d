"""Build the zips template.yml deploys: one per function, each self-contained, byte-reproducible.

A function's zip is what FC unpacks as its code directory (``/code``, on ``sys.path``): the
function folder (``index.py``, ``snapstack.json``), the ``snapstack`` library, and the third-party
dependencies pinned in ``layers/deps/requirements.lock`` (wheels for CPython 3.10, manylinux
x86_64, hashes checked). FC 2.0 functions have no layers, so nothing else reaches them but FC's
preinstalled modules (``layers/deps/fc-python310.txt``): a distribution FC preinstalls is never
shipped, so which copy wins on ``sys.path`` never matters (no FC document states the order).

Every ``.py`` gets its bytecode compiled by a CPython 3.10 interpreter (FC's runtime) as
*unchecked-hash* pyc: ``/code`` is read-only on FC, so a timestamp-checked pyc made stale by the
zip's 2-second mtimes would be recompiled in memory on every cold start (FACTS.md section 5).
Tests, caches and pip's own records are stripped. The same inputs give byte-identical zips: sorted
entries (the dependencies', then the function's own), fixed timestamps and modes,
``PYTHONHASHSEED=0`` and a fixed source path (``/code/...``) for the compiler. The dependencies
are installed, compiled and zipped once per lock (``.snapstack/deps/``); a function's zip is a
copy of that zip with the library and the function folder added.

    python -m devkit.package [--out dist]        # build dist/<function>.zip, print sizes
    python -m devkit.package --relock            # re-resolve requirements.lock (needs PyPI)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devkit import exitcodes

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
LIBRARY = ROOT / "layers" / "snapstack" / "python" / "snapstack"
DEPS = ROOT / "layers" / "deps"
REQUIREMENTS = DEPS / "requirements.txt"
LOCK = DEPS / "requirements.lock"
FC_IMAGE = DEPS / "fc-python310.txt"
CACHE = ROOT / ".snapstack" / "deps"
#: FC's code directory: where the compiled files say they live (tracebacks show these paths).
CODE_DIR = "/code"
#: FC's python3.10 runtime: CPython 3.10 on Debian 10, x86_64 (runtime overview,
#: https://www.alibabacloud.com/help/en/functioncompute/user-guide/runtime-overview-2).
PLATFORM = ("--platform", "manylinux2014_x86_64", "--python-version", "3.10", "--implementation", "cp")
#: The marker of a finished dependency tree in the cache (never zipped).
COMPLETE = ".complete"
#: 1980-01-01, the earliest time a zip entry can carry.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_STRIP_DIRS = frozenset({"__pycache__", "tests", "test", ".pytest_cache", ".mypy_cache", "bin"})
_STRIP_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
_PY310_CANDIDATES = ("python3.10", "/usr/bin/python3.10", "/usr/local/bin/python3.10")


class PackageError(Exception):
    """The build cannot be done as asked (no python3.10, a lock that does not install...)."""


@dataclass(frozen=True)
class Artifact:
    """One built zip."""

    function: str
    path: Path
    zipped: int  #: bytes on disk
    unzipped: int  #: bytes of all entries uncompressed
    sha256: str

    @property
    def object_name(self) -> str:
        """The content-hashed name it is uploaded under: a new build is a new object."""
        return f"{self.function}-{self.sha256[:16]}.zip"


def find_python310() -> str:
    """A CPython 3.10 interpreter: ``$SNAPSTACK_PYTHON310``, ``python3.10`` on PATH, pyenv's 3.10.

    Raises ``PackageError`` naming where it looked: bytecode from another version would not load.
    """
    explicit = os.environ.get("SNAPSTACK_PYTHON310")
    candidates = [explicit] if explicit else [*_PY310_CANDIDATES]
    if not explicit:
        pyenv = Path.home() / ".pyenv" / "versions"
        candidates += sorted(str(p) for p in pyenv.glob("3.10*/bin/python3.10"))
    for candidate in candidates:
        exe = shutil.which(candidate) if candidate else None
        if exe is None:
            continue
        probe = subprocess.run(
            [exe, "-c", "import sys; print(sys.implementation.name, *sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.split() == ["cpython", "3", "10"]:
            return exe
    raise PackageError(
        "no CPython 3.10 found (FC's python3.10 runtime loads only 3.10 bytecode): install python3.10 "
        f"or set SNAPSTACK_PYTHON310 (looked at: {', '.join(c for c in candidates if c)})"
    )


def preinstalled() -> set[str]:
    """Normalised names of the distributions FC's image documents (never shipped)."""
    names: set[str] = set()
    for line in FC_IMAGE.read_text().splitlines():
        if line.startswith("# -- transitive"):
            break
        if line.strip() and not line.startswith("#"):
            names.add(_normalise(line.split("==")[0]))
    return names


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _pip(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PackageError(f"pip {' '.join(args[:2])} failed:\n{done.stderr.strip()[-3000:]}")


def dependencies(python310: str) -> Path:
    """The lock's wheels installed for FC's platform (hashes checked), stripped and compiled.

    Kept under ``.snapstack/deps/<hash of the lock and the interpreter>``: the lock's hashes fix
    every byte of the installed tree, and the compiled bytecode follows from it, so later builds
    copy it instead of installing and compiling again.
    """
    version = subprocess.run(
        [python310, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    ).stdout
    cached = CACHE / hashlib.sha256(LOCK.read_bytes() + version.encode()).hexdigest()[:16]
    if not (cached / COMPLETE).is_file():
        partial = cached.with_name(cached.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        _pip_install_lock(partial)
        _strip(partial)
        compile_tree(partial, python310)
        (partial / COMPLETE).write_text(f"{LOCK.name}\n{version}")
        shutil.rmtree(cached, ignore_errors=True)
        partial.rename(cached)
    return cached


def _pip_install_lock(target: Path) -> None:
    _pip(
        "install",
        "--quiet",
        "--no-deps",
        "--require-hashes",
        "--only-binary=:all:",
        "--no-compile",
        *PLATFORM,
        "--target",
        str(target),
        "-r",
        str(LOCK),
    )


def relock() -> list[str]:
    """Re-resolve requirements.txt for FC's platform against FC's image; write requirements.lock.

    FC's pins are constraints, so every dependency we ship also satisfies what FC's own modules
    need; the distributions FC documents are then dropped (the function uses FC's copy).
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        _pip(
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            "--only-binary=:all:",
            *PLATFORM,
            "--target",
            str(Path(tmp) / "t"),
            "--report",
            str(report),
            "-c",
            str(FC_IMAGE),
            "-r",
            str(REQUIREMENTS),
        )
        installs = json.loads(report.read_text())["install"]
    skip = preinstalled()
    lines = []
    for item in sorted(installs, key=lambda i: _normalise(i["metadata"]["name"])):
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        if _normalise(name) in skip:
            continue
        digest = item["download_info"]["archive_info"]["hashes"]["sha256"]
        lines.append(f"{_normalise(name)}=={version} \\\n    --hash=sha256:{digest}")
    header = (
        "# Pinned runtime dependencies of every function zip (CPython 3.10, manylinux x86_64).\n"
        "# Generated by `python -m devkit.package --relock` from requirements.txt, constrained by\n"
        "# fc-python310.txt; FC's preinstalled distributions are left out. Do not edit by hand.\n"
    )
    LOCK.write_text(header + "\n".join(lines) + "\n")
    return lines


def _strip(tree: Path) -> None:
    for path in sorted(tree.rglob("*"), reverse=True):
        if path.is_dir() and path.name in _STRIP_DIRS and path.parent != tree / "snapstack":
            shutil.rmtree(path)
        elif path.is_file() and (path.suffix in (".pyc", ".pyo") or path.name in _STRIP_FILES):
            path.unlink()


def compile_tree(tree: Path, python310: str, paths: Iterable[Path] | None = None) -> None:
    """Unchecked-hash bytecode for every ``.py`` under ``tree`` (or only under ``paths``, which lie
    in it), compiled as if ``tree`` were /code."""
    targets = [str(p) for p in paths] if paths is not None else [str(tree)]
    done = subprocess.run(
        [
            python310,
            "-m",
            "compileall",
            "-q",
            "-j",
            "1",
            "--invalidation-mode",
            "unchecked-hash",
            "-s",
            str(tree),
            "-p",
            CODE_DIR,
            *targets,
        ],
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PackageError(f"compiling bytecode failed:\n{(done.stdout + done.stderr).strip()[-3000:]}")


def _add_tree(zf: zipfile.ZipFile, tree: Path) -> None:
    """Add every file under ``tree`` to ``zf``, sorted, with fixed timestamps and modes."""
    for path in sorted(p for p in tree.rglob("*") if p.is_file() and p.name != COMPLETE):
        info = zipfile.ZipInfo(path.relative_to(tree).as_posix(), ZIP_EPOCH)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3  # unix: the mode below is read
        mode = 0o755 if os.access(path, os.X_OK) and path.suffix in ("", ".so") else 0o644
        info.external_attr = (0o100000 | mode) << 16
        zf.writestr(info, path.read_bytes(), compresslevel=6)


def dependencies_zip(deps: Path) -> Path:
    """``deps`` (see ``dependencies``) zipped once, next to it: every function's zip starts as a
    copy of it, so the 60 MB that all functions share is compressed once, not once per function."""
    zipped = deps.with_name(deps.name + ".zip")
    if not zipped.is_file():
        partial = zipped.with_name(zipped.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            _add_tree(zf, deps)
        partial.rename(zipped)
    return zipped


def function_names() -> list[str]:
    """The function folders (each has an ``index.py``)."""
    return sorted(p.name for p in FUNCTIONS.iterdir() if (p / "index.py").is_file())


def build(
    out: Path, functions: Iterable[str] | None = None, *, python310: str | None = None
) -> list[Artifact]:
    """Build ``out/<function>.zip`` for each function; returns the artifacts."""
    python310 = python310 or find_python310()
    names = list(functions or function_names())
    artifacts = []
    deps = dependencies_zip(dependencies(python310))
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            stage = Path(tmp) / name
            caches = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(LIBRARY, stage / "snapstack", ignore=caches)
            shutil.copytree(FUNCTIONS / name, stage, ignore=caches, dirs_exist_ok=True)
            compile_tree(stage, python310)
            dest = out / f"{name}.zip"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(deps, dest)
            with zipfile.ZipFile(dest, "a", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
                _add_tree(zf, stage)
            with zipfile.ZipFile(dest) as zf:
                unzipped = sum(info.file_size for info in zf.infolist())
            digest = hashlib.sha256(dest.read_bytes()).hexdigest()
            artifacts.append(Artifact(name, dest, dest.stat().st_size, unzipped, digest))
    return artifacts


def upload(artifacts: Iterable[Artifact], bucket: Any, prefix: str = "") -> dict[str, tuple[str, bool]]:
    """Upload each artifact to ``bucket`` (an ``oss2.Bucket``) under ``prefix`` + its content-hashed
    name; ``{function: (object name, uploaded)}`` (an object already there has the same bytes).

    A bucket that does not exist yet is created (private).
    """
    import oss2

    placed: dict[str, tuple[str, bool]] = {}
    for artifact in artifacts:
        key = f"{prefix}{artifact.object_name}"
        exists = bucket.object_exists(key)  # a missing bucket also reads as a missing object
        if not exists:
            try:
                bucket.put_object_from_file(key, str(artifact.path))
            except oss2.exceptions.NoSuchBucket:
                bucket.create_bucket(oss2.BUCKET_ACL_PRIVATE)
                bucket.put_object_from_file(key, str(artifact.path))
        placed[artifact.function] = (key, not exists)
    return placed


def packaged_template(template: Path, bucket_name: str, keys: Mapping[str, str]) -> dict[str, Any]:
    """``template`` with each function's ``Code`` pointing at its uploaded zip, as ROS will read it.

    The function of a resource is its ``Metadata.Snapstack.Source`` folder's name; the
    ``CodeBucket`` parameter, no longer referenced, is dropped.
    """
    doc: dict[str, Any] = yaml.safe_load(template.read_text(encoding="utf-8"))
    for name, resource in doc.get("Resources", {}).items():
        if resource.get("Type") != "ALIYUN::FC::Function":
            continue
        source = ((resource.get("Metadata") or {}).get("Snapstack") or {}).get("Source")
        function = Path(str(source)).name
        if function not in keys:
            raise PackageError(f"{name}: no zip was built for {source!r}")
        resource["Properties"]["Code"] = {"OssBucketName": bucket_name, "OssObjectName": keys[function]}
    if "CodeBucket" not in json.dumps(doc.get("Resources", {})) + json.dumps(doc.get("Outputs", {})):
        doc.get("Parameters", {}).pop("CodeBucket", None)
    return doc


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def size_line(artifact: Artifact) -> str:
    """One artifact's name, zipped and unzipped size, and content hash."""
    return (
        f"{artifact.path.name:24} {_mb(artifact.zipped):>8} zipped  {_mb(artifact.unzipped):>8} unzipped"
        f"  sha256 {artifact.sha256[:16]}"
    )


def main(argv: list[str] | None = None) -> int:
    """Command line entry: build (default) or ``--relock``."""
    parser = argparse.ArgumentParser(prog="python -m devkit.package", description="build the function zips")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--relock", action="store_true", help="re-resolve layers/deps/requirements.lock")
    args = parser.parse_args(argv)
    try:
        if args.relock:
            print(f"{LOCK.relative_to(ROOT)}: {len(relock())} pinned distributions")
            return exitcodes.OK
        for artifact in build(args.out):
            print(size_line(artifact))
    except PackageError as exc:
        print(f"snapstack package: {exc}", file=sys.stderr)
        return exitcodes.TOOL_ERROR
    return exitcodes.OK


if __name__ == "__main__":
    sys.exit(main())
