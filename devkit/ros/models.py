"""State of the ROS stand-in: stacks, their resources and events, and the lifecycle they walk.

A stack operation is planned as a list of steps (one resource event each) and executed one step per
read of the stack (``GetStack``, ``ListStackEvents``...), so a client that polls sees the operation
progress exactly as it would on ROS, with no timers and no sleeps: the reads are the clock.

Lifecycle (ROS stack statuses, https://www.alibabacloud.com/help/en/ros/user-guide/stack-status):

- create: ``CREATE_IN_PROGRESS``, each resource ``CREATE_IN_PROGRESS`` -> ``CREATE_COMPLETE`` in
  dependency order, then ``CREATE_COMPLETE``. A resource that fails (``fail_resources``) is
  ``CREATE_FAILED`` with its reason; the stack rolls back (``CREATE_ROLLBACK_IN_PROGRESS``, the
  created resources deleted in reverse) to ``CREATE_ROLLBACK_COMPLETE``, or stops at
  ``CREATE_FAILED`` with rollback disabled.
- update: ``UPDATE_IN_PROGRESS``; new resources created, changed ones updated, removed ones
  deleted; ``UPDATE_COMPLETE``. A failure rolls back to the previous template and parameters
  (``ROLLBACK_IN_PROGRESS`` -> ``ROLLBACK_COMPLETE``). An update that changes nothing is refused.
- delete: ``DELETE_IN_PROGRESS``, resources deleted in reverse order, ``DELETE_COMPLETE``; the
  stack then reads as deleted by id and is gone from lists and operations (``StackNotFound``).

Templates are checked before anything starts, as ROS does: syntax, parameters (required, allowed
pattern, range), every resource against ROS's schemas (``devkit.ros.cdk``) and every reference.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from devkit.ros.cdk import SchemaCheck
from devkit.ros.template import Resolver, TemplateError, check_references, load, references

ACCOUNT_ID = "1234567890123456"
_FORMAT_VERSION = "2015-09-01"


class RosError(Exception):
    """An API error answer: code, HTTP status, message (ROS error codes)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def iso(epoch: float) -> str:
    """ROS's time format (UTC, second precision)."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class Event:
    """One stack or resource event, as ``ListStackEvents`` returns it."""

    event_id: str
    logical_id: str
    physical_id: str
    resource_type: str
    status: str
    reason: str
    time: float


@dataclass
class Resource:
    """A resource of a stack as it stands."""

    logical_id: str
    type: str
    digest: str  #: of its resolved properties: a changed digest is an update
    physical_id: str = ""
    status: str = ""


Step = Callable[[], None]


@dataclass
class Stack:
    """One stack: what it was made from, what it holds, what happened to it."""

    stack_id: str
    name: str
    region: str
    template: dict[str, Any]
    parameters: dict[str, str]
    disable_rollback: bool
    created: float
    status: str = "CREATE_IN_PROGRESS"
    reason: str = ""
    updated: float | None = None
    resources: dict[str, Resource] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    outputs: list[dict[str, str]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        """True while an operation is in progress."""
        return self.status.endswith("_IN_PROGRESS")


def _digest(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def creation_order(doc: Mapping[str, Any]) -> list[str]:
    """Resources in an order where each comes after everything it references (ROS's dependencies)."""
    resources: dict[str, Any] = doc.get("Resources") or {}
    needs: dict[str, set[str]] = {name: set() for name in resources}
    for ref in references({"Resources": resources}):
        owner = ref.where.split(".")[1]
        if (
            ref.target in resources
            and ref.target != owner
            and ref.kind in ("Ref", "Sub", "GetAtt", "DependsOn")
        ):
            needs[owner].add(ref.target)
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(needs):
        ready = sorted(n for n in needs if n not in done and needs[n] <= done)
        if not ready:
            raise RosError("StackValidationFailed", f"circular dependency among {sorted(set(needs) - done)}")
        order.extend(ready)
        done.update(ready)
    return order


def check_parameters(doc: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """The stack's parameter values (given, else defaults); ``RosError`` names the parameter and rule."""
    declared: dict[str, Any] = doc.get("Parameters") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise RosError("StackValidationFailed", f"Unknown parameters: {', '.join(unknown)}")
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if name in given:
            value = str(given[name])
        elif "Default" in spec:
            value = str(spec["Default"])
        else:
            raise RosError("StackValidationFailed", f"Parameter [{name}] is required but no value was given")
        pattern = spec.get("AllowedPattern")
        if pattern and name in given and not re.fullmatch(pattern, value):
            raise RosError("StackValidationFailed", f"Parameter [{name}] does not match pattern {pattern}")
        if spec.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                raise RosError("StackValidationFailed", f"Parameter [{name}] must be a number") from None
            low, high = spec.get("MinValue"), spec.get("MaxValue")
            if (low is not None and number < low) or (high is not None and number > high):
                raise RosError("StackValidationFailed", f"Parameter [{name}] must be in [{low}, {high}]")
        allowed = spec.get("AllowedValues")
        if allowed and value not in [str(a) for a in allowed]:
            raise RosError("StackValidationFailed", f"Parameter [{name}] must be one of {allowed}")
        values[name] = value
    return values


class RosState:
    """Every stack of the stand-in (all regions of one account). Thread-safe.

    ``validate`` checks resources against ROS's schemas (``devkit.ros.cdk.validate_resources``);
    ``fail_resources`` maps a logical id to the reason it fails to create or update (fault
    injection, set through the control API).
    """

    def __init__(
        self,
        validate: Callable[[Mapping[str, Any]], SchemaCheck],
        *,
        clock: Callable[[], float] = time.time,
        account_id: str = ACCOUNT_ID,
    ) -> None:
        self._validate = validate
        self.clock = clock
        self.account_id = account_id
        self.fail_resources: dict[str, str] = {}
        self._stacks: dict[str, Stack] = {}
        self._lock = threading.RLock()

    # -- checks ---------------------------------------------------------------------------------------

    def check_template(self, body: str, given: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        """Parse and validate a template and its parameters, as ROS does before it starts."""
        try:
            doc = load(body)
        except TemplateError as exc:
            raise RosError("InvalidTemplate", str(exc)) from None
        if doc.get("ROSTemplateFormatVersion") != _FORMAT_VERSION:
            raise RosError("InvalidTemplate", f"ROSTemplateFormatVersion must be {_FORMAT_VERSION}")
        values = check_parameters(doc, given)
        schemas = self._validate(doc["Resources"])
        problems = [f"{name}: {error}" for name, errors in schemas.errors.items() for error in errors]
        problems += check_references(doc, schemas.attributes)
        if problems:
            raise RosError("StackValidationFailed", "; ".join(problems))
        creation_order(doc)
        return doc, values

    # -- operations -----------------------------------------------------------------------------------

    def create_stack(
        self, name: str, region: str, body: str, given: Mapping[str, str], *, disable_rollback: bool = False
    ) -> Stack:
        """Validate and start creating a stack; ``StackExists`` if the name is taken."""
        doc, values = self.check_template(body, given)
        with self._lock:
            if any(s.name == name and s.region == region for s in self._stacks.values()):
                raise RosError("StackExists", f"The Stack ({name}) already exists.", 409)
            stack = Stack(str(uuid.uuid4()), name, region, doc, values, disable_rollback, self.clock())
            self._stacks[stack.stack_id] = stack
            self._stack_event(stack, "CREATE_IN_PROGRESS", "")
            self._plan_apply(stack, {}, "CREATE")
            return stack

    def update_stack(self, stack_id: str, body: str, given: Mapping[str, str]) -> Stack:
        """Validate and start updating a stack to a new template and parameters."""
        doc, values = self.check_template(body, given)
        with self._lock:
            stack = self.stack(stack_id)
            if stack.busy:
                raise RosError(
                    "StackOperationInProgress", f"The Stack ({stack.name}) is {stack.status}.", 409
                )
            if _digest([doc, values]) == _digest([stack.template, stack.parameters]):
                raise RosError("NotSupported", "Update the completely same stack is not supported.")
            kept = {n: dataclasses.replace(r) for n, r in stack.resources.items()}
            previous = (stack.template, stack.parameters, kept)
            stack.template, stack.parameters, stack.updated = doc, values, self.clock()
            stack.status, stack.reason = "UPDATE_IN_PROGRESS", ""
            self._stack_event(stack, "UPDATE_IN_PROGRESS", "")
            self._plan_apply(stack, previous[2], "UPDATE", previous)
            return stack

    def delete_stack(self, stack_id: str) -> None:
        """Start deleting a stack."""
        with self._lock:
            stack = self.stack(stack_id)
            if stack.busy:
                raise RosError(
                    "StackOperationInProgress", f"The Stack ({stack.name}) is {stack.status}.", 409
                )
            stack.status, stack.reason = "DELETE_IN_PROGRESS", ""
            self._stack_event(stack, "DELETE_IN_PROGRESS", "")
            stack.steps = self._delete_steps(stack, list(stack.resources))
            stack.steps.append(lambda: self._finish(stack, "DELETE_COMPLETE", ""))

    # -- reads (each advances the stack's operation by one step) -------------------------------------

    def stack(self, stack_id: str, *, deleted: bool = False) -> Stack:
        """The stack, without advancing it; ``StackNotFound`` if unknown, or deleted (a deleted stack
        stays readable by id, with ``deleted=True``, as ROS keeps it for a while)."""
        with self._lock:
            stack = self._stacks.get(stack_id)
            if stack is None or (stack.status == "DELETE_COMPLETE" and not deleted):
                raise RosError("StackNotFound", f"The Stack ({stack_id}) could not be found.", 404)
            return stack

    def observe(self, stack_id: str) -> Stack:
        """Read a stack the way a client polls it: its operation moves one step on."""
        with self._lock:
            stack = self._stacks.get(stack_id)
            if stack is not None and stack.steps:
                stack.steps.pop(0)()
            return self.stack(stack_id, deleted=True)

    def live(self) -> list[Stack]:
        """Every stack not deleted, in every region."""
        with self._lock:
            return [s for s in self._stacks.values() if s.status != "DELETE_COMPLETE"]

    def find(self, names: list[str], region: str) -> list[Stack]:
        """Live stacks of ``region``, by name when ``names`` is given."""
        return [s for s in self.live() if s.region == region and (not names or s.name in names)]

    # -- planning ---------------------------------------------------------------------------------------

    def _stack_event(self, stack: Stack, status: str, reason: str) -> None:
        event = Event(
            str(uuid.uuid4()), stack.name, stack.stack_id, "ALIYUN::ROS::Stack", status, reason, self.clock()
        )
        stack.events.append(event)

    def _resource_event(self, stack: Stack, resource: Resource, reason: str = "") -> None:
        event = Event(
            str(uuid.uuid4()),
            resource.logical_id,
            resource.physical_id,
            resource.type,
            resource.status,
            reason,
            self.clock(),
        )
        stack.events.append(event)

    def _resolver(self, stack: Stack) -> Resolver:
        pseudo = {
            "ALIYUN::Region": stack.region,
            "ALIYUN::AccountId": self.account_id,
            "ALIYUN::StackId": stack.stack_id,
            "ALIYUN::StackName": stack.name,
        }
        resolver: Resolver

        def attribute(logical: str, name: str | None) -> Any:
            body = stack.template["Resources"][logical]
            props = resolver.resolve(body.get("Properties") or {})
            physical = next(
                (str(v) for k, v in props.items() if k.endswith("Name") and isinstance(v, str)),
                f"{logical}-{stack.stack_id[:8]}",
            )
            if name is None:
                return physical
            if name in props and isinstance(props[name], str):
                return props[name]
            if name == "Arn" and body["Type"] == "ALIYUN::RAM::Role":
                return f"acs:ram::{self.account_id}:role/{physical}"
            if name.lower() == "arn":
                service = body["Type"].split("::")[1].lower()
                return f"acs:{service}:{stack.region}:{self.account_id}:{logical.lower()}/{physical}"
            return physical if name.endswith("Name") or name == "Name" else f"{physical}/{name}"

        resolver = Resolver(stack.template, stack.parameters, pseudo, attribute)
        return resolver

    def _plan_apply(
        self,
        stack: Stack,
        before: dict[str, Resource],
        action: str,
        previous: tuple[dict[str, Any], dict[str, str], dict[str, Resource]] | None = None,
    ) -> None:
        doc = stack.template
        steps: list[Step] = []
        resolver = self._resolver(stack)
        for logical in creation_order(doc):
            body = doc["Resources"][logical]
            # What the resource is given, parameters and references resolved: that is what changes.
            digest = _digest([body["Type"], resolver.resolve(body.get("Properties") or {})])
            old = before.get(logical)
            if old is not None and old.digest == digest:
                continue
            verb = "CREATE" if old is None else "UPDATE"
            steps.append(self._start(stack, logical, body["Type"], digest, verb))
            steps.append(self._complete(stack, logical, verb, action, previous))
        removed = [name for name in before if name not in doc["Resources"]]
        steps += self._delete_steps(stack, removed)
        steps.append(lambda: self._finish(stack, f"{action}_COMPLETE", ""))
        stack.steps = steps

    def _start(self, stack: Stack, logical: str, kind: str, digest: str, verb: str) -> Step:
        def step() -> None:
            resource = stack.resources.get(logical) or Resource(logical, kind, digest)
            resource.digest, resource.status = digest, f"{verb}_IN_PROGRESS"
            stack.resources[logical] = resource
            self._resource_event(stack, resource)

        return step

    def _complete(
        self,
        stack: Stack,
        logical: str,
        verb: str,
        action: str,
        previous: tuple[dict[str, Any], dict[str, str], dict[str, Resource]] | None,
    ) -> Step:
        def step() -> None:
            resource = stack.resources[logical]
            reason = self.fail_resources.get(logical)
            if reason is not None:
                resource.status = f"{verb}_FAILED"
                self._resource_event(stack, resource, reason)
                self._roll_back(
                    stack, action, f"Resource {logical} ({resource.type}) failed: {reason}", previous
                )
                return
            resource.physical_id = resource.physical_id or str(
                self._resolver(stack).resolve({"Ref": logical})
            )
            resource.status = f"{verb}_COMPLETE"
            self._resource_event(stack, resource, "state changed")

        return step

    def _delete_steps(self, stack: Stack, names: list[str]) -> list[Step]:
        steps: list[Step] = []
        order = [n for n in creation_order({"Resources": _bodies(stack)}) if n in names]
        for logical in reversed(order):

            def start(logical: str = logical) -> None:
                resource = stack.resources[logical]
                resource.status = "DELETE_IN_PROGRESS"
                self._resource_event(stack, resource)

            def done(logical: str = logical) -> None:
                resource = stack.resources.pop(logical)
                resource.status = "DELETE_COMPLETE"
                self._resource_event(stack, resource)

            steps += [start, done]
        return steps

    def _roll_back(
        self,
        stack: Stack,
        action: str,
        reason: str,
        previous: tuple[dict[str, Any], dict[str, str], dict[str, Resource]] | None,
    ) -> None:
        if action == "CREATE" and stack.disable_rollback:
            stack.steps = [lambda: self._finish(stack, "CREATE_FAILED", reason)]
            return
        prefix = "CREATE_ROLLBACK" if action == "CREATE" else "ROLLBACK"
        stack.status, stack.reason = f"{prefix}_IN_PROGRESS", reason
        self._stack_event(stack, stack.status, reason)
        if previous is None:  # a failed create: delete what it made
            steps = self._delete_steps(stack, list(stack.resources))
        else:  # a failed update: back to the previous template, parameters and resources
            stack.template, stack.parameters, kept = previous
            steps = self._delete_steps(stack, [n for n in stack.resources if n not in kept])

            def restore() -> None:
                stack.resources.update({n: dataclasses.replace(r) for n, r in kept.items()})

            steps.append(restore)
        steps.append(lambda: self._finish(stack, f"{prefix}_COMPLETE", reason))
        stack.steps = steps

    def _finish(self, stack: Stack, status: str, reason: str) -> None:
        stack.status, stack.reason = status, reason
        if status in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "ROLLBACK_COMPLETE"):
            resolver = self._resolver(stack)
            stack.outputs = [
                {
                    "OutputKey": key,
                    "OutputValue": str(resolver.resolve(spec["Value"])),
                    "Description": str(spec.get("Description", "")),
                }
                for key, spec in (stack.template.get("Outputs") or {}).items()
            ]
        self._stack_event(stack, status, reason)


def _bodies(stack: Stack) -> dict[str, Any]:
    """The template bodies of the resources a stack holds now (deleted ones by type only)."""
    bodies = dict(stack.template.get("Resources") or {})
    for logical, resource in stack.resources.items():
        bodies.setdefault(logical, {"Type": resource.type})
    return bodies


def _busy(stack: Stack) -> RosError:
    return RosError("StackOperationInProgress", f"The Stack ({stack.name}) is {stack.status}.", 409)
