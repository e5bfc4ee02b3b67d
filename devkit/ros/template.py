"""A ROS template as data: parse it, check its references, resolve its intrinsic functions.

ROS template syntax: https://www.alibabacloud.com/help/en/ros/user-guide/template-syntax (Parameters,
Conditions, Resources, Outputs) and the functions ``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``,
``Fn::Select``, ``Fn::Split``, ``Fn::If``, ``Fn::Equals``, ``Fn::Not``
(https://www.alibabacloud.com/help/en/ros/user-guide/functions). Pseudo parameters are
``ALIYUN::Region``, ``ALIYUN::AccountId``, ``ALIYUN::StackId``, ``ALIYUN::StackName``,
``ALIYUN::NoValue`` (https://www.alibabacloud.com/help/en/ros/user-guide/pseudo-parameters).

``check_references`` finds every reference that names nothing; ``Resolver`` evaluates the functions
for given parameter values and resource attributes (the stand-in's outputs, a local run's environment).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

PSEUDO_PARAMETERS = frozenset(
    {"ALIYUN::Region", "ALIYUN::AccountId", "ALIYUN::StackId", "ALIYUN::StackName", "ALIYUN::NoValue"}
)
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateError(ValueError):
    """The template cannot be read, or a reference in it names nothing."""


def load(text: str) -> dict[str, Any]:
    """A template (YAML or JSON, as ROS accepts both) as a mapping; ``TemplateError`` otherwise."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TemplateError(f"not YAML or JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise TemplateError("a template is a mapping with a Resources mapping")
    return doc


@dataclass(frozen=True)
class Reference:
    """One reference: where it is, what kind (``Ref``, ``GetAtt``, ``Sub``, ``Condition``, ``DependsOn``)."""

    where: str
    kind: str
    target: str
    attribute: str | None = None


def _walk(node: Any, where: str) -> Iterator[Reference]:
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, f"{where}[{i}]")
        return
    if not isinstance(node, dict):
        return
    if len(node) == 1:
        ((key, value),) = node.items()
        if key == "Ref":
            yield Reference(where, "Ref", str(value))
            return
        if key == "Fn::GetAtt":
            yield Reference(where, "GetAtt", str(value[0]), str(value[1]))
            return
        if key == "Fn::Sub":
            text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
            for name in _SUB_VARIABLE.findall(text):
                if name in variables:
                    continue
                target, _, attribute = name.partition(".")
                if attribute and target not in PSEUDO_PARAMETERS:
                    yield Reference(where, "GetAtt", target, attribute)
                else:
                    yield Reference(where, "Sub", name)
            yield from _walk(variables, f"{where}.Fn::Sub")
            return
        if key == "Fn::If":
            yield Reference(where, "Condition", str(value[0]))
            yield from _walk(value[1:], f"{where}.Fn::If")
            return
    for key, value in node.items():
        yield from _walk(value, f"{where}.{key}")


def references(doc: Mapping[str, Any]) -> list[Reference]:
    """Every reference in the template's Conditions, Resources and Outputs."""
    found: list[Reference] = []
    for section in ("Conditions", "Resources", "Outputs"):
        found.extend(_walk(doc.get(section) or {}, section))
    for name, resource in (doc.get("Resources") or {}).items():
        depends = resource.get("DependsOn") or []
        for target in [depends] if isinstance(depends, str) else depends:
            found.append(Reference(f"Resources.{name}.DependsOn", "DependsOn", str(target)))
        if "Condition" in resource:
            found.append(Reference(f"Resources.{name}.Condition", "Condition", str(resource["Condition"])))
    return found


def check_references(doc: Mapping[str, Any], attributes: Mapping[str, list[str]]) -> list[str]:
    """Errors for references that name nothing; ``attributes`` maps a resource type to its GetAtt names."""
    params = set(doc.get("Parameters") or {})
    resources: dict[str, Any] = doc.get("Resources") or {}
    conditions = set(doc.get("Conditions") or {})
    errors = []
    for ref in references(doc):
        if ref.kind in ("Ref", "Sub"):
            if ref.target not in params | set(resources) | PSEUDO_PARAMETERS:
                errors.append(f"{ref.where}: {ref.kind} {ref.target!r} is no parameter or resource")
        elif ref.kind == "DependsOn" and ref.target not in resources:
            errors.append(f"{ref.where}: DependsOn {ref.target!r} is no resource")
        elif ref.kind == "Condition" and ref.target not in conditions:
            errors.append(f"{ref.where}: condition {ref.target!r} is not defined")
        elif ref.kind == "GetAtt":
            resource = resources.get(ref.target)
            if resource is None:
                errors.append(f"{ref.where}: GetAtt {ref.target!r} is no resource")
            elif ref.attribute not in attributes.get(resource["Type"], []):
                errors.append(
                    f"{ref.where}: {resource['Type']} has no attribute {ref.attribute!r} "
                    f"(it has {', '.join(attributes.get(resource['Type'], []))})"
                )
    return errors


class Resolver:
    """Evaluates a template's functions for one stack: parameter values and resource attributes.

    ``attribute(logical_id, name)`` answers ``Fn::GetAtt`` (and ``Ref`` to a resource, with name
    ``None``). A reference it cannot answer raises ``TemplateError``.
    """

    def __init__(
        self,
        doc: Mapping[str, Any],
        parameters: Mapping[str, str],
        pseudo: Mapping[str, str],
        attribute: Callable[[str, str | None], Any],
    ) -> None:
        self.doc = doc
        self.parameters = dict(parameters)
        self.pseudo = dict(pseudo)
        self.attribute = attribute
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        """The value of condition ``name``."""
        if name not in self._conditions:
            spec = (self.doc.get("Conditions") or {}).get(name)
            if spec is None:
                raise TemplateError(f"condition {name!r} is not defined")
            self._conditions[name] = bool(self.resolve(spec))
        return self._conditions[name]

    def _ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name in (self.doc.get("Resources") or {}):
            return self.attribute(name, None)
        raise TemplateError(f"Ref {name!r}: no such parameter or resource")

    def _sub(self, value: Any) -> str:
        text, variables = (value, {}) if isinstance(value, str) else (value[0], self.resolve(value[1]))

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            target, _, attr = name.partition(".")
            if attr and target not in PSEUDO_PARAMETERS:
                return str(self.attribute(target, attr))
            return str(self._ref(name))

        return _SUB_VARIABLE.sub(one, text)

    def resolve(self, node: Any) -> Any:
        """``node`` with every function evaluated."""
        if isinstance(node, list):
            return [self.resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            functions: dict[str, Callable[[Any], Any]] = {
                "Ref": lambda v: self._ref(str(v)),
                "Fn::GetAtt": lambda v: self.attribute(str(v[0]), str(v[1])),
                "Fn::Sub": self._sub,
                "Fn::Join": lambda v: str(v[0]).join(str(x) for x in self.resolve(v[1])),
                "Fn::Select": lambda v: self.resolve(v[1])[int(self.resolve(v[0]))],
                "Fn::Split": lambda v: str(self.resolve(v[1])).split(str(v[0])),
                "Fn::Equals": lambda v: self.resolve(v[0]) == self.resolve(v[1]),
                "Fn::Not": lambda v: not self.resolve(v[0]),
                "Fn::If": lambda v: self.resolve(v[1] if self.condition(str(v[0])) else v[2]),
            }
            if key in functions:
                return functions[key](value)
            if key == "Ref" or key.startswith("Fn::"):
                raise TemplateError(f"function {key} is not supported here")
        return {k: self.resolve(v) for k, v in node.items()}
