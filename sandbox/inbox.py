"""The sandbox's email: every message published to an SNS topic, kept for the inbox page and CLI.

Each message says whom it was mailed to: the topic's email subscriptions whose filter policy admits it (the
approval topic mails each approver a link of their own through such policies).
"""

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

    def publish_and_keep(self: Topic, message: str, subject: str | None = None,
                         message_attributes: dict[str, Any] | None = None, *args: Any, **kwargs: Any) -> str:
        message_id: str = publish(self, message, subject, message_attributes, *args, **kwargs)
        with _lock:
            MESSAGES.append({"id": message_id, "time": time.strftime("%H:%M:%S"), "epoch": time.time(),
                             "topic": self.name, "to": recipients(self, message, message_attributes or {}),
                             "subject": subject or "", "message": message, "links": LINK.findall(message)})
        return message_id

    Topic.publish = publish_and_keep  # type: ignore[method-assign]
    _installed = True


def recipients(topic: Topic, message: str, attributes: dict[str, Any]) -> list[str]:
    """The addresses SNS would mail `message` to: the topic's email subscriptions whose filter policy admits it."""
    subscriptions, _ = topic.sns_backend.list_subscriptions_by_topic(topic_arn=topic.arn)
    return [s.endpoint for s in subscriptions if s.protocol in ("email", "email-json")
            and (s._filter_policy_matcher is None or s._filter_policy_matcher.matches(attributes, message))]


def messages() -> list[dict[str, Any]]:
    with _lock:
        return list(MESSAGES)


def restore(saved: list[dict[str, Any]]) -> None:
    with _lock:
        MESSAGES[:] = saved
