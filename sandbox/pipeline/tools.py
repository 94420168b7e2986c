"""The commands a sandbox build finds on its PATH in place of the AWS CLI, docker and python.

    tools.py aws ecr describe-images --repository-name shop --image-ids imageTag=abc --query ... --output text
    tools.py docker build --tag URI:TAG .
    tools.py python -m pipeline_params ...

Each acts as the build project's service role (its policies, read by the build runner into
SANDBOX_PRINCIPAL_FILE) against the sandbox's endpoint (AWS_ENDPOINT_URL), so a permission the role lacks
fails the build as it would on CodeBuild. Run by path, not as a module: a build's PYTHONPATH is its own.
"""

from __future__ import annotations

import base64
import json
import os
import re
import runpy
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_AWS_USAGE_ERROR, _AWS_SERVICE_ERROR, _S3_TRANSFER_FAILED = 252, 254, 1  # the AWS CLI v2's exit codes


def _act_as_the_build_role() -> Any:
    from sandbox.iam import enforce

    principal = enforce.Principal.from_json(json.loads(Path(os.environ["SANDBOX_PRINCIPAL_FILE"]).read_text()))
    enforce.install(process_principal=principal)
    return enforce, principal


def _client(service: str) -> Any:
    import boto3

    return boto3.session.Session().client(service)  # type: ignore[call-overload]  # region, endpoint: the build's


# aws


def aws(args: list[str]) -> int:
    from botocore.exceptions import ClientError

    _act_as_the_build_role()
    try:
        if args[:2] == ["s3", "cp"] and len(args) == 4:
            return _s3_copy(args[2], args[3])
        if args[:2] == ["ecr", "get-login-password"]:
            token = _client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
            print(base64.b64decode(token).decode().split(":", 1)[1])
            return 0
        if len(args) >= 2 and not args[0].startswith("-"):
            return _operation(args[0], args[1], args[2:])
    except ClientError as exc:
        error = exc.response["Error"]
        print(f"\nAn error occurred ({error.get('Code')}) when calling the {exc.operation_name} operation: "
              f"{error.get('Message')}", file=sys.stderr)
        return _S3_TRANSFER_FAILED if args[:1] == ["s3"] else _AWS_SERVICE_ERROR
    print(f"aws: the sandbox's AWS CLI does not implement `aws {' '.join(args[:2])}`; it runs `aws s3 cp` and "
          "`aws SERVICE OPERATION --param value ...` with --query and --output", file=sys.stderr)
    return _AWS_USAGE_ERROR


def _s3_copy(source: str, destination: str) -> int:
    s3 = _client("s3")
    if source.startswith("s3://") and not destination.startswith("s3://"):
        bucket, _, key = source[5:].partition("/")
        Path(destination).write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        print(f"download: {source} to {destination}")
        return 0
    if destination.startswith("s3://") and not source.startswith("s3://"):
        bucket, _, key = destination[5:].partition("/")
        s3.put_object(Bucket=bucket, Key=key, Body=Path(source).read_bytes())
        print(f"upload: {source} to {destination}")
        return 0
    print("aws s3 cp: the sandbox copies between a local file and S3 only", file=sys.stderr)
    return _AWS_USAGE_ERROR


def _operation(service: str, command: str, rest: list[str]) -> int:
    """`aws SERVICE OPERATION --member value`, the values as JSON or the CLI's key=value shorthand."""
    import jmespath  # type: ignore[import-untyped]
    from botocore import xform_name

    client = _client(service)
    operations = {xform_name(name, "-"): name for name in client.meta.service_model.operation_names}
    if command not in operations:
        print(f"aws {service}: no operation {command!r}", file=sys.stderr)
        return _AWS_USAGE_ERROR
    operation = operations[command]
    model = client.meta.service_model.operation_model(operation)
    members = {re.sub(r"[^a-z0-9]", "", name.lower()): (name, shape)
               for name, shape in model.input_shape.members.items()}
    params: dict[str, Any] = {}
    query, output = None, "json"
    pairs = iter(rest)
    for flag in pairs:
        value = next(pairs, "")
        if flag == "--query":
            query = value
        elif flag == "--output":
            output = value
        elif flag.startswith("--") and (found := members.get(re.sub(r"[^a-z0-9]", "", flag[2:].lower()))):
            params[found[0]] = _value(value, found[1])
        else:
            print(f"aws {service} {command}: unknown option {flag}", file=sys.stderr)
            return _AWS_USAGE_ERROR
    result = getattr(client, xform_name(operation))(**params)
    result.pop("ResponseMetadata", None)
    if query:
        result = jmespath.search(query, result)
    if output == "text" and not isinstance(result, (dict, list)):
        print("None" if result is None else result)
    elif output == "text" and isinstance(result, list):
        print("\t".join(str(v) for v in result))
    else:
        print(json.dumps(result, indent=4, default=str))
    return 0


def _value(text: str, shape: Any) -> Any:
    if text.startswith(("{", "[")):
        return json.loads(text)
    if shape.type_name == "list":
        item = shape.member
        return [_value(part, item) for part in (text.split() if item.type_name != "structure" else [text])]
    if shape.type_name == "structure":
        return dict(pair.split("=", 1) for pair in text.split(","))
    if shape.type_name in ("integer", "long"):
        return int(text)
    if shape.type_name == "boolean":
        return text.lower() == "true"
    return text


# docker


def docker(args: list[str]) -> int:
    from sandbox.pipeline import images

    enforce, principal = _act_as_the_build_role()
    home = Path(os.environ["SANDBOX_DOCKER_ROOT"])
    try:
        if args[:1] == ["login"]:
            return _login(home, args[1:])
        if args[:1] == ["build"]:
            return _build(home, args[1:])
        if args[:1] == ["push"] and len(args) == 2:
            return _push(home, args[1], enforce, principal)
    except images.BuildError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    print(f"docker: the sandbox's docker runs login, build and push; not `docker {' '.join(args[:1])}`",
          file=sys.stderr)
    return 1


def _login(home: Path, args: list[str]) -> int:
    server = next((a for a in args if not a.startswith("-") and a != "AWS"), "")
    password = sys.stdin.read().strip() if "--password-stdin" in args else ""
    if not server or not password:
        print("Error: docker login needs a registry and a password on stdin", file=sys.stderr)
        return 1
    config = home / "config.json"
    auths = json.loads(config.read_text()) if config.exists() else {}
    auths[server] = base64.b64encode(f"AWS:{password}".encode()).decode()
    config.write_text(json.dumps(auths))
    print("Login Succeeded")
    return 0


def _build(home: Path, args: list[str]) -> int:
    from sandbox.pipeline import images

    tags, dockerfile, context = [], "Dockerfile", None
    pairs = iter(args)
    for arg in pairs:
        if arg in ("--tag", "-t", "--file", "-f"):
            value = next(pairs, None)
            if value is None:
                print(f"ERROR: flag needs an argument: {arg}", file=sys.stderr)
                return 1
            if arg in ("--tag", "-t"):
                tags.append(value)
            else:
                dockerfile = value
        elif not arg.startswith("-"):
            context = arg
    if context is None:
        print('ERROR: "docker buildx build" requires exactly 1 argument.', file=sys.stderr)
        return 1
    image = images.build(Path(context), dockerfile)
    for command in image.skipped:
        print(f"RUN {command}: not run (the sandbox's docker has no base image to run it in)")
    local = images.Registry(home)
    manifest = local.push(image)
    stored = home / "tags.json"
    known = json.loads(stored.read_text()) if stored.exists() else {}
    known.update(dict.fromkeys(tags, manifest))
    stored.write_text(json.dumps(known))
    config_digest = json.loads(manifest)["config"]["digest"]
    print(f"writing image {config_digest} done")
    for tag in tags:
        print(f"naming to {tag} done")
    return 0


def _push(home: Path, reference: str, enforce: Any, principal: Any) -> int:
    from botocore.exceptions import ClientError

    from sandbox.pipeline import images

    server, _, path = reference.partition("/")
    repository, _, tag = path.partition(":")
    auths = json.loads((home / "config.json").read_text()) if (home / "config.json").exists() else {}
    if server not in auths:
        print("no basic auth credentials", file=sys.stderr)
        return 1
    manifest = json.loads((home / "tags.json").read_text()).get(reference) if (home / "tags.json").exists() else None
    if manifest is None:
        print(f"An image does not exist locally with the tag: {reference}", file=sys.stderr)
        return 1
    # the registry's layer upload, as ECR authorizes it for the token's role
    region = os.environ["AWS_DEFAULT_REGION"]
    repository_arn = f"arn:aws:ecr:{region}:{principal.scope[1]}:repository/{repository}"
    for action in ("ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                   "ecr:CompleteLayerUpload", "ecr:BatchGetImage"):
        if refused := enforce.authorize(principal, region, action, repository_arn):
            print(f"denied: {refused[2]}", file=sys.stderr)
            return 1
    local, shared = images.Registry(home), images.Registry(Path(os.environ["SANDBOX_REGISTRY"]))
    parsed = json.loads(manifest)
    for blob in [parsed["config"], *parsed["layers"]]:
        shared.put(local.get(blob["digest"]))
    print(f"The push refers to repository [{server}/{repository}]")
    try:
        result = _client("ecr").put_image(repositoryName=repository, imageManifest=manifest,
                                          imageManifestMediaType=images.MANIFEST_TYPE, imageTag=tag)
    except ClientError as exc:
        error = exc.response["Error"]
        if error.get("Code") in ("ImageTagAlreadyExistsException", "ImageAlreadyExistsException"):
            print(f"tag invalid: The image tag '{tag}' already exists in the '{repository}' repository and cannot "
                  "be overwritten because the repository is immutable.", file=sys.stderr)
        else:
            print(f"denied: {error.get('Message')}", file=sys.stderr)
        return 1
    print(f"{tag}: digest: {result['image']['imageId']['imageDigest']} size: {len(manifest)}")
    return 0


# python


def python(args: list[str]) -> int:
    """The build's python, acting as the build role: -m MODULE, -c CODE or a script, with the build's PYTHONPATH."""
    _act_as_the_build_role()
    sys.path.remove(str(ROOT))
    if args[:1] == ["-m"] and len(args) >= 2:
        sys.argv = [args[1], *args[2:]]
        sys.path.insert(0, os.getcwd())
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    elif args[:1] == ["-c"] and len(args) >= 2:
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102 - the build's own command
    elif args:
        sys.argv = args
        sys.path.insert(0, str(Path(args[0]).resolve().parent))
        runpy.run_path(args[0], run_name="__main__")
    else:
        print("python: the sandbox's build runs -m MODULE, -c CODE or a script", file=sys.stderr)
        return 2
    return 0


def main() -> None:
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    sys.path.insert(0, str(ROOT))  # the tools' own code; `python` takes it off again before running the build's
    command, args = sys.argv[1], sys.argv[2:]
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # the build's log keeps the order
    tools = {"aws": aws, "docker": docker, "python": python}
    try:
        sys.exit(tools[command](args))
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - a tool's crash is the build's error line, not a traceback
        print(f"{command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(255)


if __name__ == "__main__":
    main()
