#!/usr/bin/env python3
"""Bootstrap and operate the ECS blue/green release system. `python deploy.py --help` lists the commands."""

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent / "handlers")]

from deployer.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
