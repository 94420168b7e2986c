#!/usr/bin/env python3
"""Bootstrap and operate the ECS blue/green release system. `python3 deploy.py --help` lists the commands."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT / "handlers")]

from deployer import bootstrap  # noqa: E402 - standard library only

bootstrap.reexec_in_environment(ROOT, Path(__file__).resolve())

from deployer.cli import main  # noqa: E402
from sandbox.target import Sandbox  # noqa: E402 - the one place that puts the deployer and the sandbox together

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], sandbox=Sandbox()))
