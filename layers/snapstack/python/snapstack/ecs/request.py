"""CreateSnapshotRequest: every parameter rule of the CreateSnapshot contract, enforced before a call.

The model is the one place the rules live. The client builds it before calling ECS; the
devkit emulator parses the wire into it (``from_query``) so the server side answers with the
same codes. A broken rule raises ``InvalidRequest`` naming the field, the rule and the error
code the service returns for it.

Where the contract is silent we chose, and say so here:
- "letters": Unicode letters (``str.isalpha``), as the SDK's docs allow Chinese names; digits
  are ASCII. The seed's character set (no periods) is kept.
- ``auto`` is matched case-sensitively, as written.
- Rules with no code of their own in the contract (ClientToken, InstantAccessRetentionDays,
  Category together with InstantAccess, StorageLocationArn) answer ``InvalidParameter``.
- ``StorageLocationArn`` is documented as unavailable: sending it is refused here.
- ``InstantAccessRetentionDays`` without ``InstantAccess=true`` would be silently ignored by
  the service; the model refuses it so a policy never believes it set something it did not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from snapstack.ecs.errors import InvalidRequest, Violation

if TYPE_CHECKING:
    from alibabacloud_ecs20140526 import models as ecs_models

MAX_TAGS = 20
_URL_PREFIXES = ("http://", "https://")
_NAME_TAIL = re.compile(r"[0-9:_\-]")
_TAG_PARAM = re.compile(r"^Tag\.(\d+)\.(Key|Value|key|value)$")


class SnapshotTag(BaseModel):
    """One tag for the new snapshot."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: StrictStr
    value: StrictStr = ""


# --- the rules, one function per parameter, each returning the violations it finds --------------


def _name_rules(name: str) -> list[Violation]:
    code, field = "InvalidSnapshotName.Malformed", "SnapshotName"
    out: list[Violation] = []
    if not 2 <= len(name) <= 128:
        out.append(Violation(field, "must be 2 to 128 characters long", code))
    if name.startswith(_URL_PREFIXES):
        out.append(Violation(field, "must not start with http:// or https://", code))
    elif not name[:1].isalpha():
        out.append(Violation(field, "must start with a letter", code))
    if name.startswith("auto"):
        out.append(Violation(field, "must not start with 'auto' (reserved for automatic snapshots)", code))
    bad = sorted({c for c in name if not (c.isalpha() or _NAME_TAIL.fullmatch(c))})
    if bad:
        out.append(
            Violation(field, f"may contain only letters, digits, ':', '_' and '-' (found {bad!r})", code)
        )
    return out


def _description_rules(text: str) -> list[Violation]:
    code, field = "InvalidDescription.Malformed", "Description"
    out: list[Violation] = []
    if not 2 <= len(text) <= 256:
        out.append(Violation(field, "must be 2 to 256 characters long", code))
    if text.startswith(_URL_PREFIXES):
        out.append(Violation(field, "must not start with http:// or https://", code))
    return out


def _tag_rules(tags: tuple[SnapshotTag, ...]) -> list[Violation]:
    out: list[Violation] = []
    if len(tags) > MAX_TAGS:
        out.append(Violation("Tag", f"at most {MAX_TAGS} tags (got {len(tags)})", "QuotaExceed.Tags"))
    seen: set[str] = set()
    for n, tag in enumerate(tags, start=1):
        kf, vf = f"Tag.{n}.Key", f"Tag.{n}.Value"
        kc, vc = "InvalidTagKey.Malformed", "InvalidTagValue.Malformed"
        if not tag.key:
            out.append(Violation(kf, "must not be empty", kc))
        if len(tag.key) > 128:
            out.append(Violation(kf, "must be at most 128 characters long", kc))
        if tag.key.startswith(("acs:", "aliyun")):
            out.append(Violation(kf, "must not start with 'acs:' or 'aliyun'", kc))
        if any(p in tag.key for p in _URL_PREFIXES):
            out.append(Violation(kf, "must not contain http:// or https://", kc))
        if len(tag.value) > 128:
            out.append(Violation(vf, "must be at most 128 characters long", vc))
        if tag.value.startswith("acs:"):
            out.append(Violation(vf, "must not start with 'acs:'", vc))
        if any(p in tag.value for p in _URL_PREFIXES):
            out.append(Violation(vf, "must not contain http:// or https://", vc))
        if tag.key and tag.key in seen:
            out.append(Violation(kf, f"duplicate tag key {tag.key!r}", "Duplicate.TagKey"))
        seen.add(tag.key)
    return out


