"""Delivering an approval decision exactly once, from the web page or from the command line.

The record is claimed with a conditional write before anything is sent, so replays and concurrent
duplicates find it decided. If the decision cannot be delivered, the claim is released whatever the
reason, so that it can be made again once the cause is gone; unless the failure proves that the release
no longer waits, which is then recorded: the link stays closed and says so.
"""

from __future__ import annotations

from enum import StrEnum

from .approval import (
    ApprovalRecord,
    Decision,
    LinkState,
    compute_link_state,
    compute_rejection_cause,
    compute_task_output,
)
from .exceptions import ApprovalNoLongerPending, ApprovalRejected, AwsTransientError, DecisionNotDelivered, ReleaseError
from .gateways.approvals import ApprovalStore
from .gateways.workflow import Workflow


class Delivery(StrEnum):
    DELIVERED = "delivered"
    ALREADY_DECIDED = "already-decided"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    NO_LONGER_PENDING = "no-longer-pending"
    TRY_AGAIN = "try-again"


def deliver_decision(store: ApprovalStore, workflow: Workflow, key: str,
                     decision: Decision) -> tuple[Delivery, ApprovalRecord | None]:
    """Claim the approval `key` for `decision`, then send it; the record as the claim found or left it (None:
    unknown link). The claim reads the record in the same write: there is no window between reading and
    claiming, and no read of the record before it (the page reads only the link, to find the record)."""
    claim = store.claim(key, decision)
    record = claim.record
    if not claim.won or record is None:  # another decision, the deadline, or no such link
        return _closed(compute_link_state(record, decision.at)), record
    try:
        _send(workflow, record, decision)
        return Delivery.DELIVERED, record
    except Exception as exc:  # noqa: BLE001 - every failure to deliver releases the claim; it is raised again below
        failure = exc
    if _has_stopped_waiting(failure, workflow, record):
        store.end(key, decision)
        return Delivery.NO_LONGER_PENDING, record
    # Not delivered, as far as AWS answered: the link works again. Should a lost answer hide a delivery, Step
    # Functions refuses the repeat (the task is closed), and the link then says the release no longer waits.
    store.release(key, decision)
    if isinstance(failure, AwsTransientError):
        return Delivery.TRY_AGAIN, record
    if isinstance(failure, DecisionNotDelivered):
        raise DecisionNotDelivered(f"{failure} The decision was not delivered; nothing was changed and the "
                                   "approval is open again: decide again once the cause is fixed.",
                                   failure.code) from failure
    raise failure


def _send(workflow: Workflow, record: ApprovalRecord, decision: Decision) -> None:
    if decision.approved:
        workflow.send_success(record.task_token, compute_task_output(decision))
    else:
        workflow.send_failure(record.task_token, ApprovalRejected.__name__, compute_rejection_cause(decision))


def _has_stopped_waiting(failure: Exception, workflow: Workflow, record: ApprovalRecord) -> bool:
    """Whether the failure proves the release no longer waits: its task is closed, or the token refused as invalid
    belongs to an execution that has ended. In doubt, no: the link is reopened rather than closed for good."""
    if isinstance(failure, ApprovalNoLongerPending):
        return True
    if not (isinstance(failure, DecisionNotDelivered) and failure.code == "InvalidToken"):
        return False
    try:
        return workflow.execution_status(record.execution_arn) != "RUNNING"
    except ReleaseError:
        return False


def _closed(state: LinkState) -> Delivery:
    return {LinkState.DECIDED: Delivery.ALREADY_DECIDED, LinkState.NO_LONGER_WAITING: Delivery.NO_LONGER_PENDING,
            LinkState.EXPIRED: Delivery.EXPIRED}.get(state, Delivery.UNKNOWN)
