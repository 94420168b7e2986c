"""The CloudFormation templates, as a reviewer would check them: lint, scan, and the rules we hold."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deployer import definition, templates
from release.config import ProbeRoute

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


# A value checkov must reject, put where every function gets it: the shared environment that engine.yaml merges
# into each function with a YAML merge key (built here so that no scanner takes this file for a leaked key).
CANARY_SECRET = "AKIA" + "IOSFODNN7EXAMPLE"
SHARED_ENVIRONMENT = "    Powertools: &powertools\n"
SHARED_SKIPS = {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"}


@dataclass(frozen=True)
class Scan:
    """One checkov report over `directory`: the packaged templates in packaged/, the canary in canary/."""

    directory: Path
    report: dict[str, Any]

    def results(self, kind: str, under: str) -> list[tuple[str, str]]:
        return [(c["check_id"], c["resource"]) for c in self.report["results"].get(kind, [])
                if c["file_path"].startswith(f"/{under}/")]

    def functions(self, under: str) -> set[str]:
        return {f"AWS::Lambda::Function.{logical}" for path in (self.directory / under).glob("*.json")
                for logical, resource in json.loads(path.read_text())["Resources"].items()
                if resource["Type"] == "AWS::Lambda::Function"}


@pytest.fixture(scope="module")
def checkov_scan(packaged: Path, tmp_path_factory: pytest.TempPathFactory) -> Scan:
    """checkov reads what CloudFormation receives: the packaged JSON, every merge resolved. The same run scans a
    canary, engine.yaml with a hard-coded key added to its shared block, which must fail for every function."""
    checkov = os.environ.get("CHECKOV") or str(ROOT / ".venv-checkov" / "bin" / "checkov")
    assert Path(checkov).exists(), "checkov is not installed: run `make test`, which installs it"
    source = (ROOT / "cfn" / "engine.yaml").read_text()
    assert source.count(SHARED_ENVIRONMENT) == 1
    edited = tmp_path_factory.mktemp("canary-source") / "engine.yaml"
    edited.write_text(source.replace(SHARED_ENVIRONMENT, f"{SHARED_ENVIRONMENT}      CANARY: {CANARY_SECRET}\n"))
    engine = templates.load(str(edited))  # an absolute path: read as it is, through the packager's loader
    canary = {"AWSTemplateFormatVersion": engine["AWSTemplateFormatVersion"],  # the functions only: a shorter scan
              "Resources": {k: r for k, r in engine["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}}
    directory = tmp_path_factory.mktemp("scan")
    shutil.copytree(packaged, directory / "packaged")
    (directory / "canary").mkdir()
    (directory / "canary" / "engine.json").write_bytes(templates.dumps(canary))
    result = subprocess.run([checkov, "--directory", str(directory), "--framework", "cloudformation",
                             "--output", "json", "--compact", "--skip-download"],
                            capture_output=True, text=True, check=False,
                            env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    return Scan(directory, json.loads(result.stdout))


def test_checkov_finds_no_failed_check_in_the_packaged_templates(checkov_scan: Scan) -> None:
    failed = checkov_scan.results("failed_checks", "packaged")
    assert failed == [], failed
    assert len(checkov_scan.results("passed_checks", "packaged")) > 100
    resources = sum(len(json.loads(p.read_text())["Resources"]) for p in checkov_scan.directory.glob("*/*.json"))
    assert checkov_scan.report["summary"]["resource_count"] == resources, "checkov left a template out"


def test_checkov_applies_the_shared_suppressions_to_every_function(checkov_scan: Scan) -> None:
    functions = checkov_scan.functions("packaged")
    skipped = checkov_scan.results("skipped_checks", "packaged")
    assert len(functions) >= 10
    for function in functions:
        assert {check for check, resource in skipped if resource == function} == SHARED_SKIPS, function


def test_checkov_sees_what_the_shared_block_gives_every_function(checkov_scan: Scan) -> None:
    """Proof that a merged property is scanned: the canary's key, written once, fails the check ten times."""
    functions = checkov_scan.functions("canary")
    failed = checkov_scan.results("failed_checks", "canary")
    assert len(functions) >= 10
    assert {resource for check, resource in failed if check == "CKV_AWS_45"} == functions


def test_every_suppression_is_in_the_resources_metadata_with_a_reason() -> None:
    """checkov reads the packaged JSON, which has no comments: a `# checkov:skip=` comment would be lost."""
    seen = 0
    for name in TEMPLATE_FILES:
        assert "checkov:skip" not in (ROOT / "cfn" / name).read_text(), f"{name}: use Metadata: checkov: skip:"
    for name, logical, resource in all_resources():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            seen += 1
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), f"{name} {logical}: {skip}"
            assert re.fullmatch(r"\S.{15,}", skip.get("comment", "")), f"{name} {logical}: {skip}"
    assert seen >= 10


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


# The optional HTTP probe of green goes to the test listener of an internet-facing load balancer, whose test port
# admits only TestCidr and what the system itself sends. The check-health function reaches it from the private
# subnets through the NAT gateways, so the port sees the gateways' Elastic IPs, never the function's security group.

