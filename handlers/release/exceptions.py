"""Errors of the release engine.

Each class name is an ASL error name: Lambda reports the exception's class name as the error
type, and the state machine's Retry/Catch/Fail states match on it. `tests/unit/test_asl.py`
checks that every name the ASL uses exists here.
"""

from __future__ import annotations


class ReleaseError(Exception):
    """Base of every error the engine raises on purpose."""


class InvalidInput(ReleaseError):
    """The release request is malformed; nothing was read or changed."""


class AwsTransientError(ReleaseError):
    """An AWS call was throttled or hit a server error after the SDK's own retries; safe to retry."""


class AwsCallFailed(ReleaseError):
    """An AWS call failed for a reason a retry will not fix (access denied, validation, ...)."""


class TopologyError(ReleaseError):
    """The load balancer, listeners, target groups or services are not a valid blue/green pair."""


class LoadBalancerNotFound(TopologyError):
    """The load balancer named in the request does not exist."""


class ListenerNotFound(TopologyError):
    """The load balancer has no listener on the production or test port."""


class TargetGroupNotFound(TopologyError):
    """A listener forwards to a target group that does not exist."""


class UnsupportedListenerAction(TopologyError):
    """A listener's default actions have no forward action the engine can manage."""


class TrafficSplitInProgress(TopologyError):
    """A listener forwards to several target groups although no shift is in progress."""


class ListenersShareTargetGroup(TopologyError):
    """The production and test listeners forward to the same target group."""


class ListenerRulesReferenceTargetGroups(TopologyError):
    """A non-default listener rule forwards to a target group of the pair; a swap would miss it."""


class ServiceNotFound(TopologyError):
    """No ECS service in the cluster is registered in one of the pair's target groups."""


class GreenUnhealthy(ReleaseError):
    """The side about to take production traffic did not become healthy before the deadline."""


class ApprovalRejected(ReleaseError):
    """An operator rejected the release (sent through SendTaskFailure by the approval endpoint)."""


class ApprovalTimedOut(ReleaseError):
    """Nobody decided before the approval timeout (the state machine maps States.Timeout to it)."""


class TopologyChanged(ReleaseError):
    """Listeners or green's task definition changed between discovery and the swap; nothing was changed."""


class SwapVerificationFailed(ReleaseError):
    """After the swap, reading the listeners back did not show the expected routing."""


class NotificationFailed(ReleaseError):
    """The outcome could not be reported to SNS or CodePipeline."""


class UnexpectedGreenImage(TopologyError):
    """Green does not run the image the request expects (the deploy step did not update green)."""


class ApprovalNoLongerPending(ReleaseError):
    """The execution stopped waiting (timed out, finished or was stopped) before the decision arrived."""


class DecisionNotDelivered(AwsCallFailed):
    """Step Functions refused an approval decision for a reason a retry will not fix; the approval is open again."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code  # AWS's error code: fit to show an approver, unlike the message (accounts, roles)


class ReleaseInProgress(ReleaseError):
    """Another release holds this load balancer's lock and is still running."""


class AlarmNotFound(TopologyError):
    """A CloudWatch alarm named in the request does not exist (a typo would silently disable the guard)."""


class RolledBack(ReleaseError):
    """An alarm, unhealthy production targets or an abort sent traffic back to blue (outcome, not a bug)."""


class HookFailed(ReleaseError):
    """A lifecycle hook answered FAILED, answered something else than its contract, failed or timed out."""


class HookNotFound(InvalidInput):
    """A hook named in the request does not exist, or is outside the functions this system may invoke."""
