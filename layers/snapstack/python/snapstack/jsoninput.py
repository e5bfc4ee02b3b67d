"""Untrusted JSON into a pydantic model, with the first problem named as (field, rule)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class JsonInputError(Exception):
    """The JSON did not parse or did not fit the model: ``field`` and ``rule`` say where and why."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


def parse_json_model(model: type[M], data: str | bytes) -> M:
    """``model`` validated from the JSON text ``data``; raises ``JsonInputError``."""
    try:
        raw: Any = json.loads(data)
    except (ValueError, RecursionError) as exc:  # also: not UTF-8, nested too deep, an integer too long
        raise JsonInputError("(body)", f"not valid JSON ({exc})") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise JsonInputError(".".join(str(p) for p in first["loc"]) or "(top level)", first["msg"]) from None
