"""The sandbox's `docker build` without a container engine: a Dockerfile over its build context makes one image
(the files, where the Dockerfile puts them; the config, how to run them), reproducibly, failing as docker fails,
and the registry that keeps its blobs by digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from sandbox.pipeline import images

DOCKERFILE = """\
FROM python:3.12-slim
WORKDIR /srv/app
COPY app.py requirements.txt ./
COPY static static
ENV PORT=8080 MODE="blue green"
EXPOSE 8080
CMD ["python", "app.py"]
"""


def context(root: Path, dockerfile: str = DOCKERFILE, files: dict[str, str] | None = None) -> Path:
    """A build context: the Dockerfile and the files it copies."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(dockerfile)
    for name, text in (files if files is not None else {"app.py": "print('hello')\n", "requirements.txt": "",
                                                         "static/index.html": "<h1>shop</h1>\n"}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def digest(blob: bytes) -> str:
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def test_a_dockerfile_builds_its_files_under_workdir_and_a_config_that_runs_them(tmp_path: Path) -> None:
    image = images.build(context(tmp_path))
    assert image.files == {"/srv/app/app.py": b"print('hello')\n", "/srv/app/requirements.txt": b"",
                           "/srv/app/static/index.html": b"<h1>shop</h1>\n"}
    assert image.config["Cmd"] == ["python", "app.py"]
    assert image.config["Env"] == ["PORT=8080", "MODE=blue green"]
    assert image.config["WorkingDir"] == "/srv/app"
    assert image.config["ExposedPorts"] == {"8080/tcp": {}}
    assert image.config["Base"] == "python:3.12-slim"
    assert image.skipped == []


def test_a_relative_workdir_is_under_the_previous_one_and_a_shell_form_cmd_runs_in_sh(tmp_path: Path) -> None:
    image = images.build(context(tmp_path, "FROM scratch\nWORKDIR /srv\nWORKDIR app\nCOPY app.py .\n"
                                           "ENTRYPOINT python app.py --port 80\n"))
    assert image.config["WorkingDir"] == "/srv/app"
    assert list(image.files) == ["/srv/app/app.py"]
    assert image.config["Entrypoint"] == ["/bin/sh", "-c", "python app.py --port 80"]


def test_the_same_context_builds_the_same_layer_and_a_changed_file_another(tmp_path: Path) -> None:
    first = images.build(context(tmp_path)).layer()
    assert digest(images.build(tmp_path).layer()) == digest(first)
    (tmp_path / "static" / "index.html").write_text("<h1>shop v2</h1>\n")
    assert digest(images.build(tmp_path).layer()) != digest(first)


def test_an_unknown_instruction_fails_with_dockers_message_naming_its_line(tmp_path: Path) -> None:
    dockerfile = "# the shop\n\nFROM python:3.12\nCOPY app.py .\nCOPPY requirements.txt .\nCMD python app.py\n"
    with pytest.raises(images.BuildError) as raised:
        images.build(context(tmp_path, dockerfile))
    assert str(raised.value) == "dockerfile parse error on line 5: unknown instruction: COPPY"


def test_a_dockerfile_that_does_not_start_with_from_fails(tmp_path: Path) -> None:
    with pytest.raises(images.BuildError, match="must begin with FROM"):
        images.build(context(tmp_path, "# no base\nWORKDIR /srv\nFROM python:3.12\nCMD python\n"))


def test_a_missing_dockerfile_fails_as_docker_says(tmp_path: Path) -> None:
    with pytest.raises(images.BuildError, match=r"open Containerfile: no such file or directory"):
        images.build(context(tmp_path), "Containerfile")


def test_copy_of_a_missing_file_fails_naming_it_and_its_line(tmp_path: Path) -> None:
    with pytest.raises(images.BuildError) as raised:
        images.build(context(tmp_path, "FROM python:3.12\nCOPY app.py .\nCOPY settings.toml .\nCMD python\n"))
    assert '"/settings.toml": not found' in str(raised.value) and "line 3" in str(raised.value)


def test_copy_cannot_reach_a_file_outside_the_build_context(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("password\n")
    root = context(tmp_path / "context", "FROM python:3.12\nCOPY ../secret .\nCMD python\n")
    with pytest.raises(images.BuildError, match=r'"/\.\./secret": not found'):
        images.build(root)


def test_copying_a_folder_does_not_follow_a_symlink_out_of_the_build_context(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("password\n")
    root = context(tmp_path / "context", "FROM python:3.12\nWORKDIR /srv\nCOPY . .\nCMD python app.py\n",
                   {"app.py": "print('hello')\n"})
    (root / "config").mkdir()
    (root / "config" / "inside.txt").symlink_to(root / "app.py")
    (root / "config" / "outside.txt").symlink_to(tmp_path / "secret")
    image = images.build(root)
    assert b"password\n" not in image.files.values()
    assert image.files["/srv/config/inside.txt"] == b"print('hello')\n"
    assert "/srv/config/outside.txt" not in image.files


def test_run_is_recorded_as_skipped_and_not_run(tmp_path: Path) -> None:
    proof = tmp_path / "ran"
    dockerfile = f"FROM python:3.12\nRUN touch {proof}\nRUN pip install -r requirements.txt\nCMD python\n"
    image = images.build(context(tmp_path / "context", dockerfile))
    assert image.skipped == [f"touch {proof}", "pip install -r requirements.txt"]
    assert not proof.exists()


def test_an_image_without_cmd_or_entrypoint_fails(tmp_path: Path) -> None:
    with pytest.raises(images.BuildError, match="no CMD or ENTRYPOINT"):
        images.build(context(tmp_path, "FROM python:3.12\nCOPY app.py .\n"))


def test_continued_lines_are_one_instruction_and_later_errors_name_the_right_line(tmp_path: Path) -> None:
    dockerfile = ("FROM python:3.12 \\\n    AS app\n"
                  "ENV A=1 \\\n    B=2\n"
                  "CMD [\"python\", \\\n     \"app.py\"]\n")
    image = images.build(context(tmp_path, dockerfile))
    assert image.config["Env"] == ["A=1", "B=2"]
    assert image.config["Cmd"] == ["python", "app.py"]
    (tmp_path / "Dockerfile").write_text(dockerfile + "HEALTHCHECK \\\n  --interval=5s \\\n  NONE\nBOGUS x\n")
    with pytest.raises(images.BuildError, match="on line 10: unknown instruction: BOGUS"):
        images.build(tmp_path)


def test_a_pushed_image_unpacks_into_a_folder_with_its_files_and_gives_its_config(tmp_path: Path) -> None:
    image = images.build(context(tmp_path / "context"))
    registry = images.Registry(tmp_path / "registry")
    manifest = json.loads(registry.push(image))
    assert manifest["mediaType"] == images.MANIFEST_TYPE
    [layer] = manifest["layers"]
    assert layer["digest"] == digest(image.layer()) and layer["size"] == len(image.layer())

    config = registry.unpack(manifest, tmp_path / "container")
    assert config == image.config
    unpacked = {"/" + path.relative_to(tmp_path / "container").as_posix(): path.read_bytes()
                for path in (tmp_path / "container").rglob("*") if path.is_file() and path.name != ".unpacked"}
    assert unpacked == image.files


def test_the_registry_stores_a_blob_once_under_its_content_digest(tmp_path: Path) -> None:
    registry = images.Registry(tmp_path)
    first = registry.put(b"layer bytes")
    assert first == digest(b"layer bytes")
    assert registry.put(b"layer bytes") == first
    assert registry.put(b"other bytes") != first
    assert registry.get(first) == b"layer bytes"
    assert len([path for path in (tmp_path / "blobs").rglob("*") if path.is_file()]) == 2


def test_an_image_unpacks_where_python_has_no_tar_filter_and_a_path_out_of_it_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(tarfile, "data_filter", raising=False)  # as in Debian 12's Python 3.11.2
    registry = images.Registry(tmp_path / "registry")
    (tmp_path / "context").mkdir()
    (tmp_path / "context" / "app.py").write_text("print('hi')\n")
    (tmp_path / "context" / "Dockerfile").write_text('FROM python\nCOPY app.py .\nCMD ["python", "app.py"]\n')
    manifest = json.loads(registry.push(images.build(tmp_path / "context")))
    registry.unpack(manifest, tmp_path / "rootfs")
    assert (tmp_path / "rootfs" / "app.py").read_text() == "print('hi')\n"

    escaping = io.BytesIO()
    with tarfile.open(fileobj=escaping, mode="w:gz") as tar:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"no"))
    manifest["layers"] = [{"mediaType": images.LAYER_TYPE, "digest": registry.put(escaping.getvalue())}]
    with pytest.raises(tarfile.TarError, match=r"outside\.txt"):
        registry.unpack(manifest, tmp_path / "other")
    assert not (tmp_path / "outside.txt").exists()
