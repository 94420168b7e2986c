"""ARNs and endpoints follow the region's partition: China and GovCloud are not `arn:aws:` / `amazonaws.com`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from deployer import artifacts, partitions, plan, templates
from deployer.errors import DeployError
from deployer.settings import Settings
from deployer.state import Observed, Partition, StackState

ROOT = Path(__file__).resolve().parents[2]
REGIONS = [("us-east-1", "aws", "amazonaws.com"), ("cn-north-1", "aws-cn", "amazonaws.com.cn"),
           ("cn-northwest-1", "aws-cn", "amazonaws.com.cn"), ("us-gov-west-1", "aws-us-gov", "amazonaws.com")]


@pytest.mark.parametrize(("region", "partition", "suffix"), REGIONS)
def test_a_region_names_its_partition_and_dns_suffix(region: str, partition: str, suffix: str) -> None:
    assert partitions.of(region) == Partition(partition, suffix)


def test_an_unknown_region_is_refused_naming_it() -> None:
    with pytest.raises(DeployError, match=r"'xx-nowhere-1'.*Nothing was changed"):
        partitions.of("xx-nowhere-1")


class RecordingS3:
    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}

    def __getattr__(self, operation: str) -> Any:
        def record(**kwargs: Any) -> None:
            self.calls[operation] = kwargs

        return record


@pytest.mark.parametrize(("region", "partition", "suffix"), REGIONS)
def test_the_tls_only_bucket_policy_names_the_bucket_in_its_partition(region: str, partition: str,
                                                                      suffix: str) -> None:
    s3 = RecordingS3()
    artifacts.create_bucket(s3, "shop-artifacts", region, tls_only=True)
    [statement] = json.loads(s3.calls["put_bucket_policy"]["Policy"])["Statement"]
    assert statement["Resource"] == [f"arn:{partition}:s3:::shop-artifacts", f"arn:{partition}:s3:::shop-artifacts/*"]


@pytest.mark.parametrize(("region", "partition", "suffix"), REGIONS)
def test_nested_templates_are_read_from_the_regions_s3_endpoint(region: str, partition: str, suffix: str) -> None:
    packaged = templates.package("shop-artifacts", region)
    parent = json.loads(packaged.objects[packaged.parent_key])
    urls = [r["Properties"]["TemplateURL"] for r in parent["Resources"].values()
            if r["Type"] == "AWS::CloudFormation::Stack"]
    assert urls and all(re.fullmatch(rf"https://shop-artifacts\.s3\.{region}\.{re.escape(suffix)}/templates/\w+\.json",
                                     url) for url in urls), urls


@pytest.mark.parametrize(("region", "partition", "suffix"), REGIONS)
def test_a_new_image_deploys_the_service_template_from_the_regions_s3_endpoint(region: str, partition: str,
                                                                              suffix: str) -> None:
    parent = StackState("shop", "UPDATE_COMPLETE", {"CodeBucket": "b", "ServiceTemplateKey": "templates/s.json"}, {})
    service = StackState("shop-service", "UPDATE_COMPLETE", {"Code1": "a", "Code2": "b"}, {})
    observed = Observed("123456789012", region, parent, service, partition=partitions.of(region))
    [step] = plan.plan_images(Settings(), observed, {"Code1": "c"})
    assert isinstance(step, plan.DeployStack)
    assert step.template_url == f"https://b.s3.{region}.{suffix}/templates/s.json"


def test_no_partition_or_dns_suffix_is_written_into_the_code() -> None:
    """Every ARN and endpoint is built from the region's partition (`partitions.of`, whose docstring alone names
    some), never spelled out."""
    sources = [*(ROOT / "deployer").glob("*.py"), *(ROOT / "handlers").rglob("*.py"), ROOT / "sandbox" / "target.py"]
    sources.remove(ROOT / "deployer" / "partitions.py")
    found = [f"{path.relative_to(ROOT)}:{number}" for path in sources
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if re.search(r"arn:aws:|amazonaws\.com", line) and not line.lstrip().startswith("#")]
    assert found == []
