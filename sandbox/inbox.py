"""The sandbox's email: every message published to an SNS topic, kept for the inbox page and CLI."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from moto.sns.models import Topic

LINK = re.compile(r"https?://\S+")
MESSAGES: list[dict[str, Any]] = []
_lock = threading.Lock()
_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    publish = Topic.publish

    def publish_and_keep(self: Topic, message: str, subject: str | None = None, *args: Any, **kwargs: Any) -> str:
        message_id: str = publish(self, message, subject, *args, **kwargs)
        with _lock:
            MESSAGES.append({"id": message_id, "time": time.strftime("%H:%M:%S"), "epoch": time.time(),
                             "topic": self.name, "subject": subject or "", "message": message,
                             "links": LINK.findall(message)})
        return message_id

    Topic.publish = publish_and_keep  # type: ignore[method-assign]
    _installed = True


def messages() -> list[dict[str, Any]]:
    with _lock:
        return list(MESSAGES)
