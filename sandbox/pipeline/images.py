"""Container images without a container engine: what the sandbox's `docker` builds and its ECS runs.

`build` follows a Dockerfile over its build context: WORKDIR, COPY/ADD of local files, ENV, CMD, ENTRYPOINT and
the other metadata instructions shape an image (one layer: the files, one config: how to run them). There is no
base image and nothing runs at build time, so RUN is reported and skipped. The layer is a reproducible tarball,
so the same context builds the same digest. Blobs are kept by digest in the sandbox's registry folder; ECR (moto)
keeps the manifests and the tags, as ECR keeps them on AWS.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shlex
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
_METADATA = {"EXPOSE", "LABEL", "USER", "ARG", "HEALTHCHECK", "STOPSIGNAL", "VOLUME", "SHELL", "ONBUILD",
             "MAINTAINER"}
_KNOWN = {"FROM", "WORKDIR", "COPY", "ADD", "ENV", "CMD", "ENTRYPOINT", "RUN", *_METADATA}


class BuildError(Exception):
    """The Dockerfile does not build; the message is docker's."""


@dataclass
class Image:
    config: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)  # path in the image -> content
    skipped: list[str] = field(default_factory=list)  # RUN instructions not run

    def layer(self) -> bytes:
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as zipped, \
                tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.files):
                info = tarfile.TarInfo(path.lstrip("/"))
                info.size, info.mtime, info.mode = len(self.files[path]), 0, 0o644
                tar.addfile(info, io.BytesIO(self.files[path]))
        return out.getvalue()


def parse(text: str) -> list[tuple[int, str, str]]:
    """(line number, INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    instructions: list[tuple[int, str, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        if keyword.upper() not in _KNOWN:
            raise BuildError(f"dockerfile parse error on line {start}: unknown instruction: {keyword}")
        instructions.append((start, keyword.upper(), arguments.strip()))
    if pending:  # a continuation on the last line: the instruction ends with the file
        keyword, _, arguments = pending.strip().partition(" ")
        if keyword.upper() not in _KNOWN:
            raise BuildError(f"dockerfile parse error on line {start}: unknown instruction: {keyword}")
        instructions.append((start, keyword.upper(), arguments.strip()))
    if not instructions or instructions[0][1] not in ("FROM", "ARG"):
        raise BuildError("failed to solve: no build stage in current context: the Dockerfile must begin with FROM")
    return instructions


def build(context: Path, dockerfile: str = "Dockerfile") -> Image:
    try:
        text = (context / dockerfile).read_text()
    except OSError as exc:
        raise BuildError(f"failed to read dockerfile: open {dockerfile}: no such file or directory") from exc
    image = Image({"Env": [], "WorkingDir": "/", "Cmd": None, "Entrypoint": None, "ExposedPorts": {}, "Labels": {}})
    for line, keyword, arguments in parse(text):
        if keyword == "FROM":
            image.config["Base"] = arguments.split()[0]
        elif keyword == "WORKDIR":
            image.config["WorkingDir"] = str(PurePosixPath(image.config["WorkingDir"]) / arguments)
        elif keyword in ("COPY", "ADD"):
            _copy(context, image, line, arguments)
        elif keyword == "ENV":
            image.config["Env"].extend(_env_pairs(arguments))
        elif keyword in ("CMD", "ENTRYPOINT"):
            image.config["Cmd" if keyword == "CMD" else "Entrypoint"] = _command(arguments)
        elif keyword == "EXPOSE":
            image.config["ExposedPorts"].update({f"{p}/tcp" if "/" not in p else p: {} for p in arguments.split()})
        elif keyword == "RUN":
            image.skipped.append(arguments)
    if not image.config["Cmd"] and not image.config["Entrypoint"]:
        raise BuildError("the image has no CMD or ENTRYPOINT: the sandbox's ECS would have nothing to run")
    return image


def _copy(context: Path, image: Image, line: int, arguments: str) -> None:
    words = _command(arguments) if arguments.startswith("[") else shlex.split(arguments)
    if any(w.startswith("--from") for w in words):
        raise BuildError(f"line {line}: COPY --from needs another build stage or image, which the sandbox's docker "
                         "does not build or pull")
    words = [w for w in words if not w.startswith("--")]
    if len(words) < 2:
        raise BuildError(f"dockerfile parse error on line {line}: COPY requires at least two arguments")
    *sources, destination = words
    base = PurePosixPath(image.config["WorkingDir"]) / destination
    root = context.resolve()
    for source in sources:
        found = sorted(root.glob(source)) if any(c in source for c in "*?[") else [root / source]
        found = [f for f in found if f.exists() and f.resolve().is_relative_to(root)]
        if not found:
            raise BuildError(f'failed to compute cache key: "/{source}": not found (line {line}: COPY needs '
                             "it in the build context)")
        for path in found:
            files = sorted(p for p in path.rglob("*") if p.is_file() and ".git" not in p.parts
                           and p.resolve().is_relative_to(root)) if path.is_dir() else [path]  # no symlink out
            for file in files:
                relative = file.relative_to(path) if path.is_dir() else None
                if relative is not None:
                    target = base / relative
                elif destination.endswith("/") or len(sources) > 1 or destination in (".", "./"):
                    target = base / file.name
                else:
                    target = base
                image.files[str(target)] = file.read_bytes()


def _env_pairs(arguments: str) -> list[str]:
    words = shlex.split(arguments)
    if words and "=" not in words[0]:  # the legacy form: ENV KEY value with spaces
        return [f"{words[0]}={' '.join(words[1:])}"]
    return words


def _command(arguments: str) -> list[str]:
    if arguments.startswith("["):
        try:
            value = json.loads(arguments)
        except ValueError as exc:
            raise BuildError(f"cannot parse the exec form {arguments!r}: {exc}") from exc
        return [str(v) for v in value]
    return ["/bin/sh", "-c", arguments]


def _extract(tar: tarfile.TarFile, into: Path) -> None:
    """Only plain files and folders, only under `into`. Python's "data" filter says so where it exists; the
    Python 3.11 of Debian 12 (3.11.2) predates it, so there the same rules are checked here."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, filter="data")
        return
    root = into.resolve()
    for member in tar.getmembers():
        if not (member.isfile() or member.isdir()) or not (root / member.name).resolve().is_relative_to(root):
            raise tarfile.TarError(f"{member.name}: not a plain file or folder inside the image")
    tar.extractall(into)  # noqa: S202 - every member checked above


@dataclass(frozen=True)
class Registry:
    """The registry's blob storage (layers and configs by digest); ECR holds the manifests that name them."""

    root: Path

    def put(self, blob: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".partial")
            temporary.write_bytes(blob)
            temporary.replace(path)
        return digest

    def get(self, digest: str) -> bytes:
        return self._path(digest).read_bytes()

    def _path(self, digest: str) -> Path:
        return self.root / "blobs" / digest.replace(":", "/")

    def push(self, image: Image) -> str:
        """Store the image's blobs; its manifest (JSON), which ECR's PutImage takes."""
        layer = image.layer()
        config = json.dumps({"config": image.config, "rootfs": {"type": "layers"}}, sort_keys=True).encode()
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
                    "config": {"mediaType": CONFIG_TYPE, "size": len(config), "digest": self.put(config)},
                    "layers": [{"mediaType": LAYER_TYPE, "size": len(layer), "digest": self.put(layer)}]}
        return json.dumps(manifest, indent=3)

    def unpack(self, manifest: dict[str, Any], into: Path) -> dict[str, Any]:
        """Extract the image's files under `into` (once: `into` is the image's own folder); its config."""
        config: dict[str, Any] = json.loads(self.get(manifest["config"]["digest"]))["config"]
        marker = into / ".unpacked"
        if not marker.exists():
            into.mkdir(parents=True, exist_ok=True)
            for layer in manifest["layers"]:
                with tarfile.open(fileobj=io.BytesIO(self.get(layer["digest"])), mode="r:gz") as tar:
                    _extract(tar, into)
            marker.touch()
        return config
