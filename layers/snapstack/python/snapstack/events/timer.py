"""Timer trigger: ``{"triggerTime": "...Z", "triggerName": "...", "payload": "..."}``.

``payload`` is the trigger message configured on the trigger, delivered as a string even when
it holds JSON (``payload_json`` parses it a second time).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict

from snapstack.events._wire import ROOT, Node, decoding, iso, load_json


class TimerEvent(BaseModel):
    """One firing of a timer trigger."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    shape: ClassVar[str] = "timer"

    trigger_time: AwareDatetime
    trigger_name: str
    payload: str | None = None

    @classmethod
    @decoding("timer")
    def from_json(cls, value: Any) -> TimerEvent:
        """Decode the parsed JSON of a timer event; raises EventDecodeError."""
        node = Node(cls.shape, ROOT, value)
        return cls(
            trigger_time=node.time("triggerTime"),
            trigger_name=node.req_str("triggerName"),
            payload=node.opt_str("payload"),
        )

    @property
    def dedupe_key(self) -> str:
        """Trigger name + trigger time: the same firing delivered twice has the same key."""
        return f"timer:{self.trigger_name}:{iso(self.trigger_time)}"

    def payload_json(self) -> Any:
        """The payload parsed as JSON (None when there is no payload); raises EventDecodeError."""
        return None if self.payload is None else load_json(self.payload, self.shape, "payload")
