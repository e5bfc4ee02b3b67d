"""Read template.yml: each function's handler, code folder, environment and trigger.

The stack uses FC 2.0 functions, which have no layers: ``snapstack package`` bundles the
``snapstack`` library (``layers/snapstack/python``) and its dependencies into every function's
zip, so a local run puts that library folder on ``sys.path`` (``layer_paths``) as the zip would.
Environment values are resolved with the parameters' defaults; a value that needs a deployed
resource (the stack's own token table) is left out, and the local run supplies its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devkit.ros.template import Resolver
from devkit.ros.template import TemplateError as IntrinsicError

FUNCTION = "ALIYUN::FC::Function"
#: The library every function's zip carries (devkit/package.py bundles it at the zip's root).
LIBRARY = Path(__file__).resolve().parents[2] / "layers" / "snapstack" / "python"


class TemplateError(Exception):
    """template.yml does not say what a local run needs."""


@dataclass(frozen=True)
class FunctionSpec:
    """One function as FC would run it."""

    resource: str
    name: str
    handler: str  # module.function, e.g. index.handler
    source: Path
    runtime: str
    timeout: int
    memory: int
    trigger: str
    environment: dict[str, str] = field(default_factory=dict)
    layer_paths: tuple[Path, ...] = ()  # folders the function's zip bundles (on sys.path)


@dataclass(frozen=True)
class Template:
    """The parsed stack."""

    root: Path
    service_name: str
    functions: dict[str, FunctionSpec]

    def function(self, name: str) -> FunctionSpec:
        """A function by its FC name (or resource name)."""
        for spec in self.functions.values():
            if name in (spec.name, spec.resource):
                return spec
        known = ", ".join(sorted(s.name for s in self.functions.values()))
        raise TemplateError(f"no function {name!r} in the template (functions: {known})")


def load_template(path: Path) -> Template:
    """Parse ``path`` (template.yml) into the functions a local run can invoke."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    root = path.resolve().parent
    params = {k: v.get("Default") for k, v in (doc.get("Parameters") or {}).items() if "Default" in v}
    resources: dict[str, Any] = doc.get("Resources") or {}

    def deployed(logical_id: str, attribute: str | None) -> Any:
        raise IntrinsicError(f"{logical_id}.{attribute} exists only once deployed")

    resolver = Resolver(doc, params, {"ALIYUN::Region": "local", "ALIYUN::AccountId": "local"}, deployed)

    def value(node: Any) -> Any:
        try:
            return resolver.resolve(node)
        except IntrinsicError:
            return None

    def source(resource: str) -> Path:
        meta = (resources[resource].get("Metadata") or {}).get("Snapstack") or {}
        if "Source" not in meta:
            raise TemplateError(f"{resource}: Metadata.Snapstack.Source is missing")
        return root / str(meta["Source"])

    service = next((r for r in resources.values() if r.get("Type") == "ALIYUN::FC::Service"), None)
    service_name = str(value((service or {}).get("Properties", {}).get("ServiceName", "snapstack")))
    functions: dict[str, FunctionSpec] = {}
    for resource, body in resources.items():
        if body.get("Type") != FUNCTION:
            continue
        props = body.get("Properties") or {}
        env = {
            k: str(resolved)
            for k, v in (props.get("EnvironmentVariables") or {}).items()
            if (resolved := value(v)) is not None
        }
        functions[resource] = FunctionSpec(
            resource=resource,
            name=str(props["FunctionName"]),
            handler=str(props["Handler"]),
            source=source(resource),
            runtime=str(props.get("Runtime", "")),
            timeout=int(props.get("Timeout", 3)),
            memory=int(props.get("MemorySize", 128)),
            trigger=str(((body.get("Metadata") or {}).get("Snapstack") or {}).get("Trigger", "")),
            environment=env,
            layer_paths=(LIBRARY,),
        )
    return Template(root, service_name, functions)
