"""A region's partition and DNS suffix, from the endpoint data botocore ships: no AWS call.

ARNs begin `arn:<partition>:` and endpoints end in the partition's DNS suffix, which differ outside the
commercial regions: cn-north-1 is aws-cn / amazonaws.com.cn, us-gov-west-1 is aws-us-gov / amazonaws.com.
"""

from __future__ import annotations

from functools import cache

from botocore.exceptions import UnknownRegionError
from botocore.loaders import create_loader
from botocore.regions import EndpointResolver

from .errors import DeployError
from .state import Partition


@cache
def _resolver() -> EndpointResolver:
    # The resolver boto3 sessions build from the same bundled data (Session.get_partition_for_region uses
    # it); it is also the one public place that names a partition's DNS suffix.
    return EndpointResolver(create_loader().load_data("endpoints"), uses_builtin_data=True)


def of(region: str) -> Partition:
    resolver = _resolver()
    try:
        name = str(resolver.get_partition_for_region(region))
    except UnknownRegionError as exc:
        raise DeployError(f"Region {region!r} is in no AWS partition this botocore knows. Check --region (e.g. "
                          "eu-west-1), or upgrade boto3 for a newer region. Nothing was changed.") from exc
    return Partition(name, str(resolver.get_partition_dns_suffix(name)))
