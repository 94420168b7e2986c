"""The one seam for logging and tracing (Powertools; X-Ray stays behind this module).

Outside Lambda the Tracer disables itself, so tests and the sandbox emit no X-Ray noise.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Tracer

SERVICE = "ecs-bluegreen-release"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
