"""Read template.yml: each function's handler, code folder, environment, layers and trigger.

ROS intrinsics are resolved only as far as a local run needs: ``Ref`` to a parameter's
default, ``Fn::GetAtt [Layer, Arn]`` to that layer's local folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FUNCTION = "ALIYUN::FC::Function"
LAYER = "ALIYUN::FC::Layer"


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
    layer_paths: tuple[Path, ...] = ()  # folders that FC would merge into /opt/python


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
    params = {k: v.get("Default") for k, v in (doc.get("Parameters") or {}).items()}
    resources: dict[str, Any] = doc.get("Resources") or {}

    def value(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"}:
            return params.get(node["Ref"], node["Ref"])
        return node

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
        layers = []
        for layer in props.get("Layers") or []:
            target = layer.get("Fn::GetAtt", [None])[0] if isinstance(layer, dict) else None
            if target in resources and resources[target].get("Type") == LAYER:
                meta = (resources[target].get("Metadata") or {}).get("Snapstack") or {}
                if "Source" in meta:  # the deps layer is installed in the venv locally
                    layers.append(source(target) / "python")
        env = {k: str(value(v)) for k, v in (props.get("EnvironmentVariables") or {}).items()}
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
            layer_paths=tuple(layers),
        )
    return Template(root, service_name, functions)
