"""Which trigger shape an event is, told by its keys alone: no models, so detecting is cheap.

``decode_event`` runs these tests before it imports the one family module that decodes the
shape found, so a function only loads the event families it is actually sent.
"""

from __future__ import annotations

import re
from typing import Any

#: The eight keys of an MNS JSON-format notification.
MNS_JSON_KEYS = frozenset(
    {
        "TopicOwner",
        "Message",
        "Subscriber",
        "PublishTime",
        "SubscriptionName",
        "MessageMD5",
        "TopicName",
        "MessageId",
    }
)
_SYSTEM_EVENT_KEYS = frozenset({"ver", "product", "resourceId", "eventTime", "content"})
_FORM_ALARM = re.compile(r"(?:^|&)(?:alertName|alertState)=")


def is_mns_json(obj: dict[str, Any]) -> bool:
    """Whether a JSON object is an MNS JSON-format notification (two or more MNS keys)."""
    return len(MNS_JSON_KEYS.intersection(obj)) >= 2


def is_stream_attrs(obj: dict[str, Any]) -> bool:
    """Whether a JSON object is the STREAM-with-attributes form."""
    return "attrs" in obj and set(obj) <= {"body", "attrs"}


def is_cms_alarm(obj: dict[str, Any]) -> bool:
    """Whether a JSON object is a CMS threshold alarm (it has alertName or alertState)."""
    return "alertName" in obj or "alertState" in obj


def is_cms_form(text: str) -> bool:
    """Whether text is a form-encoded CMS threshold alarm (an alertName= or alertState= field)."""
    return _FORM_ALARM.search(text) is not None


def is_deploy_request(obj: dict[str, Any]) -> bool:
    """Whether a JSON object is a direct deploy request (it has ``deploy_id``; decision D4)."""
    return "deploy_id" in obj


def is_system_event(obj: dict[str, Any]) -> bool:
    """Whether a JSON object is a CMS system-event notification (two or more of its keys)."""
    return len(_SYSTEM_EVENT_KEYS.intersection(obj)) >= 2
