"""A virtual environment for `deploy.py`, made on first use: stock OS Pythons refuse system-wide installs.

Standard library only: this runs before any dependency is importable. Debian, Ubuntu and Homebrew mark their
Python as externally managed (PEP 668), so `pip install` outside a virtual environment fails there.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import venv
from pathlib import Path

NEEDED = ("boto3", "yaml", "moto", "aws_lambda_powertools")  # what `deploy.py` imports, one per requirement line


def ready() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in NEEDED)


def python_of(environment: Path) -> Path:
    return environment / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _digest(requirements: Path) -> str:
    """The requirements' hash, with the files they include (`-r other.txt`)."""
    hashed = hashlib.sha256(requirements.read_bytes())
    for line in requirements.read_text().splitlines():
        if line.startswith("-r "):
            hashed.update(_digest(requirements.parent / line[3:].strip()).encode())
    return hashed.hexdigest()


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def ensure(root: Path, requirements: Path, environment: Path) -> Path:
    """The environment's interpreter, with `requirements` installed (again only when they changed)."""
    marker = environment / f".installed-{requirements.name}.sha256"
    digest = _digest(requirements)
    python = python_of(environment)
    if python.exists() and marker.exists() and marker.read_text().strip() == digest:
        return python
    if not python.exists():
        say(f"first run: creating a virtual environment in {environment}")
        try:
            venv.create(environment, with_pip=True)
        except (subprocess.CalledProcessError, OSError):
            # Debian/Ubuntu without python3-venv have no ensurepip: a venv without pip, filled by this pip.
            venv.create(environment, with_pip=False, clear=True)
    say(f"installing {requirements.name} into it (once; about a minute)")
    has_pip = subprocess.run([python, "-m", "pip", "--version"],  # noqa: S603 - the environment's own pip
                             capture_output=True, check=False).returncode == 0
    pip = [str(python), "-m", "pip"] if has_pip else [sys.executable, "-m", "pip", "--python", str(python)]
    command = [*pip, "install", "--quiet", "--disable-pip-version-check", "-r", str(requirements)]
    if subprocess.run(command, check=False).returncode != 0:  # noqa: S603 - pip with our own requirements
        raise SystemExit(f"error: installing {requirements} failed (see above). Fix the cause (network, "
                         f"disk), then run the command again; `rm -r {environment}` starts afresh.")
    marker.write_text(digest)
    return python


def reexec_in_environment(root: Path, script: Path) -> None:
    """Run `script` again in the project's environment when this interpreter lacks the dependencies."""
    if ready():
        return
    environment = root / ".venv"
    python = ensure(root, root / "requirements.txt", environment)
    if Path(sys.prefix).resolve() == environment.resolve():
        return  # installed just now into this very environment
    os.execv(python, [str(python), str(script), *sys.argv[1:]])  # noqa: S606 - our own interpreter and script


def main(argv: list[str]) -> int:
    """`python -m deployer.bootstrap ENVIRONMENT REQUIREMENTS`: what the Makefile uses for its environments."""
    environment, requirements = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    ensure(Path.cwd().resolve(), requirements, environment)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
