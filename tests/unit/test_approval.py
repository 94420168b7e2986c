from __future__ import annotations

import secrets

import pytest

from release import pages
from release.approval import (
    ApprovalRecord,
    ApprovalStatus,
    Decision,
    InvalidDecision,
    LinkState,
    approval_key,
    compose_request,
    compute_link_state,
    compute_links,
    compute_rejection_cause,
    compute_task_output,
    is_well_formed,
    parse_decision,
)

SUMMARY = {
    "action": "release", "loadBalancer": "shop-alb", "greenService": "shop-code2", "liveService": "shop-code1",
    "liveImages": ["web:1"], "newImages": ["web:2"], "productionUrl": "http://alb:80/", "testUrl": "http://alb:8080/",
    "health": ["shop-code2: 2 of 2 targets healthy"], "description": "", "execution": "arn:exec", "expiresAt": 2000,
}


def record(status: ApprovalStatus = ApprovalStatus.PENDING, expires_at: int = 2000) -> ApprovalRecord:
    return ApprovalRecord("k", "token", "arn:exec", "{}", status, 1000, expires_at)


def test_ids_from_token_urlsafe_are_well_formed_and_anything_else_is_not() -> None:
    approval_id = secrets.token_urlsafe(32)
    assert is_well_formed(approval_id)
    for bad in ("", approval_id[:-1], approval_id + "A", approval_id[:-1] + "/", "../../etc/passwd"):
        assert not is_well_formed(bad)
    assert approval_key(approval_id) != approval_id and len(approval_key(approval_id)) == 64


@pytest.mark.parametrize(("rec", "now", "state"), [
    (None, 1500, LinkState.UNKNOWN),
    (record(), 1500, LinkState.PENDING),
    (record(), 2000, LinkState.EXPIRED),
    (record(ApprovalStatus.DECIDED), 1500, LinkState.DECIDED),
    (record(ApprovalStatus.ENDED), 1500, LinkState.NO_LONGER_WAITING),
    (record(ApprovalStatus.ENDED), 2000, LinkState.NO_LONGER_WAITING),
])
def test_link_state(rec: ApprovalRecord | None, now: int, state: LinkState) -> None:
    assert compute_link_state(rec, now) is state


@pytest.mark.parametrize(("form", "words"), [
    ({}, "Choose Approve or Reject"),
    ({"decision": ["approve"]}, "Type your name"),
    ({"decision": ["approve"], "name": ["x" * 101]}, "Type your name"),
    ({"decision": ["reject"], "name": ["Ada"]}, "Say why"),
    ({"decision": ["approve"], "name": ["Ada"], "reason": ["x" * 1001]}, "at most 1000"),
])
def test_incomplete_forms_say_what_to_fix(form: dict[str, list[str]], words: str) -> None:
    with pytest.raises(InvalidDecision, match=words):
        parse_decision(form, 1500, "192.0.2.1")


def test_a_complete_form_is_a_decision_with_who_when_and_where() -> None:
    decision = parse_decision({"decision": ["reject"], "name": [" Ada "], "reason": ["5xx on /cart"]}, 1500,
                              "192.0.2.1")
    assert decision == Decision(False, "Ada", "5xx on /cart", 1500, "192.0.2.1")


def test_request_message_links_to_a_page_and_names_both_versions() -> None:
    subject, body = compose_request(SUMMARY, "https://x/approvals/abc")  # type: ignore[arg-type]
    assert "web:2" in subject and len(subject) <= 100
    assert "Now live (shop-code1): web:1" in body and "To go live (shop-code2): web:2" in body
    assert "http://alb:8080/" in body and "https://x/approvals/abc" in body
    assert "Opening the link changes nothing" in body


def test_pages_escape_everything_they_show() -> None:
    hostile = {**SUMMARY, "description": "<script>alert(1)</script>", "newImages": ['web:"><img src=x>']}
    html = pages.confirmation(hostile, error="<b>", name='"><script>', reason="</textarea><script>")  # type: ignore[arg-type]
    assert "<script>" not in html and "<img" not in html and "</textarea><script>" not in html
    assert 'method="post"' in html and 'name="decision" value="approve"' in html
    assert "<label for=\"name\">" in html  # every field has a label


def test_confirmation_page_has_no_script_and_a_strict_policy() -> None:
    html = pages.confirmation(SUMMARY)  # type: ignore[arg-type]
    assert "<script" not in html and "http" not in html.split("Try the new version first")[0].split("<dl>")[0]
    assert "default-src 'none'" in pages.SECURITY_HEADERS["Content-Security-Policy"]
    assert pages.SECURITY_HEADERS["Referrer-Policy"] == "no-referrer"


def test_each_approver_gets_a_link_of_their_own_to_the_one_record() -> None:
    ids = iter(["id-ada", "id-grace"])
    links = compute_links(["ada@example.com", "grace@example.com"], "record-key", "arn:exec", 1000, 2000,
                          lambda: next(ids))
    assert [(i, link.approver, link.record_key, link.key) for i, link in links] == [
        ("id-ada", "ada@example.com", "record-key", approval_key("id-ada")),
        ("id-grace", "grace@example.com", "record-key", approval_key("id-grace"))]
    [(_, anyone)] = compute_links([], "record-key", "arn:exec", 1000, 2000, lambda: "id")
    assert anyone.approver == ""  # no address known: one link for whoever the topic mails


def test_a_decision_names_the_links_address_and_keeps_the_typed_name_as_a_note() -> None:
    decision = Decision(approved=False, by="Grace H.", reason="v1 on :8080", at=1500, source_ip="198.51.100.7",
                        approver="grace@example.com")
    assert decision.who == "grace@example.com (as Grace H.)"
    assert compute_task_output(decision)["approver"] == "grace@example.com"
    assert '"rejectedBy": "grace@example.com (as Grace H.)"' in compute_rejection_cause(decision)
    from_cli = Decision(approved=True, by="ops (deploy.py)", reason="", at=1500, source_ip="command line")
    assert from_cli.who == "ops (deploy.py)" and compute_task_output(from_cli)["approvedBy"] == "ops (deploy.py)"
    page = pages.already_decided(ApprovalRecord("k", "t", "arn:exec", "{}", ApprovalStatus.DECIDED, 1000, 2000,
                                                decision))
    assert "rejected by grace@example.com (as Grace H.)" in page
