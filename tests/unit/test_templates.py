"""The CloudFormation templates, as a reviewer would check them: lint, scan, and the rules we hold."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployer import definition, templates

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_FILES = sorted(p.name for p in (ROOT / "cfn").glob("*.yaml"))


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("packaged")
    result = templates.package("release-artifacts-123456789012-us-east-1", "us-east-1")
    for key, body in result.objects.items():
        (out / key.split("/")[-1]).write_bytes(body)
    return out


def resources(name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from templates.load(name).get("Resources", {}).items()


def all_resources() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name in TEMPLATE_FILES:
        for logical, resource in resources(name):
            yield name, logical, resource


def statements(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    properties = resource.get("Properties", {})
    documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
    if resource["Type"] == "AWS::IAM::Policy":
        documents.append(properties["PolicyDocument"])
    for document in documents:
        yield from document["Statement"]


def test_cfn_lint_finds_no_error_in_the_packaged_templates(packaged: Path) -> None:
    files = [str(p) for p in packaged.glob("*.json")]
    result = subprocess.run([sys.executable, "-m", "cfnlint", "--format", "parseable", *files],
                            capture_output=True, text=True, check=False)
    errors = [line for line in result.stdout.splitlines() if ":E" in line]
    assert errors == [], result.stdout


def test_the_packaged_state_machine_is_the_asl_file_inline(packaged: Path) -> None:
    found = []
    for path in packaged.glob("*.json"):
        for resource in json.loads(path.read_text()).get("Resources", {}).values():
            if resource["Type"] == "AWS::StepFunctions::StateMachine":
                found.append(resource["Properties"])
    assert len(found) == 1
    assert found[0]["Definition"] == definition.load()
    asl_placeholders = definition.placeholders(definition.RELEASE_ASL.read_text())
    assert asl_placeholders == set(found[0]["DefinitionSubstitutions"])


def test_checkov_finds_no_failed_check() -> None:
    checkov = os.environ.get("CHECKOV") or str(ROOT / ".venv-checkov" / "bin" / "checkov")
    assert Path(checkov).exists(), "checkov is not installed: run `make test`, which installs it"
    result = subprocess.run([checkov, "--directory", str(ROOT / "cfn"), "--framework", "cloudformation",
                             "--output", "json", "--quiet", "--compact", "--skip-download"],
                            capture_output=True, text=True, check=False,
                            env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["passed"] > 100


def test_every_suppression_is_inline_with_a_reason() -> None:
    for name in TEMPLATE_FILES:
        for line in (ROOT / "cfn" / name).read_text().splitlines():
            if "checkov:skip" in line:
                assert re.search(r"checkov:skip=CKV2?_AWS_\d+: \S.{15,}", line), f"{name}: {line.strip()}"


def test_no_iam_statement_allows_a_wildcard_action() -> None:
    for name, logical, resource in all_resources():
        for statement in statements(resource):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                assert action != "*" and not action.endswith(":*"), f"{name} {logical}: {action}"


def test_resource_wildcards_are_only_where_the_action_has_no_resource_scope() -> None:
    for name, logical, resource in all_resources():
        for statement in statements(resource):
            if statement.get("Resource") == "*":
                assert re.search(r"Ha(s|ve)NoResourceScope$", statement.get("Sid", "")) or "Condition" in statement, \
                    f"{name} {logical}: {statement}"


def test_pass_role_names_its_roles_and_the_service_they_go_to() -> None:
    seen = 0
    for name, logical, resource in all_resources():
        for statement in statements(resource):
            if "iam:PassRole" in json.dumps(statement["Action"]):
                seen += 1
                assert statement["Resource"] != "*", f"{name} {logical}"
                assert "iam:PassedToService" in json.dumps(statement["Condition"]), f"{name} {logical}"
    assert seen >= 2


def test_every_function_traces_and_logs_to_a_group_with_retention() -> None:
    for name in TEMPLATE_FILES:
        found = dict(resources(name))
        for logical, resource in found.items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            properties = resource["Properties"]
            assert properties["TracingConfig"]["Mode"] == "Active", logical
            assert re.fullmatch(r"python3\.(1[2-9])", properties["Runtime"]), logical
            group = found[properties["LoggingConfig"]["LogGroup"]["Ref"]]
            assert group["Properties"]["RetentionInDays"], logical


def test_every_log_group_has_retention_and_encryption() -> None:
    for name, logical, resource in all_resources():
        if resource["Type"] == "AWS::Logs::LogGroup":
            assert "RetentionInDays" in resource["Properties"], f"{name} {logical}"
            assert "KmsKeyId" in resource["Properties"], f"{name} {logical}"


def test_the_workflow_is_standard_logged_traced_and_keeps_tokens_out_of_logs() -> None:
    machine = dict(resources("engine.yaml"))["StateMachine"]["Properties"]
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["TracingConfiguration"]["Enabled"] is True
    assert machine["LoggingConfiguration"]["IncludeExecutionData"] is False


def test_stores_are_encrypted_and_recoverable() -> None:
    engine = dict(resources("engine.yaml"))
    table = engine["ApprovalsTable"]["Properties"]
    assert table["SSESpecification"]["SSEEnabled"] and table["PointInTimeRecoverySpecification"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    for topic in ("ApprovalTopic", "NotificationTopic"):
        assert "KmsMasterKeyId" in engine[topic]["Properties"]
    pipeline = dict(resources("pipeline.yaml"))
    assert pipeline["ImageRepository"]["Properties"]["ImageTagMutability"] == "IMMUTABLE"
    assert pipeline["ImageRepository"]["Properties"]["ImageScanningConfiguration"]["ScanOnPush"] is True
    assert pipeline["Pipeline"]["Properties"]["ExecutionMode"] == "QUEUED"
    assert pipeline["Pipeline"]["Properties"]["PipelineType"] == "V2"


def test_no_secret_is_a_plain_parameter() -> None:
    for name in TEMPLATE_FILES:
        for parameter in templates.load(name).get("Parameters", {}):
            assert not re.search(r"token|secret|password|oauth", parameter, re.I), f"{name}: {parameter}"


def test_test_port_is_not_open_to_the_world_by_default() -> None:
    parameters = templates.load("main.yaml")["Parameters"]
    assert "Default" not in parameters["TestCidr"]
    assert templates.load("load-balancer.yaml")["Parameters"]["DeregistrationDelaySeconds"]["Default"] <= 60
