"""AWS errors become the engine's errors where they arise: never guessed, always named."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import ANY, Stubber

from release import aws
from release import exceptions as e
from release.approval import ApprovalRecord, ApprovalStatus, Decision
from release.gateways.alarms import Alarms
from release.gateways.approvals import ApprovalStore, Claim
from release.gateways.ecs import Containers
from release.gateways.elbv2 import LoadBalancing
from release.gateways.locks import LockStore
from release.gateways.notifications import Topic
from release.gateways.pipeline import Pipeline
from release.gateways.workflow import Workflow

SERVICE = "arn:aws:ecs:us-east-1:123456789012:service/shop/blue"
LISTENER = {"ListenerArn": "arn:listener/80", "Port": 80, "Protocol": "HTTP", "DefaultActions": []}
JOB = "00000000-0000-0000-0000-000000000000"
DECISION = Decision(approved=True, by="ops", reason="", at=1_000, source_ip="192.0.2.1")


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


@pytest.mark.parametrize(("code", "status", "error", "words"), [
    ("AccessDenied", 403, e.AwsCallFailed, "Check that the function's IAM role allows"),
    ("Throttling", 400, e.AwsTransientError, "Throttling after retries"),
    ("InternalFailure", 500, e.AwsTransientError, "InternalFailure"),
    ("LoadBalancerNotFound", 400, e.LoadBalancerNotFound, "was not found"),
])
def test_discovery_errors_are_named_never_taken_for_a_first_deployment(code: str, status: int,
                                                                      error: type[Exception], words: str) -> None:
    client, stubber = stubbed("elbv2")
    stubber.add_client_error("describe_load_balancers", service_error_code=code, http_status_code=status)
    with pytest.raises(error, match=words):
        LoadBalancing(client).load_balancer("shop-alb")


def test_missing_listener_names_the_ports_that_exist() -> None:
    client, stubber = stubbed("elbv2")
    stubber.add_response("describe_listeners", {"Listeners": [
        {"ListenerArn": "arn:l/80", "Port": 80, "Protocol": "HTTP", "DefaultActions": []}]})
    with pytest.raises(e.ListenerNotFound, match="no test listener on port 8080 \\(listeners: 80\\)"):
        LoadBalancing(client).listener("arn:lb", 8080, "test")


@pytest.mark.parametrize("deleted_before", ["list_services", "describe_services"])
def test_unknown_cluster_is_named(deleted_before: str) -> None:
    client, stubber = stubbed("ecs")
    if deleted_before == "describe_services":
        stubber.add_response("list_services", {"serviceArns": [SERVICE]})
    stubber.add_client_error(deleted_before, service_error_code="ClusterNotFoundException")
    with pytest.raises(e.ServiceNotFound, match="cluster 'nope' was not found"):
        Containers(client).services_in("nope")


def test_codepipeline_job_already_reported_is_not_an_error() -> None:
    client, stubber = stubbed("codepipeline")
    stubber.add_client_error("put_job_success_result", service_error_code="InvalidJobStateException")
    assert Pipeline(client).succeed("00000000-0000-0000-0000-000000000000", "done") is False


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist"])
def test_a_decision_for_an_execution_that_stopped_waiting_is_reported_as_such(code: str) -> None:
    client, stubber = stubbed("stepfunctions")
    stubber.add_client_error("send_task_success", service_error_code=code)
    with pytest.raises(e.ApprovalNoLongerPending):
        Workflow(client).send_success("token", {})


# InvalidToken proves nothing alone: Step Functions answers it for a token it cannot read, too.
@pytest.mark.parametrize("code", ["InvalidToken", "AccessDeniedException", "KmsAccessDeniedException", "InvalidOutput"])
def test_a_decision_refused_for_good_names_the_operation_and_keeps_the_code_apart(code: str) -> None:
    client, stubber = stubbed("stepfunctions")
    stubber.add_client_error("send_task_failure", service_error_code=code, service_message="refused")
    with pytest.raises(e.DecisionNotDelivered, match=f"states:SendTaskFailure failed with {code}") as raised:
        Workflow(client).send_failure("token", "ApprovalRejected", "{}")
    assert raised.value.code == code


def test_a_decision_step_functions_did_not_answer_can_be_tried_again() -> None:
    client, stubber = stubbed("stepfunctions")
    stubber.add_client_error("send_task_success", service_error_code="ThrottlingException", http_status_code=400)
    with pytest.raises(e.AwsTransientError):
        Workflow(client).send_success("token", {})


@dataclass(frozen=True)
class Failing:
    """A gateway call whose AWS operation `method` fails, after `before` answered the calls made first."""

    operation: str  # what the error must name: the IAM action that was refused
    service: str
    method: str
    act: Callable[[Any], object]
    before: tuple[tuple[str, dict[str, Any]], ...] = ()


FAILING = [
    Failing("ecs:ListServices", "ecs", "list_services", lambda c: Containers(c).services_in("shop")),
    Failing("ecs:DescribeServices", "ecs", "describe_services", lambda c: Containers(c).services_in("shop"),
            before=(("list_services", {"serviceArns": [SERVICE]}),)),
    Failing("ecs:DescribeServices", "ecs", "describe_services", lambda c: Containers(c).service("shop", SERVICE)),
    Failing("ecs:DescribeTaskDefinition", "ecs", "describe_task_definition",
            lambda c: Containers(c).images("shop:1")),
    Failing("elbv2:DescribeLoadBalancers", "elbv2", "describe_load_balancers",
            lambda c: LoadBalancing(c).load_balancer("shop-alb")),
    Failing("elbv2:DescribeListeners", "elbv2", "describe_listeners",
            lambda c: LoadBalancing(c).listener("arn:lb", 80, "production")),
    Failing("elbv2:DescribeListeners", "elbv2", "describe_listeners",  # the second page fails
            lambda c: LoadBalancing(c).listener("arn:lb", 80, "production"),
            before=(("describe_listeners", {"Listeners": [LISTENER], "NextMarker": "page-2"}),)),
    Failing("elbv2:DescribeRules", "elbv2", "describe_rules",
            lambda c: LoadBalancing(c).listener("arn:lb", 80, "production"),
            before=(("describe_listeners", {"Listeners": [LISTENER]}),)),
    Failing("elbv2:DescribeListeners", "elbv2", "describe_listeners",
            lambda c: LoadBalancing(c).listener_by_arn("arn:listener/80")),
    Failing("elbv2:DescribeTags", "elbv2", "describe_tags",
            lambda c: LoadBalancing(c).target_groups(["arn:tg/blue"])),
    Failing("elbv2:DescribeTargetHealth", "elbv2", "describe_target_health",
            lambda c: LoadBalancing(c).target_health("arn:tg/blue")),
    Failing("elbv2:ModifyListener", "elbv2", "modify_listener",
            lambda c: LoadBalancing(c).set_default_actions("arn:listener/80", [])),
    Failing("elbv2:AddTags", "elbv2", "add_tags", lambda c: LoadBalancing(c).tag("arn:tg/blue", "role", "green")),
    Failing("cloudwatch:DescribeAlarms", "cloudwatch", "describe_alarms", lambda c: Alarms(c).describe(["5xx"])),
    Failing("dynamodb:PutItem", "dynamodb", "put_item", lambda c: ApprovalStore("approvals", c).create(
        ApprovalRecord("key", "token", "arn:execution", "{}", ApprovalStatus.PENDING, 0, 60))),
    Failing("dynamodb:GetItem", "dynamodb", "get_item", lambda c: ApprovalStore("approvals", c).get("key")),
    Failing("dynamodb:UpdateItem", "dynamodb", "update_item",
            lambda c: ApprovalStore("approvals", c).claim("key", DECISION)),
    Failing("dynamodb:UpdateItem", "dynamodb", "update_item",
            lambda c: ApprovalStore("approvals", c).release("key", DECISION)),
    Failing("dynamodb:UpdateItem", "dynamodb", "update_item",
            lambda c: ApprovalStore("approvals", c).end("key", DECISION)),
    Failing("dynamodb:Scan", "dynamodb", "scan", lambda c: ApprovalStore("approvals", c).pending_keys(0)),
    Failing("dynamodb:PutItem", "dynamodb", "put_item", lambda c: LockStore("locks", c).put_if_free("lb", "me", 0)),
    Failing("dynamodb:GetItem", "dynamodb", "get_item",  # the lock is held: who holds it?
            lambda c: LockStore("locks", c).put_if_free("lb", "me", 0),
            before=(("put_item", {"error": "ConditionalCheckFailedException"}),)),
    Failing("dynamodb:PutItem", "dynamodb", "put_item",
            lambda c: LockStore("locks", c).take_over("lb", "dead", "me", 0)),
    Failing("dynamodb:DeleteItem", "dynamodb", "delete_item", lambda c: LockStore("locks", c).release("lb", "me")),
    Failing("dynamodb:UpdateItem", "dynamodb", "update_item",
            lambda c: LockStore("locks", c).request_abort("lb", "me", "ops", "why")),
    Failing("dynamodb:GetItem", "dynamodb", "get_item", lambda c: LockStore("locks", c).abort_request("lb", "me")),
    Failing("sns:Publish", "sns", "publish", lambda c: Topic("arn:aws:sns:us-east-1:123456789012:t", c).publish(
        "subject", "message")),
    Failing("codepipeline:PutJobSuccessResult", "codepipeline", "put_job_success_result",
            lambda c: Pipeline(c).succeed(JOB, "done")),
    Failing("codepipeline:PutJobFailureResult", "codepipeline", "put_job_failure_result",
            lambda c: Pipeline(c).fail(JOB, "failed")),
    Failing("states:SendTaskSuccess", "stepfunctions", "send_task_success",
            lambda c: Workflow(c).send_success("token", {})),
    Failing("states:SendTaskFailure", "stepfunctions", "send_task_failure",
            lambda c: Workflow(c).send_failure("token", "Rejected", "no")),
    Failing("states:DescribeExecution", "stepfunctions", "describe_execution",
            lambda c: Workflow(c).execution_status("arn:execution")),
]


@pytest.mark.parametrize(("code", "error", "words"), [
    pytest.param("AccessDenied", e.AwsCallFailed, "failed with AccessDenied: .*Check that the function's IAM role",
                 id="denied"),
    pytest.param("ThrottlingException", e.AwsTransientError, "failed with ThrottlingException after retries",
                 id="throttled"),
])
@pytest.mark.parametrize("case", FAILING, ids=lambda case: f"{case.operation}-after-{len(case.before)}-calls")
def test_a_failed_call_names_the_operation_that_failed(case: Failing, code: str, error: type[Exception],
                                                       words: str) -> None:
    client, stubber = stubbed(case.service)
    for method, answer in case.before:
        if "error" in answer:
            stubber.add_client_error(method, service_error_code=answer["error"])
        else:
            stubber.add_response(method, answer)
    stubber.add_client_error(case.method, service_error_code=code, service_message="no")
    with pytest.raises(error, match=f"^{re.escape(case.operation)} {words}"):
        case.act(client)
    stubber.assert_no_pending_responses()


def test_a_call_that_got_no_answer_is_transient_and_named() -> None:
    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://elasticloadbalancing.us-east-1.amazonaws.com")

    with pytest.raises(e.AwsTransientError, match=r"^elbv2:DescribeRules failed before AWS answered"):
        aws.call("elbv2:DescribeRules", unreachable, ListenerArn="arn:listener/80")


def test_pending_keys_are_the_unexpired_undecided_approvals_of_one_execution_or_all(mocked: None) -> None:
    boto3.client("dynamodb").create_table(
        TableName="approvals", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "approvalKey", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "approvalKey", "KeyType": "HASH"}])
    store, now = ApprovalStore("approvals"), 1_000  # long past: the store must use `now`, not the clock
    for key, execution, expires_at in [("mine", "arn:a", now + 60), ("decided", "arn:a", now + 60),
                                       ("expired", "arn:a", now), ("theirs", "arn:b", now + 1)]:
        store.create(ApprovalRecord(key, "token", execution, "{}", ApprovalStatus.PENDING, now - 60, expires_at))
    assert store.claim("decided", DECISION).won

    assert store.pending_keys(now, "arn:a") == ["mine"]
    assert sorted(store.pending_keys(now)) == ["mine", "theirs"]
    assert store.pending_keys(now, "arn:unknown") == []
    assert store.pending_keys(now + 1) == ["mine"]


def test_pending_keys_reads_every_page_consistently() -> None:
    client, stubber = stubbed("dynamodb")
    expected = {"TableName": "approvals", "ConsistentRead": True, "ProjectionExpression": ANY,
                "ExpressionAttributeNames": ANY}
    stubber.add_response("scan", {"Items": [_approval("first")], "LastEvaluatedKey": {"approvalKey": {"S": "first"}}},
                         expected)
    stubber.add_response("scan", {"Items": [_approval("second")]},
                         {**expected, "ExclusiveStartKey": {"approvalKey": {"S": "first"}}})
    assert ApprovalStore("approvals", client).pending_keys(0) == ["first", "second"]
    stubber.assert_no_pending_responses()


def _approval(key: str) -> dict[str, Any]:
    return {"approvalKey": {"S": key}, "status": {"S": "PENDING"}, "expiresAt": {"N": "60"},
            "executionArn": {"S": "arn:execution"}}


def test_both_listeners_are_read_in_one_call_in_the_order_asked() -> None:
    client, stubber = stubbed("elbv2")
    stubber.add_response("describe_listeners", {"Listeners": [
        {"ListenerArn": "arn:l/8080", "Port": 8080, "Protocol": "HTTP", "DefaultActions": []},
        {"ListenerArn": "arn:l/80", "Port": 80, "Protocol": "HTTP", "DefaultActions": []}]},
        {"ListenerArns": ["arn:l/80", "arn:l/8080"]})
    production, test = LoadBalancing(client).listeners_by_arn("arn:l/80", "arn:l/8080")
    assert (production.port, test.port) == (80, 8080)
    stubber.assert_no_pending_responses()


def test_a_listener_missing_from_the_answer_is_named_not_guessed() -> None:
    client, stubber = stubbed("elbv2")
    stubber.add_response("describe_listeners", {"Listeners": [
        {"ListenerArn": "arn:l/80", "Port": 80, "Protocol": "HTTP", "DefaultActions": []}]})
    with pytest.raises(e.ListenerNotFound, match=r"^Listener arn:l/8080 no longer exists"):
        LoadBalancing(client).listeners_by_arn("arn:l/80", "arn:l/8080")


def test_target_groups_are_named_from_their_arns_and_read_with_their_tags_in_one_call() -> None:
    client, stubber = stubbed("elbv2")
    blue = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-code1/0123456789abcdef"
    stubber.add_response("describe_tags", {"TagDescriptions": [
        {"ResourceArn": blue, "Tags": [{"Key": "production", "Value": "true"}]}]}, {"ResourceArns": [blue]})
    groups = LoadBalancing(client).target_groups([blue])
    assert groups[blue].name == "shop-code1" and groups[blue].tags == {"production": "true"}
    stubber.assert_no_pending_responses()


def test_the_listeners_of_both_roles_come_from_one_read_of_the_load_balancer() -> None:
    client, stubber = stubbed("elbv2")
    stubber.add_response("describe_listeners", {"Listeners": [
        {"ListenerArn": "arn:l/80", "Port": 80, "Protocol": "HTTP", "DefaultActions": []},
        {"ListenerArn": "arn:l/8080", "Port": 8080, "Protocol": "HTTP", "DefaultActions": []}]})
    stubber.add_response("describe_rules", {"Rules": []}, {"ListenerArn": "arn:l/80"})
    stubber.add_response("describe_rules", {"Rules": []}, {"ListenerArn": "arn:l/8080"})
    found = LoadBalancing(client).listeners("arn:lb", {"production": 80, "test": 8080})
    assert (found["production"].arn, found["test"].arn) == ("arn:l/80", "arn:l/8080")
    stubber.assert_no_pending_responses()


def test_a_claim_answers_with_the_record_it_left_or_the_one_that_refused_it(mocked: None) -> None:
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="approvals", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "approvalKey", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "approvalKey", "KeyType": "HASH"}])
    store, now = ApprovalStore("approvals"), DECISION.at
    store.create(ApprovalRecord("open", "token", "arn:a", "{}", ApprovalStatus.PENDING, now - 60, now + 60))
    won = store.claim("open", DECISION)
    assert won.won and won.record is not None and won.record.task_token == "token"
    assert won.record.status is ApprovalStatus.DECIDED and won.record.decision == DECISION
    again = store.claim("open", replace(DECISION, by="someone else"))
    assert not again.won and again.record is not None and again.record.decision == DECISION  # the first stands
    unknown = store.claim("never-created", DECISION)
    assert unknown == Claim(False, None)
    assert "Item" not in dynamodb.get_item(TableName="approvals", Key={"approvalKey": {"S": "never-created"}})


def test_a_target_group_that_does_not_exist_is_named() -> None:
    client, stubber = stubbed("elbv2")
    stubber.add_client_error("describe_tags", service_error_code="TargetGroupNotFound", http_status_code=400)
    stubber.add_response("describe_tags", {"TagDescriptions": []})  # or left out of the answer
    for _ in range(2):
        with pytest.raises(e.TargetGroupNotFound, match="arn:tg/gone"):
            LoadBalancing(client).target_groups(["arn:tg/gone"])
