"""A complete blue/green world in moto: ALB, target groups, services, topics, table, functions, workflow.

Everything is created through the same boto3 APIs a real account would see; what moto cannot do
(run tasks, report unhealthy targets, record CodePipeline results, run Lambda without Docker) is
filled by `sandbox.moto_ext` and `sandbox.lambda_runtime`.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import boto3

from deployer import definition, package
from sandbox import moto_ext
from tests.support import roles

REGION = "us-east-1"
ACCOUNT = "123456789012"
CLUSTER = "shop"
APPROVAL_URL = "https://approvals.example.test"


@dataclass
class World:
    blue_image: str = "shop-web:1.0.0"
    green_image: str = "shop-web:2.0.0"
    targets_per_side: int = 2
    clients: dict[str, Any] = field(default_factory=dict)
    # actions taken out of a role as engine.yaml grants it: handler module (or "state_machine") -> IAM actions
    revoked: dict[str, set[str]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    # approver addresses: each gets an SQS inbox subscribed with the filter policy engine.yaml gives their email
    approvers: tuple[str, ...] = ()

    def client(self, name: str) -> Any:
        if name not in self.clients:
            self.clients[name] = boto3.client(name, region_name=REGION)  # type: ignore[call-overload]
        return self.clients[name]

    # ---- building -------------------------------------------------------------------------
    def build(self) -> World:
        self._network_and_load_balancer()
        self._services()
        self._messaging()
        self._functions_and_workflow()
        return self

    def _network_and_load_balancer(self) -> None:
        ec2, elb = self.client("ec2"), self.client("elbv2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")
                   ["Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
        lb = elb.create_load_balancer(Name="shop-alb", Subnets=subnets)["LoadBalancers"][0]
        self.ids.update(vpc=vpc, lb=lb["LoadBalancerArn"], dns=lb["DNSName"])
        for code, live in (("Code1", "true"), ("Code2", "false")):
            tg = elb.create_target_group(
                Name=f"shop-{code.lower()}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip",
                HealthCheckPath="/health",
                Tags=[{"Key": "Identifier", "Value": code}, {"Key": "IsProduction", "Value": live}])
            self.ids[code] = tg["TargetGroups"][0]["TargetGroupArn"]
        for port, code in ((80, "Code1"), (8080, "Code2")):
            listener = elb.create_listener(LoadBalancerArn=self.ids["lb"], Protocol="HTTP", Port=port,
                                           DefaultActions=[{"Type": "forward", "TargetGroupArn": self.ids[code]}])
            self.ids[f"listener{port}"] = listener["Listeners"][0]["ListenerArn"]

    def _services(self) -> None:
        ecs, elb = self.client("ecs"), self.client("elbv2")
        ecs.create_cluster(clusterName=CLUSTER)
        for code, image in (("Code1", self.blue_image), ("Code2", self.green_image)):
            task_definition = self.register_task_definition(code, image)
            ecs.create_service(cluster=CLUSTER, serviceName=f"shop-{code.lower()}", taskDefinition=task_definition,
                               desiredCount=self.targets_per_side,
                               loadBalancers=[{"targetGroupArn": self.ids[code], "containerName": "web",
                                               "containerPort": 8000}])
            moto_ext.settle_service(CLUSTER, f"shop-{code.lower()}")
            subnet = 1 if code == "Code1" else 2
            elb.register_targets(TargetGroupArn=self.ids[code], Targets=[
                {"Id": f"10.0.{subnet}.{10 + i}", "Port": 8000} for i in range(self.targets_per_side)])

    def register_task_definition(self, code: str, image: str) -> str:
        return str(self.client("ecs").register_task_definition(
            family=f"shop-{code.lower()}",
            containerDefinitions=[{"name": "web", "image": image, "memory": 256, "essential": True,
                                   "portMappings": [{"containerPort": 8000}]}],
        )["taskDefinition"]["taskDefinitionArn"])

    def _messaging(self) -> None:
        sns, sqs, ddb = self.client("sns"), self.client("sqs"), self.client("dynamodb")
        # the system's key, as keys.yaml makes it: publishing to the topics needs the right to use it
        self.ids["key"] = self.client("kms").create_key(Description="shop")["KeyMetadata"]["Arn"]
        for name in ("approvals", "notifications"):
            topic = sns.create_topic(Name=f"shop-{name}", Attributes={"KmsMasterKeyId": self.ids["key"]})["TopicArn"]
            queue = sqs.create_queue(QueueName=f"shop-{name}-inbox")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
            self.ids[f"{name}Topic"], self.ids[f"{name}Queue"] = topic, queue
        for index, approver in enumerate(self.approvers):
            queue = sqs.create_queue(QueueName=f"shop-approver-{index}")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=self.ids["approvalsTopic"], Protocol="sqs", Endpoint=queue_arn,
                          Attributes={"FilterPolicy": json.dumps({"approver": [approver]})})
            self.ids[f"approver:{approver}Queue"] = queue
        ddb.create_table(TableName="shop-approvals", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "approvalKey", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "approvalKey", "KeyType": "HASH"}])
        self.ids["table"] = "shop-approvals"
        ddb.create_table(TableName="shop-release-locks", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "lockKey", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "lockKey", "KeyType": "HASH"}])
        self.ids["locks"] = "shop-release-locks"

    def environment(self) -> dict[str, str]:
        return {"APPROVALS_TABLE": self.ids["table"], "APPROVAL_URL": APPROVAL_URL, "LOCKS_TABLE": self.ids["locks"],
                "APPROVAL_TOPIC_ARN": self.ids["approvalsTopic"],
                "NOTIFICATION_TOPIC_ARN": self.ids["notificationsTopic"],
                "PROBE_ROUTE": "nat",  # as deployed with private task subnets, the default
                "HOOK_FUNCTION_PREFIX": "shop-hook-",
                "APPROVERS": ",".join(self.approvers),
                "POWERTOOLS_TRACE_DISABLED": "true"}

    def template_values(self, modules: list[str]) -> dict[str, str]:
        """What engine.yaml's references stand for in this world (tests/support/roles.py resolves them)."""
        arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}".format
        values = {
            "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "Name": "shop", "ClusterName": CLUSTER, "ClusterArn": arn("ecs", f"cluster/{CLUSTER}"),
            "ProductionListenerArn": self.ids["listener80"], "TestListenerArn": self.ids["listener8080"],
            "Code1TargetGroupArn": self.ids["Code1"], "Code2TargetGroupArn": self.ids["Code2"],
            "KeyArn": self.ids["key"],
            "ApprovalsTable": self.ids["table"], "ApprovalsTable.Arn": arn("dynamodb", f"table/{self.ids['table']}"),
            "LocksTable": self.ids["locks"], "LocksTable.Arn": arn("dynamodb", f"table/{self.ids['locks']}"),
            "ApprovalTopic": self.ids["approvalsTopic"], "NotificationTopic": self.ids["notificationsTopic"],
            "StateMachine": arn("states", "stateMachine:shop-release"),
        }
        for module in modules:
            logical = "".join(part.title() for part in module.split("_"))
            values[f"{logical}Function.Arn"] = arn("lambda", f"function:shop-{module.replace('_', '-')}")
        return values

    def _functions_and_workflow(self) -> None:
        iam, lam, sfn = self.client("iam"), self.client("lambda"), self.client("stepfunctions")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "lambda.amazonaws.com"}}]}
        code = package.build_zip()
        modules = [*definition.FUNCTIONS.values(), "approval_api"]
        values = self.template_values(modules)
        policies = roles.function_policies(values)
        # the workflow's role as engine.yaml grants it: each Lambda invocation it makes is authorized too
        states = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                          "Principal": {"Service": "states.amazonaws.com"}}]}
        role = iam.create_role(RoleName="shop-release", AssumeRolePolicyDocument=json.dumps(states))["Role"]["Arn"]
        for policy_name, document in roles.role_policies("StateMachineRole", values):
            roles.revoke(document, self.revoked.get("state_machine", set()))
            iam.put_role_policy(RoleName="shop-release", PolicyName=policy_name, PolicyDocument=json.dumps(document))
        for module in modules:
            name = f"shop-{module.replace('_', '-')}"
            # each function's own role, granted exactly what engine.yaml grants it: every call is authorized
            function_role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
            for policy_name, document in policies[module]:
                roles.revoke(document, self.revoked.get(module, set()))
                iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
            arn = lam.create_function(FunctionName=name, Runtime="python3.12",
                                      Role=function_role, Handler=f"{module}.handler", Code={"ZipFile": code},
                                      Timeout=60, Environment={"Variables": self.environment()})["FunctionArn"]
            self.ids[module] = arn
        asl = definition.render(definition.RELEASE_ASL.read_text(), definition.substitutions(self.ids))
        self.ids["stateMachine"] = sfn.create_state_machine(
            name="shop-release", definition=asl, roleArn=role)["stateMachineArn"]

    def add_hook(self, name: str, *answers: Any) -> Any:
        """A scripted hook function `name` answering `answers` in turn (the last one repeats); its Script."""
        from tests.support import hooks

        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "lambda.amazonaws.com"}}]}
        role = self.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        self.client("lambda").create_function(FunctionName=name, Runtime="python3.12", Role=role["Arn"],
                                              Handler="tests.support.hooks.handler",
                                              Code={"ZipFile": package.build_zip()}, Timeout=60)
        hooks.SCRIPTS[name] = hooks.Script(list(answers))
        return hooks.SCRIPTS[name]

    # ---- acting ---------------------------------------------------------------------------
    def request(self, **overrides: Any) -> dict[str, Any]:
        request: dict[str, Any] = {
            "loadBalancer": "shop-alb", "cluster": CLUSTER,
            "health": {"deadlineSeconds": 5, "pollIntervalSeconds": 1, "maxPollIntervalSeconds": 1},
            "approval": {"required": True, "timeoutSeconds": 30},
            "traffic": {"bakeSeconds": 0, "checkIntervalSeconds": 1},
        }
        request.update(overrides)
        return request

    def start(self, request: dict[str, Any]) -> str:
        return str(self.client("stepfunctions").start_execution(
            stateMachineArn=self.ids["stateMachine"], name=f"release-{uuid.uuid4().hex[:12]}",
            input=json.dumps(request))["executionArn"])

    def wait(self, execution_arn: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described: dict[str, Any] = self.client("stepfunctions").describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.05)
        raise AssertionError(f"execution still running after {timeout} s")

    def wait_for_message(self, name: str, timeout: float = 30) -> dict[str, Any]:
        """The next message on a topic (via its SQS inbox), as SNS delivered it."""
        deadline = time.monotonic() + timeout
        sqs = self.client("sqs")
        while time.monotonic() < deadline:
            got = sqs.receive_message(QueueUrl=self.ids[f"{name}Queue"], MaxNumberOfMessages=1).get("Messages", [])
            if got:
                sqs.delete_message(QueueUrl=self.ids[f"{name}Queue"], ReceiptHandle=got[0]["ReceiptHandle"])
                body: dict[str, Any] = json.loads(got[0]["Body"])
                return body
            time.sleep(0.05)
        raise AssertionError(f"no message on {name} within {timeout} s")

    def messages(self, name: str) -> list[dict[str, Any]]:
        sqs, found = self.client("sqs"), []
        while got := sqs.receive_message(QueueUrl=self.ids[f"{name}Queue"], MaxNumberOfMessages=10).get("Messages"):
            for message in got:
                sqs.delete_message(QueueUrl=self.ids[f"{name}Queue"], ReceiptHandle=message["ReceiptHandle"])
                found.append(json.loads(message["Body"]))
        return found

    def production_target(self) -> str:
        return self.listener_target(80)

    def listener_target(self, port: int) -> str:
        actions = self.client("elbv2").describe_listeners(ListenerArns=[self.ids[f"listener{port}"]])[
            "Listeners"][0]["DefaultActions"]
        forward = next(a for a in actions if a["Type"] == "forward")
        groups = (forward.get("ForwardConfig") or {}).get("TargetGroups")
        return str(groups[0]["TargetGroupArn"] if groups and len(groups) == 1 else forward["TargetGroupArn"])

    def production_tags(self) -> dict[str, str]:
        described = self.client("elbv2").describe_tags(ResourceArns=[self.ids["Code1"], self.ids["Code2"]])
        by_arn = {d["ResourceArn"]: {t["Key"]: t["Value"] for t in d["Tags"]} for d in described["TagDescriptions"]}
        return {code: by_arn[self.ids[code]].get("IsProduction", "") for code in ("Code1", "Code2")}

    def deploy_to_green(self, image: str, code: str = "Code2") -> str:
        task_definition = self.register_task_definition(code, image)
        self.client("ecs").update_service(cluster=CLUSTER, service=f"shop-{code.lower()}",
                                          taskDefinition=task_definition)
        moto_ext.settle_service(CLUSTER, f"shop-{code.lower()}")
        return task_definition


def http_event(method: str, path: str, form: dict[str, str] | None = None, source_ip: str = "198.51.100.7",
               query: str = "") -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as a browser's request would produce it."""
    body = urlencode(form) if form is not None else None
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"content-type": "application/x-www-form-urlencoded", "host": "approvals.example.test",
                    "user-agent": "pytest"},
        "requestContext": {"accountId": ACCOUNT, "apiId": "api", "domainName": "approvals.example.test",
                           "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": source_ip, "userAgent": "pytest"},
                           "requestId": uuid.uuid4().hex, "routeKey": "$default", "stage": "$default",
                           "time": "26/Nov/2026:07:00:00 +0000", "timeEpoch": 0},
        "body": base64.b64encode(body.encode()).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }
