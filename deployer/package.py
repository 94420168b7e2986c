"""Reproducible Lambda deployment packages: the same sources give the same bytes and hash."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from release import defaults

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ROOT / "handlers"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest timestamp: mtimes never change the hash


def source_files(root: Path | None = None) -> list[tuple[str, Path]]:
    """(archive name, path) of every handler module and the domain package, sorted."""
    root = root or HANDLERS
    files = [p for p in root.rglob("*.py") if "__pycache__" not in p.parts]
    return sorted((p.relative_to(root).as_posix(), p) for p in files)


def build_zip(dependencies: Path | None = None, root: Path | None = None) -> bytes:
    """The handlers (and, for AWS, the runtime dependencies unpacked in `dependencies`) as one zip."""
    entries = source_files(root)
    if dependencies is not None:
        entries += sorted((p.relative_to(dependencies).as_posix(), p) for p in dependencies.rglob("*")
                          if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")
                        and p.name != ".complete")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def install_dependencies(requirements: Path, cache: Path, platform: str = defaults.LAMBDA_PLATFORM,
                         python_version: str = defaults.LAMBDA_PYTHON_VERSION) -> Path:
    """The handlers' runtime dependencies for the Lambda runtime's platform, cached by requirements hash."""
    import subprocess
    import sys

    digest = hashlib.sha256(requirements.read_bytes() + platform.encode() + python_version.encode()).hexdigest()
    target = cache / f"deps-{digest[:16]}"
    if (target / ".complete").exists():
        return target
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
               "--no-deps", "--only-binary=:all:", "--implementation", "cp", "--platform", platform,
               "--python-version", python_version, "--target", str(target), "-r", str(requirements)]
    subprocess.run(command, check=True)  # noqa: S603 - our own fixed command
    (target / ".complete").write_text("")
    return target
