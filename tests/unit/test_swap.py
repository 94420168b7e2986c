from __future__ import annotations

import pytest

from release import exceptions as e
from release.swap import SwapDecision, compute_swapped, plan_swap, verify_swap
from release.topology import compute_topology
from tests.unit.helpers import BLUE, GREEN, GROUPS, LB, OTHER, SERVICES, forward, listener, weighted

TOPOLOGY = compute_topology(LB, listener(80, forward(BLUE)), listener(8080, forward(GREEN)), GROUPS, SERVICES)


@pytest.mark.parametrize(("production", "test", "decision", "ports"), [
    (BLUE, GREEN, SwapDecision.SWAP, [80, 8080]),  # production first
    (GREEN, GREEN, SwapDecision.RESUME, [8080]),  # stopped between the two changes
    (GREEN, BLUE, SwapDecision.ALREADY_DONE, []),  # a retry after both changes: never toggles back
])
def test_plan_depends_on_what_the_listeners_say_now(production: str, test: str, decision: SwapDecision,
                                                    ports: list[int]) -> None:
    plan = plan_swap(TOPOLOGY, listener(80, forward(production)), listener(8080, forward(test)), "td-green:2")
    assert plan.decision is decision
    assert [c.port for c in plan.listener_changes] == ports
    assert plan.production_tags == {GREEN: "true", BLUE: "false"}


@pytest.mark.parametrize(("production", "test"), [
    (forward(BLUE), forward(BLUE)), (forward(OTHER), forward(GREEN)), (weighted({BLUE: 50, OTHER: 50}), forward(GREEN)),
])
def test_any_other_routing_is_a_topology_change(production: dict[str, object], test: dict[str, object]) -> None:
    with pytest.raises(e.TopologyChanged, match="Nothing was changed"):
        plan_swap(TOPOLOGY, listener(80, production), listener(8080, test), "td-green:2")


def test_a_different_task_definition_on_green_is_not_what_was_approved() -> None:
    with pytest.raises(e.TopologyChanged, match="not the approved td-green:2"):
        plan_swap(TOPOLOGY, listener(80, forward(BLUE)), listener(8080, forward(GREEN)), "td-green:3")


def test_verification_reads_back_routing_and_tags() -> None:
    plan = plan_swap(TOPOLOGY, listener(80, forward(BLUE)), listener(8080, forward(GREEN)), "td-green:2")
    good_tags = {GREEN: {"IsProduction": "true"}, BLUE: {"IsProduction": "false"}}
    verify_swap(plan, listener(80, forward(GREEN)), listener(8080, forward(BLUE)), good_tags, TOPOLOGY)
    with pytest.raises(e.SwapVerificationFailed, match=r"port 8080 forwards to .*green.*, expected .*blue"):
        verify_swap(plan, listener(80, forward(GREEN)), listener(8080, forward(GREEN)), good_tags, TOPOLOGY)
    with pytest.raises(e.SwapVerificationFailed, match="IsProduction='false', expected 'true'"):
        verify_swap(plan, listener(80, forward(GREEN)), listener(8080, forward(BLUE)),
                    {GREEN: {"IsProduction": "false"}, BLUE: {"IsProduction": "false"}}, TOPOLOGY)


def test_after_the_swap_the_approved_side_is_blue() -> None:
    swapped = compute_swapped(TOPOLOGY)
    assert swapped["blue"]["targetGroupArn"] == GREEN and swapped["green"]["targetGroupArn"] == BLUE
    assert swapped["production"]["targetGroupArn"] == GREEN and swapped["test"]["targetGroupArn"] == BLUE


def test_a_blue_green_split_left_by_a_shift_is_finished_by_the_swap() -> None:
    plan = plan_swap(TOPOLOGY, listener(80, weighted({BLUE: 75, GREEN: 25})), listener(8080, forward(GREEN)),
                     "td-green:2")
    assert plan.decision is SwapDecision.SWAP
    assert plan.listener_changes[0].actions == [{"Type": "forward", "TargetGroupArn": GREEN}]
