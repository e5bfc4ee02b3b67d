"""What one FC invocation knows about itself, read from the FC ``context`` object.

FC 2.0 and 3.0 Python runtimes differ (FACTS.md §2): python3.12 has no ``service`` and no
``credentials``; the region and request id are always there. Everything is read with
``getattr`` defaults so a missing attribute never crashes a handler.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from snapstack.ecs.retry import Deadline


@dataclass(frozen=True)
class Invocation:
    """The identity and time budget of one invocation."""

    request_id: str
    function_name: str
    service_name: str
    region: str
    timeout_seconds: float | None
    context: Any = field(default=None, repr=False, compare=False)
    started: float = field(default_factory=time.monotonic, compare=False)

    @classmethod
    def from_fc(cls, context: Any) -> Invocation:
        """Adapt an FC context (any runtime generation; None outside FC)."""
        function = getattr(context, "function", None)
        service = getattr(context, "service", None)
        timeout = getattr(function, "timeout", None)
        return cls(
            request_id=str(
                getattr(context, "request_id", None) or getattr(context, "requestId", None) or "local"
            ),
            function_name=str(getattr(function, "name", None) or os.environ.get("FC_FUNCTION_NAME", "local")),
            service_name=str(getattr(service, "name", None) or os.environ.get("FC_SERVICE_NAME", "")),
            region=str(getattr(context, "region", None) or os.environ.get("FC_REGION", "")),
            timeout_seconds=float(timeout) if timeout else None,
            context=context,
        )

    def deadline(self) -> Deadline:
        """Time left before FC stops the function, on the monotonic clock."""
        if self.timeout_seconds is None:
            return Deadline(None)
        return Deadline(self.timeout_seconds - (time.monotonic() - self.started))
