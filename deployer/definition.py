"""The state machine definition as CloudFormation's DefinitionSubstitutions would render it.

On AWS, CloudFormation substitutes; moto does not, so the sandbox and the tests render here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RELEASE_ASL = ROOT / "statemachines" / "release.asl.json"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

# The Lambda function behind each placeholder, by handler module.
FUNCTIONS = {
    "DiscoverFunctionArn": "discover",
    "CheckHealthFunctionArn": "check_health",
    "RequestApprovalFunctionArn": "request_approval",
    "SwapTrafficFunctionArn": "swap_traffic",
    "NotifyFunctionArn": "notify",
    "LockFunctionArn": "lock",
    "ShiftTrafficFunctionArn": "shift_traffic",
    "WatchFunctionArn": "watch",
    "RollBackFunctionArn": "roll_back",
    "NextHookStepFunctionArn": "next_hook_step",
}


# Service integrations, partition-aware (CloudFormation fills these from AWS::Partition).
INTEGRATIONS = {
    "LambdaInvoke": "arn:{partition}:states:::lambda:invoke",
    "LambdaInvokeWaitForTaskToken": "arn:{partition}:states:::lambda:invoke.waitForTaskToken",
}


def substitutions(function_arns: dict[str, str], partition: str = "aws") -> dict[str, str]:
    """Every placeholder's value, given the ARN of each function by handler module name."""
    values = {name: template.format(partition=partition) for name, template in INTEGRATIONS.items()}
    values.update({placeholder: function_arns[module] for placeholder, module in FUNCTIONS.items()})
    return values


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def render(text: str, substitutions: dict[str, str]) -> str:
    missing = placeholders(text) - set(substitutions)
    if missing:
        raise ValueError(f"No substitution for {', '.join(sorted(missing))}")
    return _PLACEHOLDER.sub(lambda m: substitutions[m.group(1)], text)


def load(path: Path = RELEASE_ASL) -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(path.read_text())
    return definition