class CreateSnapshotRequest(BaseModel):
    """A validated CreateSnapshot request. Construction raises ``InvalidRequest`` on any broken rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    disk_id: StrictStr
    snapshot_name: StrictStr | None = None
    description: StrictStr | None = None
    retention_days: StrictInt | None = None
    category: StrictStr | None = None
    instant_access: StrictBool | None = None
    instant_access_retention_days: StrictInt | None = None
    client_token: StrictStr | None = None
    resource_group_id: StrictStr | None = None
    storage_location_arn: StrictStr | None = None
    tags: tuple[SnapshotTag, ...] = Field(default=())

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidRequest([_violation_from_pydantic(e) for e in exc.errors()]) from None

    @model_validator(mode="after")
    def _enforce_contract(self) -> CreateSnapshotRequest:
        problems = self.violations()
        if problems:
            raise InvalidRequest(problems)
        return self

    def violations(self) -> list[Violation]:
        """Every broken rule, in the contract's parameter order (empty when valid)."""
        out: list[Violation] = []
        if not self.disk_id:
            out.append(Violation("DiskId", "is required", "MissingParameter"))
        if self.snapshot_name is not None:
            out += _name_rules(self.snapshot_name)
        if self.description is not None:
            out += _description_rules(self.description)
        if self.retention_days is not None and not 1 <= self.retention_days <= 65536:
            out.append(
                Violation("RetentionDays", "must be 1 to 65536 days", "InvalidRetentionDays.Malformed")
            )
        if self.category is not None and self.category not in ("Standard", "Flash"):
            out.append(
                Violation("Category", "must be 'Standard' or 'Flash'", "InvalidSnapshotCategory.Malformed")
            )
        if self.category is not None and self.instant_access is not None:
            out.append(
                Violation("Category", "cannot be given together with InstantAccess", "InvalidParameter")
            )
        if self.client_token is not None and (not self.client_token.isascii() or len(self.client_token) > 64):
            out.append(
                Violation("ClientToken", "must be ASCII and at most 64 characters long", "InvalidParameter")
            )
        if self.instant_access_retention_days is not None:
            if not 1 <= self.instant_access_retention_days <= 65535:
                out.append(
                    Violation("InstantAccessRetentionDays", "must be 1 to 65535 days", "InvalidParameter")
                )
            if self.instant_access is not True:
                out.append(
                    Violation(
                        "InstantAccessRetentionDays",
                        "takes effect only with InstantAccess=true",
                        "InvalidParameter",
                    )
                )
        out += _tag_rules(self.tags)
        if self.storage_location_arn is not None:
            out.append(Violation("StorageLocationArn", "is unavailable in this API", "InvalidParameter"))
        return out

    # --- conversions ---------------------------------------------------------------------------

    def to_sdk(self) -> ecs_models.CreateSnapshotRequest:
        """The official SDK's request object (imports the SDK models on first use)."""
        from alibabacloud_ecs20140526 import models as ecs_models

        return ecs_models.CreateSnapshotRequest(
            disk_id=self.disk_id,
            snapshot_name=self.snapshot_name,
            description=self.description,
            retention_days=self.retention_days,
            category=self.category,
            instant_access=self.instant_access,
            instant_access_retention_days=self.instant_access_retention_days,
            client_token=self.client_token,
            resource_group_id=self.resource_group_id,
            storage_location_arn=self.storage_location_arn,
            tag=[ecs_models.CreateSnapshotRequestTag(key=t.key, value=t.value) for t in self.tags] or None,
        )

    @classmethod
    def from_sdk(cls, sdk: ecs_models.CreateSnapshotRequest) -> CreateSnapshotRequest:
        """Validate an SDK request object (the reverse of ``to_sdk``)."""
        fields = {name: getattr(sdk, name) for name in _SDK_FIELDS if getattr(sdk, name) is not None}
        tags = tuple(SnapshotTag(key=t.key or "", value=t.value or "") for t in sdk.tag or ())
        return cls(disk_id=sdk.disk_id or "", tags=tags, **fields)

    def to_query(self) -> dict[str, str]:
        """Wire parameters as the SDK serialises them (booleans ``True``/``False``, ``Tag.N.Key``)."""
        out: dict[str, str] = {}
        for name, wire in _WIRE_NAMES.items():
            value = getattr(self, name)
            if value is not None:
                out[wire] = str(value)
        for n, tag in enumerate(self.tags, start=1):
            out[f"Tag.{n}.Key"] = tag.key
            out[f"Tag.{n}.Value"] = tag.value
        return out

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> CreateSnapshotRequest:
        """Parse wire parameters, including the deprecated ``Tag.N.key``/``Tag.N.value`` spellings.

        Unknown parameters are ignored, as the service ignores them.
        """
        problems: list[Violation] = []
        data: dict[str, Any] = {"disk_id": params.get("DiskId", "")}
        for name, wire in _WIRE_NAMES.items():
            raw = params.get(wire)
            if raw is None or name == "disk_id":
                continue
            kind = _WIRE_KINDS.get(name, "str")
            parsed = _parse_wire(raw, kind)
            if parsed is None:
                problems.append(
                    Violation(wire, f"must be {_KIND_WORDS[kind]}", _MALFORMED.get(wire, "InvalidParameter"))
                )
            else:
                data[name] = parsed
        tags, tag_problems = _tags_from_query(params)
        problems += tag_problems
        if problems:
            raise InvalidRequest(problems)
        return cls(tags=tags, **data)


