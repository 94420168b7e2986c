from __future__ import annotations

from collections.abc import Sequence

import pytest

from release import exceptions as e
from release import observed
from release.topology import Topology, compute_forward_actions, compute_topology, single_target
from tests.unit.helpers import BLUE, GREEN, GROUPS, LB, OTHER, SERVICES, forward, group, listener, service, weighted


def topology(production: observed.Listener | None = None, test: observed.Listener | None = None,
             groups: dict[str, observed.TargetGroup] = GROUPS, services: Sequence[observed.Service] = tuple(SERVICES),
             expected_image: str | None = None) -> Topology:
    return compute_topology(LB, production or listener(80, forward(BLUE)), test or listener(8080, forward(GREEN)),
                            groups, services, expected_image)


def test_listeners_decide_blue_and_green() -> None:
    found = topology()
    assert found["blue"]["targetGroupArn"] == BLUE and found["green"]["targetGroupArn"] == GREEN
    assert found["green"]["service"]["images"] == ["web:2"]
    assert found["tagProblems"] == []


def test_tags_that_contradict_the_listeners_are_reported_not_trusted() -> None:
    lying = {BLUE: group(BLUE, "Code1", "false"), GREEN: group(GREEN, "Code2", "true")}
    found = topology(groups=lying)
    assert found["blue"]["targetGroupArn"] == BLUE  # the listener wins
    assert len(found["tagProblems"]) == 2 and "listeners say 'true'" in found["tagProblems"][0]


def test_missing_identifier_tags_are_reported() -> None:
    untagged = {BLUE: group(BLUE, "Code1", "true"), GREEN: group(GREEN, "Code1", "false")}
    assert "expected one Code1 and one Code2" in topology(groups=untagged)["tagProblems"][0]


@pytest.mark.parametrize(("production", "test", "error", "words"), [
    (listener(80, weighted({BLUE: 90, GREEN: 10})), None, e.TrafficSplitInProgress, "splits traffic across 2"),
    (listener(80, {"Type": "fixed-response"}), None, e.UnsupportedListenerAction, "fixed-response"),
    (listener(80, forward(BLUE), forward(GREEN)), None, e.UnsupportedListenerAction, "exactly one forward"),
    (None, listener(8080, forward(BLUE)), e.ListenersShareTargetGroup, "Both listeners"),
    (listener(80, forward(BLUE), rules=frozenset({GREEN})), None, e.ListenerRulesReferenceTargetGroups,
     "swaps default actions only"),
])
def test_unfit_listeners_fail_with_a_named_error(production: observed.Listener | None,
                                                 test: observed.Listener | None, error: type[Exception],
                                                 words: str) -> None:
    with pytest.raises(error, match=words):
        topology(production, test)


def test_weight_zero_groups_carry_no_traffic() -> None:
    assert single_target(listener(80, weighted({BLUE: 1, GREEN: 0}))) == BLUE


def test_forward_with_authentication_first_keeps_the_authentication() -> None:
    auth = {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {"Issuer": "https://idp"}}
    actions = compute_forward_actions([auth, {**weighted({BLUE: 1}), "Order": 2}], GREEN)
    assert actions == [auth, {"Type": "forward", "TargetGroupArn": GREEN, "Order": 2}]
    found = topology(listener(80, auth, {**forward(BLUE), "Order": 2}))
    assert found["blue"]["targetGroupArn"] == BLUE


@pytest.mark.parametrize(("services", "error", "words"), [
    ([SERVICES[0]], e.ServiceNotFound, "No ECS service"),
    ([*SERVICES, service("copy", GREEN)], e.TopologyError, "Several ECS services"),
])
def test_each_side_needs_exactly_one_service(services: list[observed.Service],
                                             error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        topology(services=services)


def test_one_service_in_both_groups_is_not_a_pair() -> None:
    both = service("both", BLUE)
    both = type(both)(**{**both.__dict__, "target_group_arns": frozenset({BLUE, GREEN})})
    with pytest.raises(e.TopologyError, match="registered in both"):
        topology(services=[both])


def test_expected_image_must_be_on_green() -> None:
    assert topology(expected_image="web:2")["green"]["service"]["images"] == ["web:2"]
    with pytest.raises(e.UnexpectedGreenImage, match="not the expected image web:3"):
        topology(expected_image="web:3")


def test_a_third_target_group_behind_the_test_listener_is_rejected() -> None:
    with pytest.raises(e.TrafficSplitInProgress):
        topology(test=listener(8080, weighted({GREEN: 50, OTHER: 50})))
