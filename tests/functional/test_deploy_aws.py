"""`python3 deploy.py --aws` end to end against moto: the real boto3 calls of the AWS path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from deployer import cli, package, templates

REGION = "us-east-1"
BASE = ["--aws", "--region", REGION, "--approver-email", "ops@example.com", "--test-cidr", "203.0.113.0/24"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stacks() -> dict[str, str]:
    cfn = boto3.client("cloudformation", region_name=REGION)
    return {s["StackName"]: s["StackStatus"] for s in cfn.describe_stacks()["Stacks"]}


@pytest.fixture
def deployed(mocked: None, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out, _ = run(capsys, *BASE, "--json")
    assert code == 0, out
    result: dict[str, Any] = json.loads(out)
    return result


def test_first_deploy_creates_everything_and_prints_what_a_user_needs(deployed: dict[str, Any]) -> None:
    assert deployed["stack"] == "created" and deployed["serviceStack"] == "created"
    outputs = deployed["outputs"]
    for key in ("ProductionUrl", "TestUrl", "StateMachineArn", "ApprovalEndpoint", "PipelineName"):
        assert outputs[key]
    assert stacks()["shop"] == "CREATE_COMPLETE" and stacks()["shop-service"] == "CREATE_COMPLETE"
    s3 = boto3.client("s3", region_name=REGION)
    bucket = "shop-artifacts-123456789012-us-east-1"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert "aws:SecureTransport" in s3.get_bucket_policy(Bucket=bucket)["Policy"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.startswith("code/") for k in keys) and any(k.startswith("templates/") for k in keys)
    tags = boto3.client("elbv2", region_name=REGION).describe_tags(
        ResourceArns=[outputs["Code1TargetGroupArn"]])["TagDescriptions"][0]["Tags"]
    assert {"Key": "IsProduction", "Value": "true"} in tags


def test_second_deploy_with_no_change_says_so_and_changes_nothing(deployed: dict[str, Any],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *BASE)
    assert code == 0
    assert "Nothing changed" in out
    assert "uploaded 0 new object(s)" in out


def test_a_redeploy_without_port_flags_keeps_the_deployed_ports(mocked: None,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *BASE, "--production-port", "8081", "--test-port", "9443")
    assert code == 0, out
    code, out, err = run(capsys, *BASE)  # no port flags: the listeners stay where users reach them
    assert code == 0, out + err
    assert "Nothing changed" in out
    lb = boto3.client("elbv2", region_name=REGION).describe_load_balancers(Names=["shop-alb"])["LoadBalancers"][0]
    ports = {entry["Port"] for entry in boto3.client("elbv2", region_name=REGION).describe_listeners(
        LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]}
    assert ports == {8081, 9443}


def test_deploy_after_a_release_keeps_production_where_the_release_put_it(
        deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """The stack follows the live side (LiveSide): updating it after a swap moves no traffic and
    replaces nothing."""
    elbv2 = boto3.client("elbv2", region_name=REGION)
    out = deployed["outputs"]
    code1, code2 = out["Code1TargetGroupArn"], out["Code2TargetGroupArn"]
    lb = elbv2.describe_load_balancers(Names=["shop-alb"])["LoadBalancers"][0]["LoadBalancerArn"]
    listeners = {entry["Port"]: entry["ListenerArn"] for entry in
                 elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"]}
    for port, group in ((80, code2), (8080, code1)):  # as the swap leaves them
        elbv2.modify_listener(ListenerArn=listeners[port], DefaultActions=[
            {"Type": "forward", "TargetGroupArn": group}])
    elbv2.add_tags(ResourceArns=[code2], Tags=[{"Key": "IsProduction", "Value": "true"}])
    elbv2.add_tags(ResourceArns=[code1], Tags=[{"Key": "IsProduction", "Value": "false"}])

    code, printed, err = run(capsys, *BASE, "--json")
    assert code == 0, printed + err
    assert json.loads(printed)["stack"] == "updated"
    forwards = {entry["Port"]: entry["DefaultActions"][0]["TargetGroupArn"]
                for entry in elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"]}
    assert forwards == {80: code2, 8080: code1}
    groups = {g["TargetGroupArn"] for g in elbv2.describe_target_groups(LoadBalancerArn=lb)["TargetGroups"]}
    assert groups == {code1, code2}  # the same target groups, not new ones
    tags = {d["ResourceArn"]: {t["Key"]: t["Value"] for t in d["Tags"]}
            for d in elbv2.describe_tags(ResourceArns=[code1, code2])["TagDescriptions"]}
    assert tags[code2]["IsProduction"] == "true" and tags[code1]["IsProduction"] == "false"


def test_code_change_updates_the_functions_and_nothing_else(deployed: dict[str, Any], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    changed = tmp_path / "handlers"
    shutil.copytree(package.HANDLERS, changed, ignore=shutil.ignore_patterns("__pycache__"))
    (changed / "notify.py").write_text((changed / "notify.py").read_text() + "\n# a change\n")
    monkeypatch.setattr(package, "HANDLERS", changed)
    code, out, _ = run(capsys, *BASE)
    assert code == 0
    assert "stack shop: updated" in out and "stack shop-service: unchanged" in out
    assert "uploaded 1 new object(s)" in out  # the new code package; every template is unchanged


def everything() -> dict[str, Any]:
    """Every bucket, object version, stack and change set in the account: what a dry run must not change."""
    s3 = boto3.client("s3", region_name=REGION)
    cfn = boto3.client("cloudformation", region_name=REGION)
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    objects = {(b, v["Key"], v["VersionId"]) for b in buckets
               for v in s3.list_object_versions(Bucket=b).get("Versions", [])}
    all_stacks = {(st["StackName"], st["StackStatus"]) for st in cfn.describe_stacks()["Stacks"]}
    change_sets = {(name, c["ChangeSetName"]) for name, _ in all_stacks
                   for c in cfn.list_change_sets(StackName=name)["Summaries"]}
    return {"buckets": set(buckets), "objects": objects, "stacks": all_stacks, "changeSets": change_sets}


def test_dry_run_of_a_first_deploy_shows_the_plan_and_writes_nothing(mocked: None,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    before = everything()
    code, out, err = run(capsys, *BASE, "--dry-run")
    assert code == 0, out + err
    assert "would create artifact bucket shop-artifacts-123456789012-us-east-1" in out
    assert "would upload" in out and "would create stack shop" in out and "would create stack shop-service" in out
    assert "Add     AWS::CloudFormation::Stack" in out and "Engine" in out
    assert "dry run: nothing was changed" in out
    assert everything() == before


def test_dry_run_of_an_update_previews_the_change_and_writes_nothing(
        deployed: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    changed = tmp_path / "handlers"
    shutil.copytree(package.HANDLERS, changed, ignore=shutil.ignore_patterns("__pycache__"))
    (changed / "notify.py").write_text((changed / "notify.py").read_text() + "\n# a change\n")
    monkeypatch.setattr(package, "HANDLERS", changed)
    before = everything()
    code, out, err = run(capsys, *BASE, "--bake-seconds", "60", "--dry-run")
    assert code == 0, out + err
    assert "would upload 1 new object(s)" in out and "would update stack shop" in out
    assert "parameter BakeSeconds: '180' -> '60'" in out and "parameter CodeKey:" in out
    assert everything() == before
    code, out, err = run(capsys, *BASE, "--bake-seconds", "60")  # the real deploy does what the dry run said
    assert code == 0, out + err
    assert "uploaded 1 new object(s)" in out and "stack shop: updated" in out


def test_destroy_removes_what_it_created_and_says_what_it_kept(deployed: dict[str, Any],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "destroy", "--aws", "--region", REGION)
    assert code == 0
    assert set(stacks().values()) <= {"DELETE_COMPLETE"}
    assert "stack shop-service" in out and "bucket shop-artifacts-123456789012-us-east-1" in out
    assert "Kept:" in out and "ECR repository" in out and "KMS key" in out
    assert out.index("stack shop-service") < out.index("stack shop\n")  # services before the load balancer


@pytest.mark.parametrize(("args", "words"), [
    (["--name", "a-very-long-system-name-x"], "must be 2 to 20 lower-case letters"),
    (["--name", "Shop"], "must be 2 to 20 lower-case letters"),
    (["--name", "shop-with-a-name-way-too-long"], "AWS allows 32"),
    (["--approver-email", "not-an-email"], "is not an email address"),
    (["--test-cidr", "0.0.0.0/0"], "must not be the whole internet"),
    (["--test-cidr", "office"], "is not a CIDR block"),
    (["--connection-arn", "arn:aws:codeconnections:us-east-1:123456789012:connection/x"], "go together"),
    (["--production-port", "70000"], "is not a TCP port"),
    (["--test-port", "80"], "must differ"),
])
def test_bad_input_fails_fast_naming_the_fix(mocked: None, capsys: pytest.CaptureFixture[str], args: list[str],
                                             words: str) -> None:
    code, _, err = run(capsys, *BASE, *args)
    assert code == 2
    assert words in err and "Nothing was changed" in err
    assert stacks() == {}


def test_missing_credentials_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _, err = run(capsys, *BASE)
    assert code == 2 and "No AWS credentials found" in err


def test_bucket_in_another_region_is_refused(mocked: None, capsys: pytest.CaptureFixture[str]) -> None:
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="my-artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    code, _, err = run(capsys, *BASE, "--bucket", "my-artifacts")
    assert code == 2 and "is in eu-west-1, but you deploy to us-east-1" in err
    assert stacks() == {}


def test_stack_in_a_failed_state_explains_how_to_recover(deployed: dict[str, Any],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends["123456789012"][REGION]
    next(s for s in backend.stacks.values() if s.name == "shop").status = "ROLLBACK_COMPLETE"
    code, _, err = run(capsys, *BASE)
    assert code == 2 and "ROLLBACK_COMPLETE" in err and "destroy --aws" in err


def test_no_secret_is_printed(deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    import os

    code, out, err = run(capsys, *BASE)
    assert code == 0
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in out + err


@pytest.mark.parametrize(("operation", "code", "words"), [
    ("CreateChangeSet", "AccessDenied", "your credentials may not call CreateChangeSet"),
    ("DescribeStacks", "ExpiredToken", "refresh them"),
    ("PutObject", "SlowDown", "wait a minute"),
])
def test_an_aws_error_is_one_line_naming_the_operation_never_a_traceback(
        mocked: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], operation: str, code: str,
        words: str) -> None:
    from deployer.target import AwsTarget

    original = AwsTarget.client

    def failing_client(self: AwsTarget, service: str) -> Any:
        client = original(self, service)

        def fail(**_: Any) -> None:
            response: Any = {"Error": {"Code": code, "Message": "injected"},
                             "ResponseMetadata": {"HTTPStatusCode": 400}}
            raise ClientError(response, operation)

        client.meta.events.register(f"before-call.*.{operation}", fail)
        return client

    monkeypatch.setattr(AwsTarget, "client", failing_client)
    exit_code, out, err = run(capsys, *BASE)
    assert exit_code == 1, out + err
    [line] = err.strip().splitlines()
    assert line.startswith(f"error: {operation} failed with {code}: injected.") and words in line
    assert "Traceback" not in out + err


def test_destroy_works_when_the_live_side_cannot_be_read(deployed: dict[str, Any],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Tearing down must not depend on the load balancer being whole: a broken system is what one removes."""
    elbv2 = boto3.client("elbv2", region_name=REGION)
    lb = elbv2.describe_load_balancers(Names=["shop-alb"])["LoadBalancers"][0]["LoadBalancerArn"]
    for listener in elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"]:
        elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
    refused, _, err = run(capsys, *BASE)  # an update must know the live side: refused, naming why
    assert refused == 2 and "Could not read which side is live" in err
    code, out, err = run(capsys, "destroy", "--aws", "--region", REGION)
    assert code == 0, out + err
    assert set(stacks().values()) <= {"DELETE_COMPLETE"}