_SDK_FIELDS = (
    "snapshot_name",
    "description",
    "retention_days",
    "category",
    "instant_access",
    "instant_access_retention_days",
    "client_token",
    "resource_group_id",
    "storage_location_arn",
)
_WIRE_NAMES = {"disk_id": "DiskId"} | {
    name: "".join(part.capitalize() for part in name.split("_")) for name in _SDK_FIELDS
}
_WIRE_KINDS = {"retention_days": "int", "instant_access_retention_days": "int", "instant_access": "bool"}
_KIND_WORDS = {"int": "a whole number", "bool": "true or false"}
_MALFORMED = {
    "SnapshotName": "InvalidSnapshotName.Malformed",
    "Description": "InvalidDescription.Malformed",
    "RetentionDays": "InvalidRetentionDays.Malformed",
    "Category": "InvalidSnapshotCategory.Malformed",
}


def _parse_wire(raw: str, kind: str) -> str | int | bool | None:
    if kind == "int":
        return int(raw) if re.fullmatch(r"-?\d{1,12}", raw) else None
    if kind == "bool":
        return {"true": True, "false": False}.get(raw.lower())
    return raw


def _tags_from_query(params: Mapping[str, str]) -> tuple[tuple[SnapshotTag, ...], list[Violation]]:
    keys: dict[int, str] = {}
    values: dict[int, str] = {}
    problems: list[Violation] = []
    for param, raw in params.items():
        match = _TAG_PARAM.match(param)
        if not match:
            continue
        n, part = int(match.group(1)), match.group(2)
        if not 1 <= n <= MAX_TAGS:
            code = "QuotaExceed.Tags" if n > MAX_TAGS else "InvalidParameter"
            problems.append(Violation(param, f"N must be 1 to {MAX_TAGS}", code))
            continue
        # The current spelling wins over the deprecated lower-case one when both are sent.
        target = keys if part.lower() == "key" else values
        if part[0].isupper() or n not in target:
            target[n] = raw
    tags = tuple(SnapshotTag(key=keys.get(n, ""), value=values.get(n, "")) for n in sorted(keys | values))
    return tags, problems


def _violation_from_pydantic(error: Mapping[str, Any]) -> Violation:
    loc = error.get("loc", ())
    name = str(loc[0]) if loc else "request"
    wire = _WIRE_NAMES.get(name, "Tag" if name == "tags" else name)
    if name == "disk_id" and error.get("type") == "missing":
        return Violation("DiskId", "is required", "MissingParameter")
    rule = f"is not valid ({str(error.get('msg', 'wrong type')).lower()})"
    return Violation(wire, rule, _MALFORMED.get(wire, "InvalidParameter"))