def _parameters(stack: dict[str, Any]) -> dict[str, Any]:
    parameters: dict[str, Any] = stack["Properties"]["Parameters"]
    return parameters


def test_the_probe_leaves_the_vpc_through_the_nat_gateways_whose_addresses_the_test_port_admits() -> None:
    network = templates.load("network.yaml")
    subnets, nat = network["Resources"], network["Outputs"]
    for n in ("1", "2"):
        association = subnets[f"PrivateSubnet{n}Routes"]["Properties"]
        assert association["SubnetId"] == {"Ref": f"PrivateSubnet{n}"}
        route = subnets[f"PrivateDefaultRoute{n}"]["Properties"]
        assert association["RouteTableId"] == route["RouteTableId"] == {"Ref": f"PrivateRouteTable{n}"}
        assert route == {**route, "DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": {"Ref": f"NatGateway{n}"}}
        allocation = subnets[f"NatGateway{n}"]["Properties"]["AllocationId"]
        assert allocation == {"Fn::GetAtt": [f"NatAddress{n}", "AllocationId"]}
        assert nat[f"NatAddress{n}"]["Value"] == {"Fn::If": ["PrivateTasks", {"Ref": f"NatAddress{n}"}, ""]}
    assert nat["NatSubnets"]["Value"] == {"Fn::If": [
        "PrivateTasks", {"Fn::Join": [",", [{"Ref": "PrivateSubnet1"}, {"Ref": "PrivateSubnet2"}]]}, ""]}

    main = dict(resources("main.yaml"))
    assert main["Network"]["Properties"]["TemplateURL"] == "network.yaml"  # always the system's own VPC
    balancer_inputs, engine_inputs = _parameters(main["LoadBalancer"]), _parameters(main["Engine"])
    for n in ("1", "2"):
        assert balancer_inputs[f"NatAddress{n}"] == {"Fn::GetAtt": ["Network", f"Outputs.NatAddress{n}"]}
    assert engine_inputs["NatSubnets"] == {"Fn::GetAtt": ["Network", "Outputs.NatSubnets"]}
    assert engine_inputs["VpcId"] == {"Fn::GetAtt": ["Network", "Outputs.VpcId"]}
    assert balancer_inputs["TestPort"] == engine_inputs["TestPort"] == {"Ref": "TestPort"}

    balancer = templates.load("load-balancer.yaml")
    found = balancer["Resources"]
    assert found["LoadBalancer"]["Properties"]["Scheme"] == "internet-facing"
    assert found["LoadBalancer"]["Properties"]["SecurityGroups"] == [{"Ref": "LoadBalancerSecurityGroup"}]
    assert found["TestListener"]["Properties"]["Port"] == {"Ref": "TestPort"}
    assert balancer["Conditions"]["ProbeThroughNat"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "NatAddress1"}, ""]}]}
    for n in ("1", "2"):
        rule = found[f"TestPortFromNatGateway{n}"]
        assert rule["Type"] == "AWS::EC2::SecurityGroupIngress" and rule["Condition"] == "ProbeThroughNat"
        assert rule["Properties"] == {**rule["Properties"], "GroupId": {"Ref": "LoadBalancerSecurityGroup"},
                                      "IpProtocol": "tcp", "FromPort": {"Ref": "TestPort"},
                                      "ToPort": {"Ref": "TestPort"}, "CidrIp": {"Fn::Sub": f"${{NatAddress{n}}}/32"}}


def _in_nat_subnets(security_group: str) -> dict[str, Any]:
    """A function's VpcConfig: the NAT subnets with its own group when there are some, else outside the VPC."""
    return {"Fn::If": ["ProbeThroughNat", {"SubnetIds": {"Fn::Split": [",", {"Ref": "NatSubnets"}]},
                                           "SecurityGroupIds": [{"Ref": security_group}]},
                       {"Ref": "AWS::NoValue"}]}


