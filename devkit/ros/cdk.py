"""ROS's own resource schemas, checked offline: the ROS CDK's generated validators, run under Node.

The ``ros-cdk-*`` packages on PyPI (``ros-cdk-core``, ``ros-cdk-fc``, ``-ram``, ``-sls``, ``-ots``,
``-mns``, ``-oss``, ``-eventbridge``) are jsii packages: each wheel carries its JavaScript package as
``<module>/_jsii/<name>@<version>.jsii.tgz``, generated from the ROS resource-type schemas
(https://www.alibabacloud.com/help/en/ros/developer-reference/list-of-resource-types-by-service).
``modules_dir()`` unpacks them into a ``node_modules`` tree (once per set of versions) and
``validate_resources()`` runs ``validate.js`` over a template's resources: required properties,
types, ranges, allowed values, nested structs, and property names no schema has.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("validate.js")
CACHE = ROOT / ".snapstack" / "ros-cdk"


class CdkUnavailable(RuntimeError):
    """Node or the ROS CDK packages are missing: the validators cannot run."""


def _jsii_archives() -> list[Path]:
    # Found, not imported: importing a jsii package starts a Node kernel process.
    spec = importlib.util.find_spec("ros_cdk_core")
    if spec is None or spec.origin is None:
        raise CdkUnavailable("ros-cdk-core is not installed: pip install the ros-cdk-* packages")
    site = Path(spec.origin).resolve().parent.parent
    archives = sorted(site.glob("*/_jsii/*.jsii.tgz"))
    if not any("ros-cdk-fc@" in a.name for a in archives):
        raise CdkUnavailable(f"no ros-cdk-* jsii packages under {site}: pip install the ros-cdk-* packages")
    return archives


def modules_dir() -> Path:
    """A ``node_modules`` tree with every installed jsii package (built once per set of versions)."""
    archives = _jsii_archives()
    digest = hashlib.sha256("\n".join(a.name for a in archives).encode()).hexdigest()[:12]
    target = CACHE / digest / "node_modules"
    if (target / ".complete").is_file():
        return target
    staging = target.with_name("node_modules.partial")
    shutil.rmtree(staging, ignore_errors=True)
    for archive in archives:
        with tarfile.open(archive) as tar:
            name = json.load(tar.extractfile("package/package.json"))["name"]  # type: ignore[arg-type]
            dest = staging / name
            members = []
            for member in tar.getmembers():
                member.name = member.name.partition("/")[2]
                if member.name:
                    members.append(member)
            tar.extractall(dest, members=members)
    (staging / ".complete").write_text("\n".join(a.name for a in archives))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def node() -> str:
    """The ``node`` executable (Debian's ``nodejs``; ``make test`` installs it when missing)."""
    found = shutil.which("node") or shutil.which("nodejs")
    if found is None:
        raise CdkUnavailable("node is not installed (apt-get install nodejs; `make test` does it)")
    return found


@dataclass(frozen=True)
class SchemaCheck:
    """What ROS's schemas say about a template's resources."""

    errors: dict[str, list[str]]  #: logical id -> errors (an empty list: the schema accepts it)
    attributes: dict[str, list[str]]  #: resource type -> the attributes Fn::GetAtt may name

    @property
    def ok(self) -> bool:
        """True when every resource passed."""
        return not any(self.errors.values())


def validate_resources(resources: Mapping[str, Any]) -> SchemaCheck:
    """Check each resource of a template's ``Resources`` mapping against its ROS schema.

    Intrinsic functions (``Ref``, ``Fn::*``) are left to ROS, as the validators do. Raises
    ``CdkUnavailable`` without Node or the packages.
    """
    request = {"modules": str(modules_dir()), "resources": dict(resources)}
    done = subprocess.run(
        [node(), str(SCRIPT)], input=json.dumps(request), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise CdkUnavailable(f"the ROS CDK validators failed to run: {done.stderr.strip()[-2000:]}")
    answer = json.loads(done.stdout)
    return SchemaCheck(errors=answer["results"], attributes=answer["attributes"])