def test_destroy_keeps_a_bucket_given_at_deploy_time(mocked: None, capsys: pytest.CaptureFixture[str]) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="team-artifacts")
    code, out, err = run(capsys, *BASE, "--bucket", "team-artifacts")
    assert code == 0, out + err
    code, out, err = run(capsys, "destroy", "--aws", "--region", REGION)  # no --bucket this time
    assert code == 0, out + err
    assert "bucket team-artifacts: deploy.py did not create it" in out
    assert "team-artifacts" in {b["Name"] for b in boto3.client("s3", region_name=REGION).list_buckets()["Buckets"]}


def test_destroy_dry_run_deletes_nothing(deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    before = everything()
    code, out, err = run(capsys, "destroy", "--aws", "--region", REGION, "--dry-run")
    assert code == 0, out + err
    assert "would delete stack shop-service" in out and "would empty (every version) and delete bucket" in out
    assert everything() == before


CONNECTION = "arn:aws:codeconnections:us-east-1:123456789012:connection/0123abcd-0000-0000-0000-000000000000"
MOTO_CANNOT_CREATE = {"AWS::CodeBuild::Project", "AWS::CodePipeline::Pipeline"}


def references(value: Any) -> set[str]:
    """The logical ids a template fragment names with Ref or Fn::GetAtt."""
    if isinstance(value, dict):
        found = {value["Ref"]} if isinstance(value.get("Ref"), str) else set()
        if isinstance(value.get("Fn::GetAtt"), list):
            found.add(value["Fn::GetAtt"][0])
        return found.union(*(references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(references(v) for v in value))
    return set()


@pytest.fixture
def with_pipeline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pipeline stack as moto can create it: everything (ECR repository, versioned artifact bucket, roles, log
    group) but the CodeBuild projects and the pipeline, which moto's CloudFormation does not model."""
    load = templates.load

    def loaded(name: str) -> dict[str, Any]:
        template = load(name)
        if name != "pipeline.yaml":
            return template
        gone = {k for k, r in template["Resources"].items() if r["Type"] in MOTO_CANNOT_CREATE}
        resources = {k: r for k, r in template["Resources"].items() if k not in gone}
        for resource in resources.values():
            for policy in resource.get("Properties", {}).get("Policies", []):
                document = policy["PolicyDocument"]
                document["Statement"] = [s for s in document["Statement"] if not references(s) & gone]
        outputs = {k: o for k, o in template["Outputs"].items() if not references(o) & gone}
        return {**template, "Resources": resources, "Outputs": {**outputs, "PipelineName": {"Value": "shop-release"}}}

    monkeypatch.setattr(templates, "load", loaded)
    return [*BASE, "--connection-arn", CONNECTION, "--repository", "owner/app"]


def pipeline_artifact_bucket() -> str:
    cfn = boto3.client("cloudformation", region_name=REGION)
    nested = cfn.describe_stack_resource(StackName="shop", LogicalResourceId="Pipeline")
    bucket = cfn.describe_stack_resource(StackName=nested["StackResourceDetail"]["PhysicalResourceId"],
                                         LogicalResourceId="ArtifactBucket")
    return str(bucket["StackResourceDetail"]["PhysicalResourceId"])


def test_the_pipeline_is_added_after_the_service_stack_it_deploys_to(
        mocked: None, with_pipeline: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *with_pipeline)
    assert code == 0, out + err
    assert out.index("creating stack shop\n") < out.index("stack shop-service: created") < \
        out.index("updating stack shop\n") < out.index("stack shop: updated")
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in boto3.client(
        "cloudformation", region_name=REGION).describe_stacks(StackName="shop")["Stacks"][0]["Parameters"]}
    assert parameters["ConnectionArn"] == CONNECTION
    assert pipeline_artifact_bucket()


def test_destroy_empties_the_pipelines_versioned_artifact_bucket_before_deleting_its_stack(
        mocked: None, with_pipeline: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """CloudFormation deletes only an empty bucket; a versioned one is empty only without versions and delete
    markers. Left as it is, the bucket fails the parent stack's deletion (DELETE_FAILED) on AWS."""
    code, out, err = run(capsys, *with_pipeline)
    assert code == 0, out + err
    bucket = pipeline_artifact_bucket()
    s3 = boto3.client("s3", region_name=REGION)
    # As the template asks (VersioningConfiguration), which moto's CloudFormation leaves out.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for run_number in range(3):  # three pipeline runs: three versions of each artifact
        for key in ("shop-release/Source/app.zip", "shop-release/Build/build.zip"):
            s3.put_object(Bucket=bucket, Key=key, Body=f"run {run_number}".encode())
    s3.delete_object(Bucket=bucket, Key="shop-release/Source/app.zip")  # expired by the lifecycle rule: a marker
    s3.delete_object(Bucket=bucket, Key="shop-release/Build/build.zip")
    listed = s3.list_object_versions(Bucket=bucket)
    assert (len(listed["Versions"]), len(listed["DeleteMarkers"])) == (6, 2)

    before = everything()
    code, out, err = run(capsys, "destroy", "--aws", "--region", REGION, "--dry-run")
    assert code == 0, out + err
    assert f"would empty bucket {bucket} (every object version and delete marker), which deleting stack shop " \
           "deletes" in out
    assert everything() == before and len(s3.list_object_versions(Bucket=bucket)["DeleteMarkers"]) == 2

    code, out, err = run(capsys, "destroy", "--aws", "--region", REGION)
    assert code == 0, out + err
    assert f"emptied bucket {bucket}: 8 object version(s) and delete marker(s) deleted" in out
    assert out.index("deleting stack shop-service") < out.index(f"emptied bucket {bucket}") < \
        out.index("deleting stack shop\n")
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert set(stacks().values()) <= {"DELETE_COMPLETE"}


def test_a_redeploy_of_a_system_with_a_pipeline_changes_nothing(
        mocked: None, with_pipeline: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *with_pipeline)
    assert code == 0, out + err
    code, out, err = run(capsys, *with_pipeline)
    assert code == 0, out + err
    assert "Nothing changed" in out, out
