"""The pipeline's PrepareRelease step: put the new image on the test side only.

Runs the engine's own discovery (the same code the state machine runs) and writes:
- params.json: the service stack's template configuration, green's Code parameter set to the new
  image and blue's kept at the image it runs now;
- release.json: the state machine input, expecting green to run the new image.

    python -m pipeline_params --build build.json --params params.json --release release.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from release import defaults
from release.config import judge_request, parse_request
from release.discovery import discover
from release.exceptions import ReleaseError
from release.gateways.ecs import Containers
from release.gateways.elbv2 import LoadBalancing
from release.hooks import hooks_request
from release.images import compute_images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--release", type=Path, required=True)
    args = parser.parse_args(argv)
    image = json.loads(args.build.read_text())["image"]
    request: dict[str, Any] = {
        "loadBalancer": os.environ["LOAD_BALANCER"], "cluster": os.environ["CLUSTER"],
        "productionPort": int(os.environ.get("PRODUCTION_PORT", defaults.PRODUCTION_PORT)),
        "testPort": int(os.environ.get("TEST_PORT", defaults.TEST_PORT)),
        "traffic": {"strategy": os.environ.get("STRATEGY", defaults.STRATEGY),
                    "bakeSeconds": int(os.environ.get("BAKE_SECONDS", defaults.BAKE_SECONDS)),
                    "alarms": [a.strip() for a in os.environ.get("ALARM_NAMES", "").split(",") if a.strip()],
                    "judge": judge_request(os.environ.get("JUDGE", "auto"),
                                           int(os.environ.get("JUDGE_PERIOD_SECONDS", defaults.JUDGE_PERIOD_SECONDS)))},
        "hooks": hooks_request(os.environ.get("HOOKS", "")),
        "health": {"deadlineSeconds": int(os.environ.get("HEALTH_DEADLINE_SECONDS",
                                                         defaults.HEALTH_DEADLINE_SECONDS))}}
    try:
        topology = discover(parse_request(request), LoadBalancing(), Containers())
        parameters = {"Parameters": compute_images(topology, image)}
    except ReleaseError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    args.params.write_text(json.dumps(parameters))
    args.release.write_text(json.dumps({**request, "expectedImage": image,
                                        "description": f"pipeline build of {image}"}))
    kept = topology["blue"]["service"]["images"][0]
    print(f"green ({topology['green']['targetGroupName']}) gets {image}; "
          f"blue ({topology['blue']['targetGroupName']}) keeps {kept}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