def test_the_check_health_function_runs_in_the_nat_subnets_with_its_own_security_group() -> None:
    engine = templates.load("engine.yaml")
    found = engine["Resources"]
    assert engine["Conditions"]["ProbeThroughNat"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "NatSubnets"}, ""]}]}
    assert found["CheckHealthFunction"]["Properties"]["VpcConfig"] == _in_nat_subnets("CheckHealthSecurityGroup")
    group = found["CheckHealthSecurityGroup"]
    assert group["Condition"] == "ProbeThroughNat" and group["Properties"]["VpcId"] == {"Ref": "VpcId"}
    assert "SecurityGroupIngress" not in group["Properties"]
    egress = [{key: rule[key] for key in ("IpProtocol", "FromPort", "ToPort", "CidrIp")}
              for rule in group["Properties"]["SecurityGroupEgress"]]
    # the AWS APIs it calls, and the test listener's public addresses (its DNS name resolves to them)
    assert egress == [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"},
                      {"IpProtocol": "tcp", "FromPort": {"Ref": "TestPort"}, "ToPort": {"Ref": "TestPort"},
                       "CidrIp": "0.0.0.0/0"}]
    # so does the shipped smoke-test hook, which requests the test listener, and production once green has it all
    assert found["SmokeTestFunction"]["Properties"]["VpcConfig"] == _in_nat_subnets("SmokeTestSecurityGroup")
    smoke = found["SmokeTestSecurityGroup"]
    assert smoke["Condition"] == "ProbeThroughNat" and "SecurityGroupIngress" not in smoke["Properties"]
    assert [(rule["FromPort"], rule["ToPort"]) for rule in smoke["Properties"]["SecurityGroupEgress"]] == [
        ({"Ref": "TestPort"}, {"Ref": "TestPort"}), ({"Ref": "ProductionPort"}, {"Ref": "ProductionPort"})]
    in_vpc = [logical for logical, resource in found.items()
              if resource["Type"] == "AWS::Lambda::Function" and "VpcConfig" in resource["Properties"]]
    assert in_vpc == ["CheckHealthFunction", "SmokeTestFunction"]


def test_the_check_health_role_lets_lambda_manage_its_network_interfaces_in_this_account_and_region() -> None:
    """What AWSLambdaVPCAccessExecutionRole grants (its log actions aside), with resources scoped, no conditions.

    Lambda validates the role at deploy time by simulating these actions without a VPC in the request, so
    a condition on ec2:Vpc would fail the deploy; only the two describes are granted on "*" (no resource type).
    """
    role = dict(resources("engine.yaml"))["CheckHealthRole"]
    granted = [s for s in statements(role) if any(str(a).startswith("ec2:") for a in s["Action"])]
    actions = {action for s in granted for action in s["Action"]}
    assert actions == {"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
                       "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}
    here = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:"
    for statement in granted:
        assert "Condition" not in statement, statement
        listed = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if listed == ["*"]:
            assert set(statement["Action"]) == {"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}
        else:
            assert all(r["Fn::Sub"].startswith(here) for r in listed), statement


def test_a_release_learns_whether_the_probe_can_reach_the_test_listener() -> None:
    """The discover function refuses a probe where check-health has no path (release.config.ProbeRoute)."""
    found = dict(resources("engine.yaml"))
    route = found["DiscoverFunction"]["Properties"]["Environment"]["Variables"]["PROBE_ROUTE"]
    assert route == {"Fn::If": ["ProbeThroughNat", ProbeRoute.NAT.value, ProbeRoute.NONE.value]}


def delivered_log_groups() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """The log groups AWS services deliver to as vended logs: a state machine's LoggingConfiguration, an API
    Gateway stage's access logs."""
    for name in TEMPLATE_FILES:
        found = dict(resources(name))
        for resource in found.values():
            properties = resource.get("Properties", {})
            targets = [d["CloudWatchLogsLogGroup"]["LogGroupArn"]
                       for d in properties.get("LoggingConfiguration", {}).get("Destinations", [])]
            targets += [properties["AccessLogSettings"]["DestinationArn"]] if "AccessLogSettings" in properties else []
            for target in targets:
                logical = target["Fn::GetAtt"][0]
                yield name, logical, found[logical]


def test_vended_logs_go_to_groups_under_aws_vendedlogs_named_for_the_system() -> None:
    """Elsewhere, each such group takes room in the account's one CloudWatch Logs resource policy (5,120
    characters) and creating the next one fails once it is full."""
    seen = []
    for name, logical, group in delivered_log_groups():
        seen.append(logical)
        assert group["Type"] == "AWS::Logs::LogGroup", f"{name} {logical}"
        assert re.fullmatch(r"/aws/vendedlogs/\$\{Name\}/[\w/-]+", group["Properties"]["LogGroupName"]["Fn::Sub"]), \
            f"{name} {logical}"
    assert sorted(seen) == ["ApiAccessLogGroup", "StateMachineLogGroup"]


def test_the_system_key_lets_cloudwatch_logs_encrypt_every_log_group_of_the_system() -> None:
    """A group whose name the key policy does not match cannot be created with the key (KmsKeyId)."""
    [statement] = [s for s in templates.load("keys.yaml")["Resources"]["Key"]["Properties"]["KeyPolicy"]["Statement"]
                   if s["Sid"] == "CloudWatchLogsEncryptsThisSystemsLogGroups"]
    patterns = statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    allowed = [p["Fn::Sub"].split(":log-group:", 1)[1] for p in (patterns if isinstance(patterns, list)
                                                                  else [patterns])]
    groups = [(name, logical, resource["Properties"]["LogGroupName"]) for name, logical, resource in all_resources()
              if resource["Type"] == "AWS::Logs::LogGroup"]
    assert len(groups) >= 10
    for name, logical, group_name in groups:
        group = group_name["Fn::Sub"] if isinstance(group_name, dict) else group_name
        assert any(fnmatch.fnmatchcase(group, pattern) for pattern in allowed), f"{name} {logical}: {group}"
