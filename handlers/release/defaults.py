"""One source for every default and constant that more than one place needs.

The engine's request parsing, `deploy.py`, the pipeline's prepare step, the templates (parameter defaults,
runtime, architecture) and the state machine (state names) must agree; `tests/unit/test_one_source.py`
checks that each of them says what this module says.
"""

from __future__ import annotations

# Listeners: production and the test port green is reachable on.
PRODUCTION_PORT = 80
TEST_PORT = 8080
CONTAINER_PORT = 80

# Traffic: the watch after all traffic is on green, and how often alarms are read while shifting or baking.
STRATEGY = "all-at-once"
BAKE_SECONDS = 180
CHECK_INTERVAL_SECONDS = 10
# The judge reads the load balancer's metrics at this period: the ALB publishes them per minute.
JUDGE_PERIOD_SECONDS = 60

# Health: how long green may take to become healthy before a release stops (a stack's release policy).
HEALTH_DEADLINE_SECONDS = 600
# ... unless this many consecutive checks find it failing for a definite reason: then it stops at once.
FAIL_FAST_CHECKS = 3

# The Lambda runtime every function runs on, and the platform its dependencies are built for.
LAMBDA_RUNTIME = "python3.13"
LAMBDA_ARCHITECTURE = "arm64"
LAMBDA_PYTHON_VERSION = LAMBDA_RUNTIME.removeprefix("python")
LAMBDA_PLATFORM = "manylinux2014_aarch64"

# State names the command line watches for (the ASL is the definition; the contract test checks these exist).
APPROVAL_STATE = "Ask for approval"
