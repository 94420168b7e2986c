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

# One importable module per requirements.txt line (a test checks the two agree); presence, not versions:
# the environment's marker (the requirements' hash) is what keeps versions current.
NEEDED = ("boto3", "yaml", "moto", "aws_lambda_powertools", "aws_xray_sdk")
OLDEST_PYTHON = (3, 11)
PIP_WITH_PYTHON_OPTION = (22, 3)  # `pip --python`, which fills an environment made without pip


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


def _pip_version(command: list[str]) -> tuple[int, ...] | None:
    done = subprocess.run([*command, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        return None
    return tuple(int(part) for part in done.stdout.split()[1].split(".")[:2] if part.isdigit())


def _installer(python: Path, environment: Path) -> list[str]:
    """The environment's own pip, else this interpreter's pip aimed at it; else what to install, and stop."""
    own = [str(python), "-m", "pip"]
    if _pip_version(own) is not None:
        return own
    outside = [sys.executable, "-m", "pip"]
    version = _pip_version(outside)
    if version is not None and version >= PIP_WITH_PYTHON_OPTION:
        return [*outside, "--python", str(python)]
    found = "no pip" if version is None else f"pip {'.'.join(map(str, version))}"
    raise SystemExit(f"error: {sys.executable} has no ensurepip and {found} (pip 22.3 or later can fill the "
                     f"environment). Install your system's venv package (Debian/Ubuntu: `sudo apt install "
                     f"python3-venv`), then run `rm -r {environment}` and the command again.")


def ensure(requirements: Path, environment: Path) -> Path:
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
    command = [*_installer(python, environment), "install", "--quiet", "--disable-pip-version-check",
               "-r", str(requirements)]
    if subprocess.run(command, check=False).returncode != 0:  # noqa: S603 - pip with our own requirements
        raise SystemExit(f"error: installing {requirements} failed (see above). Fix the cause (network, "
                         f"disk), then run the command again; `rm -r {environment}` starts afresh.")
    marker.write_text(digest)
    return python


def reexec_in_environment(root: Path, script: Path) -> None:
    """Run `script` again in the project's environment when this interpreter lacks the dependencies."""
    if sys.version_info < OLDEST_PYTHON:
        raise SystemExit(f"error: deploy.py needs Python {'.'.join(map(str, OLDEST_PYTHON))} or later; this is "
                         f"{sys.version.split()[0]}. Run it with a newer python3.")
    if ready():
        return
    environment = root / ".venv"
    python = ensure(root / "requirements.txt", environment)
    if Path(sys.prefix).resolve() == environment.resolve():
        return  # installed just now into this very environment
    os.execv(python, [str(python), str(script), *sys.argv[1:]])  # noqa: S606 - our own interpreter and script


def main(argv: list[str]) -> int:
    """`python -m deployer.bootstrap ENVIRONMENT REQUIREMENTS`: what the Makefile uses for its environments."""
    environment, requirements = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    ensure(requirements, environment)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
