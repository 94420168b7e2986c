"""Deploy planning, without AWS: what is created, uploaded, updated, deleted or kept, from what was observed."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import MappingProxyType

import pytest

from deployer import plan
from deployer.errors import DeployError
from deployer.settings import Settings
from deployer.state import BucketState, Observed, OwnedBucket, Partition, StackState

ROOT = Path(__file__).resolve().parents[2]
PARENT_TEMPLATE = json.dumps({"Resources": {"Engine": {"Type": "AWS::CloudFormation::Stack"}}}).encode()
SERVICE_TEMPLATE = json.dumps({"Resources": {"Code1Service": {"Type": "AWS::ECS::Service"}}}).encode()
ARTIFACTS = plan.Artifacts("shop-artifacts", {"templates/p.json": PARENT_TEMPLATE, "templates/s.json": SERVICE_TEMPLATE,
                                              "code/c.zip": b"zip"},
                           "templates/p.json", "templates/s.json", "code/c.zip", "https://b.s3")
SETTINGS = Settings(approver_emails=("ops@example.com",), test_cidr="203.0.113.0/24", image="app:v1")
AWS = Partition("aws", "amazonaws.com")


def stack(name: str, parameters: dict[str, str], template: bytes, status: str = "UPDATE_COMPLETE") -> StackState:
    return StackState(name, status, MappingProxyType(parameters), MappingProxyType({"LoadBalancerName": "shop-alb"}),
                      json.loads(template))


def nothing(bucket: BucketState | None = None) -> Observed:
    return Observed("123456789012", "us-east-1", None, None, bucket or BucketState("shop-artifacts", exists=False),
                    partition=AWS)


def deployed(**overrides: str) -> Observed:
    parent = plan.parent_parameters(SETTINGS, ARTIFACTS, "Code2")
    values = {k: str(v) for k, v in parent.items() if v is not None} | overrides
    service = {"Code1": "app:v1", "Code2": "app:v2", "Name": "shop", "ClusterName": "c"}
    return Observed("123456789012", "us-east-1", stack("shop", values, PARENT_TEMPLATE),
                    stack("shop-service", service, SERVICE_TEMPLATE),
                    BucketState("shop-artifacts", exists=True, region="us-east-1"),
                    frozenset(ARTIFACTS.objects), live_side="Code2", partition=AWS)


def test_a_first_deploy_creates_the_bucket_uploads_everything_and_creates_both_stacks() -> None:
    steps = plan.plan_up(SETTINGS, ARTIFACTS, nothing(), tls_only=True)
    assert [type(s).__name__ for s in steps] == ["CreateBucket", "Upload", "DeployStack", "DeployStack"]
    bucket, upload, parent, service = steps
    assert bucket == plan.CreateBucket("shop-artifacts", "us-east-1", tls_only=True)
    assert isinstance(upload, plan.Upload) and set(upload.keys) == set(ARTIFACTS.objects)
    assert isinstance(parent, plan.DeployStack) and parent.create and parent.parameters["LiveSide"] == "Code1"
    assert "Add     AWS::CloudFormation::Stack" in parent.preview[0]
    assert isinstance(service, plan.DeployStack) and service.create
    assert service.parameters["Code1"] == service.parameters["Code2"] == "app:v1"
    assert service.parameters["ClusterName"] == plan.Output("shop", "ClusterName")  # known after the parent


def test_a_redeploy_with_nothing_new_uploads_nothing_and_previews_no_change() -> None:
    steps = plan.plan_up(SETTINGS, ARTIFACTS, deployed(), tls_only=True)
    upload, parent, service = steps
    assert isinstance(upload, plan.Upload) and upload.keys == () and upload.unchanged == 3
    assert isinstance(parent, plan.DeployStack) and not parent.create and parent.preview == ()
    assert parent.parameters["LiveSide"] == "Code2"  # the stack follows production, never moves it
    assert isinstance(service, plan.DeployStack) and service.parameters["Code1"] is None  # images kept


def test_an_update_previews_the_parameters_that_change() -> None:
    steps = plan.plan_up(SETTINGS, ARTIFACTS, deployed(BakeSeconds="60"), tls_only=True)
    parent = steps[1]
    assert isinstance(parent, plan.DeployStack)
    assert parent.preview == ("parameter BakeSeconds: '60' -> '180'",)


def test_ports_not_asked_for_stay_what_is_deployed() -> None:
    observed = deployed(ProductionPort="8081", TestPort="9443")
    assert (plan.resolve(SETTINGS, {}, observed).production_port, plan.resolve(SETTINGS, {}, observed).test_port) \
        == (8081, 9443)
    asked = plan.resolve(SETTINGS, {"production_port": 80}, observed)
    assert (asked.production_port, asked.test_port) == (80, 9443)
    assert plan.resolve(SETTINGS, {}, nothing()).production_port == SETTINGS.production_port


@pytest.mark.parametrize(("settings", "observed", "words"), [
    (Settings(bucket="mine"), nothing(BucketState("mine", exists=False)), "(--bucket) does not exist"),
    (SETTINGS, nothing(BucketState("shop-artifacts", exists=True, readable=False)), "is not yours"),
    (SETTINGS, nothing(BucketState("shop-artifacts", exists=True, region="eu-west-1")), "is in eu-west-1"),
    (SETTINGS, Observed("1", "us-east-1", stack("shop", {}, PARENT_TEMPLATE, "ROLLBACK_COMPLETE"), None, partition=AWS),
     "destroy --aws"),
    (SETTINGS, Observed("1", "us-east-1", stack("shop", {}, PARENT_TEMPLATE, "UPDATE_IN_PROGRESS"), None,
                        partition=AWS),
     "another operation is running"),
])
def test_what_cannot_be_deployed_is_refused_before_any_step(settings: Settings, observed: Observed,
                                                            words: str) -> None:
    with pytest.raises(DeployError, match="Nothing was changed") as raised:
        plan.plan_up(settings, ARTIFACTS, observed, tls_only=True)
    assert words in str(raised.value)


def test_new_images_change_only_the_image_parameters() -> None:
    [step] = plan.plan_images(SETTINGS, deployed(CodeBucket="b", ServiceTemplateKey="templates/s.json"),
                              {"Code1": "app:v3", "Code2": "app:v2"})
    assert isinstance(step, plan.DeployStack) and not step.create
    assert step.parameters["Code1"] == "app:v3" and step.parameters["ClusterName"] == "c"  # kept as deployed
    assert step.preview == ("parameter Code1: 'app:v1' -> 'app:v3'",)
    assert step.template_url == "https://b.s3.us-east-1.amazonaws.com/templates/s.json"


def test_destroy_deletes_the_services_first_and_keeps_a_bucket_the_user_gave() -> None:
    steps = plan.plan_destroy(Settings(bucket="mine"), deployed(), "shop-artifacts")
    assert steps[:2] == [plan.DeleteStack("shop-service"), plan.DeleteStack("shop")]
    assert plan.Keep("bucket mine", "you provided it (--bucket)") in steps
    assert not any(isinstance(s, plan.DeleteBucket) for s in steps)
    own = plan.plan_destroy(Settings(), deployed(CodeBucket="shop-artifacts"), "shop-artifacts")
    assert plan.DeleteBucket("shop-artifacts") in own
    given_at_deploy = plan.plan_destroy(Settings(), deployed(CodeBucket="team-bucket"), "shop-artifacts")
    assert not any(isinstance(s, plan.DeleteBucket) for s in given_at_deploy)
    assert any(isinstance(s, plan.Keep) and s.what == "bucket team-bucket" for s in given_at_deploy)


def test_destroy_empties_the_buckets_a_stack_deletes_right_before_deleting_that_stack() -> None:
    """CloudFormation deletes only an empty bucket: the pipeline's versioned artifact store would leave the parent
    stack DELETE_FAILED. A bucket the template retains is neither emptied nor deleted, and is named as kept."""
    from dataclasses import replace

    owned = (OwnedBucket("shop-pipeline-artifactbucket-1", "shop", retained=False),
             OwnedBucket("shop-records", "shop", retained=True))
    steps = plan.plan_destroy(Settings(), replace(deployed(), owned_buckets=owned), "shop-artifacts")
    assert steps[:3] == [plan.DeleteStack("shop-service"), plan.EmptyBucket("shop-pipeline-artifactbucket-1", "shop"),
                         plan.DeleteStack("shop")]
    assert plan.Keep("bucket shop-records", "stack shop retains it (DeletionPolicy Retain)") in steps
    assert [s for s in steps if isinstance(s, plan.EmptyBucket)] == [steps[1]]
    assert plan.describe(steps[1]) == ["empty bucket shop-pipeline-artifactbucket-1 (every object version and delete "
                                       "marker), which deleting stack shop deletes"]


PIPELINE = Settings(approver_emails=("ops@example.com",), test_cidr="203.0.113.0/24", image="app:v1",
                    connection_arn="arn:aws:codeconnections:us-east-1:123456789012:connection/x", repository="me/app")


def deploys(steps: list[plan.Step]) -> list[tuple[str, object, bool]]:
    return [(s.name, s.parameters.get("ConnectionArn"), s.create) for s in steps if isinstance(s, plan.DeployStack)]


def test_a_new_pipeline_is_added_only_once_the_service_stack_it_deploys_to_exists() -> None:
    """CodePipeline runs a new pipeline at once, and that run updates the service stack: the parent is deployed
    without the pipeline (ConnectionArn empty), then the service stack, then the parent with it."""
    arn = PIPELINE.connection_arn
    first_deploy = plan.plan_up(PIPELINE, ARTIFACTS, nothing(), tls_only=True)
    assert deploys(first_deploy) == [("shop", "", True), ("shop-service", None, True), ("shop", arn, False)]
    without, last = first_deploy[2], first_deploy[-1]
    assert isinstance(without, plan.DeployStack) and isinstance(last, plan.DeployStack)
    assert {**last.parameters, "ConnectionArn": ""} == without.parameters  # nothing else differs
    assert last.preview == (f"parameter ConnectionArn: '' -> {arn!r}: adds the pipeline, now that the service stack "
                            "it deploys to exists",)
    added_later = plan.plan_up(PIPELINE, ARTIFACTS, deployed(), tls_only=True)
    assert deploys(added_later) == [("shop", "", False), ("shop-service", None, False), ("shop", arn, False)]
    already_there = plan.plan_up(PIPELINE, ARTIFACTS, deployed(ConnectionArn=arn), tls_only=True)
    assert deploys(already_there) == [("shop", arn, False), ("shop-service", None, False)]
    assert deploys(plan.plan_up(SETTINGS, ARTIFACTS, nothing(), tls_only=True)) == [
        ("shop", "", True), ("shop-service", None, True)]


def test_every_step_reads_as_a_sentence() -> None:
    for step in plan.plan_up(SETTINGS, ARTIFACTS, nothing(), tls_only=False):
        assert plan.describe(step)[0].split()[0] in {"create", "upload", "update"}


def test_the_deployer_never_imports_the_sandbox() -> None:
    """The sandbox is a target that depends on the deployer; the deployer knows it only through `Target`."""
    for path in (ROOT / "deployer").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(name == "sandbox" or name.startswith("sandbox.") for name in names), path.name


@pytest.mark.parametrize("argv", [["--aws", "status"], ["status", "--aws"], ["--aws", "--name", "x", "release",
                                                                           "--image", "i"], ["--aws", "--dry-run"]])
def test_an_option_given_before_or_after_the_command_counts(argv: list[str]) -> None:
    from deployer.cli import parse

    assert parse(argv).aws is True


@pytest.mark.parametrize("argv", [["--dry-run", "destroy", "--aws"], ["--dry-run", "release", "--image", "i"],
                                  ["--strategy", "canary:10:1", "release", "--image", "i"], ["status", "--dry-run"]])
def test_an_option_of_another_command_is_refused_never_ignored(argv: list[str],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from deployer.cli import parse

    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_no_command_is_up_with_its_options() -> None:
    from deployer.cli import parse

    args = parse(["--dry-run", "--image", "app:v1", "--aws"])
    assert (args.command, args.dry_run, args.image, args.aws) == ("up", True, "app:v1", True)


def test_planning_imports_no_aws_sdk() -> None:
    """Planning is pure: importing it loads neither boto3 nor botocore (nor anything that talks to AWS)."""
    import subprocess
    import sys

    code = ("import sys, deployer.plan; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in {'boto3', 'botocore'}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": f"{ROOT}:{ROOT / 'handlers'}"})
    assert done.stdout.strip() == "[]"


def test_the_service_stack_has_no_secret_parameter() -> None:
    """A release states every service-stack parameter as deployed; a NoEcho one would be sent back as ****."""
    assert "NoEcho" not in (ROOT / "cfn" / "service.yaml").read_text()


def test_an_update_keeps_parameters_it_does_not_set_rather_than_the_template_default() -> None:
    template = json.dumps({"Parameters": {"DesiredCount": {}, "Code1": {}, "Code2": {}, "Name": {}},
                           "Resources": {}}).encode()
    state = stack("shop-service", {"DesiredCount": "10", "Gone": "x", "Code1": "a", "Code2": "b"}, template)
    kept = plan.keep_the_rest({"Name": "shop", "Code1": None, "Code2": None}, state, template)
    assert kept["DesiredCount"] is None and "Gone" not in kept  # kept as deployed; dropped if no longer declared
    assert plan.keep_the_rest({"Name": "shop"}, None, template) == {"Name": "shop"}


def test_a_redeploy_keeps_every_deployed_setting_it_is_not_asked_to_change() -> None:
    observed = deployed(CertificateArn="arn:aws:acm:us-east-1:1:certificate/x", AlarmNames="a,b",
                        ApproverEmail2="two@example.com", TestCidr="198.51.100.0/24")
    settings = plan.resolve(Settings(), {"bake_seconds": 30}, observed)
    assert settings.certificate_arn == "arn:aws:acm:us-east-1:1:certificate/x" and settings.alarm_names == ("a", "b")
    assert settings.approver_emails == ("ops@example.com", "two@example.com") and settings.test_cidr == \
        "198.51.100.0/24"
    assert settings.bake_seconds == 30


def test_an_update_is_refused_while_a_release_runs() -> None:
    from dataclasses import replace

    with pytest.raises(DeployError, match="release is in progress"):
        plan.plan_up(SETTINGS, ARTIFACTS, replace(deployed(), running=("release-1",)), tls_only=True)
