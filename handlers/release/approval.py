"""Pure approval logic: references in links, what the approver is shown, and what a decision is.

A link carries a random approval id (256 bits) and nothing else. The store is keyed by the id's
SHA-256, so the task token never leaves the server and the table alone cannot forge a link.

Each approver gets a link of their own, mailed to their address only (the approval topic's subscription for
that address filters on the message's `approver` attribute). A link's item names its approver and the one
approval record of the release; a decision made from it records the address it was sent to, and the name typed
on the page is kept as a note. The record decides once for the whole release: every other link then shows it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict

from .config import ReleaseConfig
from .health import HealthReport
from .topology import Topology, listener_url

_APPROVAL_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
NAME_LIMIT = 100
REASON_LIMIT = 1000


class ApprovalStatus(StrEnum):
    PENDING = "PENDING"
    DECIDED = "DECIDED"
    ENDED = "ENDED"  # a decision was made, but the release had stopped waiting before it arrived


class LinkState(StrEnum):
    """What a link leads to; anything but PENDING gets a page that changes nothing."""

    PENDING = "pending"
    DECIDED = "decided"
    NO_LONGER_WAITING = "no-longer-waiting"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Decision:
    approved: bool
    by: str  # the name typed on the page (a note), or the command line's user
    reason: str
    at: int  # epoch seconds
    source_ip: str
    approver: str = ""  # the address the link was sent to ("": the command line, or a link for the whole topic)

    @property
    def who(self) -> str:
        return f"{self.approver} (as {self.by})" if self.approver else self.by


@dataclass(frozen=True)
class ApprovalLink:
    """One approver's link: its key (the hash of the id it carries), whom it was sent to, and the release's record."""

    key: str
    record_key: str
    approver: str
    execution_arn: str
    created_at: int
    expires_at: int


@dataclass(frozen=True)
class ApprovalRecord:
    key: str
    task_token: str
    execution_arn: str
    summary_json: str
    status: ApprovalStatus
    created_at: int
    expires_at: int
    decision: Decision | None = None

    @property
    def summary(self) -> ApprovalSummary:
        summary: ApprovalSummary = json.loads(self.summary_json)
        return summary


class ApprovalSummary(TypedDict):
    action: str
    loadBalancer: str
    greenService: str
    liveService: str
    liveImages: list[str]
    newImages: list[str]
    productionUrl: str
    testUrl: str
    health: list[str]
    description: str
    execution: str
    expiresAt: int


class InvalidDecision(ValueError):
    """The submitted form is incomplete; the page is shown again with the message."""


def is_well_formed(approval_id: str) -> bool:
    return bool(_APPROVAL_ID.match(approval_id))


def approval_key(approval_id: str) -> str:
    return hashlib.sha256(approval_id.encode()).hexdigest()


def compute_link_state(record: ApprovalRecord | None, now: int) -> LinkState:
    if record is None:
        return LinkState.UNKNOWN
    if record.status is ApprovalStatus.DECIDED:
        return LinkState.DECIDED
    if record.status is ApprovalStatus.ENDED:
        return LinkState.NO_LONGER_WAITING
    if now >= record.expires_at:
        return LinkState.EXPIRED
    return LinkState.PENDING


def compute_summary(config: ReleaseConfig, topology: Topology, health: HealthReport | None,
                    execution_arn: str, expires_at: int) -> ApprovalSummary:
    return {
        "action": config["action"],
        "loadBalancer": topology["loadBalancerName"],
        "greenService": topology["green"]["service"]["serviceName"],
        "liveService": topology["blue"]["service"]["serviceName"],
        "liveImages": topology["blue"]["service"]["images"],
        "newImages": topology["green"]["service"]["images"],
        "productionUrl": listener_url(topology, "production"),
        "testUrl": listener_url(topology, "test"),
        "health": [c["detail"] for c in (health or {"checks": []})["checks"]],
        "description": config["description"],
        "execution": execution_arn,
        "expiresAt": expires_at,
    }


def compose_request(summary: ApprovalSummary, link: str) -> tuple[str, str]:
    """Subject and body of the approval request; the link opens a page, it decides nothing."""
    verb = "Roll back" if summary["action"] == "rollback" else "Release"
    new = ", ".join(summary["newImages"])
    subject = f"Approve? {verb} {summary['greenService']}: {new}"
    lines = [
        f"{verb} waiting for approval on load balancer {summary['loadBalancer']}.",
        "",
        f"Now live ({summary['liveService']}): {', '.join(summary['liveImages'])}",
        f"To go live ({summary['greenService']}): {new}",
    ]
    if summary["description"]:
        lines.append(f"Description: {summary['description']}")
    lines += ["", "Health of the side to go live:"] + [f"  - {h}" for h in summary["health"] or ["not checked"]]
    lines += [
        "",
        f"Try it first on the test URL: {summary['testUrl']}",
        "",
        f"Review and decide (approve or reject): {link}",
        "Opening the link changes nothing; the decision is made on the page.",
        "The link is yours: a decision made from it is recorded as yours. One decision, from any approver's "
        "link, decides the release; the link expires when the approval times out.",
    ]
    return subject, "\n".join(lines)


def parse_decision(form: dict[str, list[str]], now: int, source_ip: str) -> Decision:
    """The decision in a submitted form, or InvalidDecision saying what to fix."""
    def field(name: str) -> str:
        values = form.get(name, [])
        return values[0].strip() if values else ""

    choice = field("decision")
    if choice not in {"approve", "reject"}:
        raise InvalidDecision("Choose Approve or Reject.")
    name = field("name")
    if not name or len(name) > NAME_LIMIT or not name.isprintable():
        raise InvalidDecision(f"Type your name (1 to {NAME_LIMIT} characters) so the decision is on record.")
    reason = field("reason")
    if len(reason) > REASON_LIMIT or not all(ch.isprintable() or ch in "\r\n" for ch in reason):
        raise InvalidDecision(f"The reason can be at most {REASON_LIMIT} characters of text.")
    if choice == "reject" and not reason:
        raise InvalidDecision("Say why you reject the release, so the team knows what to fix.")
    return Decision(approved=choice == "approve", by=name, reason=reason, at=now, source_ip=source_ip)


def compute_task_output(decision: Decision) -> dict[str, Any]:
    """What SendTaskSuccess carries into the execution: who approved (the link's address, and the name typed),
    when, why, from where."""
    return {"approvedBy": decision.who, "approver": decision.approver, "note": decision.by,
            "approvedAt": decision.at, "reason": decision.reason, "sourceIp": decision.source_ip}


def compute_rejection_cause(decision: Decision) -> str:
    return json.dumps({"rejectedBy": decision.who, "approver": decision.approver, "note": decision.by,
                       "rejectedAt": decision.at, "reason": decision.reason, "sourceIp": decision.source_ip})


def compute_links(approvers: list[str], record_key: str, execution_arn: str, created_at: int, expires_at: int,
                  new_id: Callable[[], str]) -> list[tuple[str, ApprovalLink]]:
    """(approval id, link) per approver; with no approver address, one link for whoever the topic mails."""
    links = []
    for approver in approvers or [""]:
        approval_id = new_id()
        links.append((approval_id, ApprovalLink(approval_key(approval_id), record_key, approver, execution_arn,
                                                created_at, expires_at)))
    return links
