"""The sandbox's own web front: the approval endpoint (API Gateway, emulated), the inbox and the history pages.

/approvals/<id> turns the browser's request into the API Gateway HTTP API event (payload 2.0) and
invokes the deployed approval function through Lambda, exactly as API Gateway's AWS_PROXY
integration would; /inbox lists the messages sent to the topics, with their links; /history shows each
system's releases (what `deploy.py history` shows) and a running release's step and traffic split, refreshed
every few seconds by the page itself (a meta refresh: no script); /metrics.json lists every Lambda invocation
with its duration and the AWS API calls it made, /state.json how the state's snapshots go (for the benchmarks).
"""

from __future__ import annotations

import base64
import functools
import html
import json
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from moto.awslambda.models import lambda_backends

from deployer.history import Reader
from deployer.pipelines import NO_PIPELINE

from . import inbox, lambda_runtime

ACCOUNT, REGION = "123456789012", "us-east-1"
APPROVALS = "/approvals/"
# The HTTP API's routes in cfn/engine.yaml: GET and POST /approvals/{approvalId}; no $default route, no CORS.
# API Gateway answers a request that matches no route (any other method, HEAD and OPTIONS included, since
# no route or CORS configuration claims them) with its own 404 {"message":"Not Found"}, never invoking the
# function; the sandbox answers the same.
APPROVAL_METHODS = frozenset({"GET", "POST"})
GATEWAY_NOT_FOUND = b'{"message":"Not Found"}'
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
MAX_LINE = 65537
HTML, JSON = "text/html; charset=utf-8", "application/json"


def approval_function() -> str | None:
    backend = lambda_backends[ACCOUNT][REGION]
    for function in backend.list_functions():
        if function.handler == "approval_api.handler":
            return str(function.function_name)
    return None


def api_event(method: str, raw_path: str, query: str, headers: dict[str, str], body: bytes,
              source_ip: str) -> dict[str, Any]:
    return {
        "version": "2.0", "routeKey": f"{method} /approvals/{{approvalId}}", "rawPath": raw_path,
        "rawQueryString": query, "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {"accountId": ACCOUNT, "apiId": "sandbox", "domainName": headers.get("Host", ""),
                           "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                                    "sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")},
                           "requestId": uuid.uuid4().hex, "routeKey": f"{method} /approvals/{{approvalId}}",
                           "stage": "$default", "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
                           "timeEpoch": int(time.time() * 1000)},
        "pathParameters": {"approvalId": raw_path.rsplit("/", 1)[-1]},
        "body": base64.b64encode(body).decode() if body else None, "isBase64Encoded": bool(body),
    }


def invoke(lambda_client: Any, function: str, event: dict[str, Any]) -> dict[str, Any] | None:
    """The function's response; None when it failed or Lambda did not answer (a 5xx, never a dropped connection)."""
    try:
        answer = lambda_client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    except (BotoCoreError, ClientError):
        return None
    if answer.get("FunctionError"):
        return None
    payload: dict[str, Any] = json.loads(answer["Payload"].read() or b"{}")
    return payload


_STYLE = ("body{font-family:system-ui;max-width:72rem;margin:2rem auto;padding:0 1rem}pre{white-space:pre-wrap;"
          "background:#f3f4f6;padding:1rem}article{border-bottom:1px solid #ddd}nav a{margin-right:1rem}"
          "table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.3rem .5rem;"
          "border-bottom:1px solid #e5e7eb;vertical-align:top}.SUCCEEDED{color:#166534}.FAILED,.ROLLED_BACK,"
          ".REJECTED,.TIMED_OUT,.ABORTED{color:#991b1b}.RUNNING{color:#1d4ed8}.bar{display:flex;height:1.4rem;"
          "border-radius:.3rem;overflow:hidden;margin:.3rem 0 1rem}.bar div{color:white;font-size:.8rem;"
          "padding:.1rem .4rem;white-space:nowrap}.blue{background:#2563eb}.green{background:#16a34a}"
          "small{color:#4b5563}")
HISTORY_LIMIT = 20
REFRESH_SECONDS = 2


def _document(title: str, refresh: int, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta http-equiv="refresh" content="{refresh}"><style>{_STYLE}</style></head><body>'
            f'<nav><a href="/inbox">Inbox</a><a href="/history">Releases</a></nav><h1>{html.escape(title)}</h1>'
            f"{body}</body></html>")


@functools.lru_cache(maxsize=16)
def _client(service: str, endpoint_url: str) -> Any:
    """One client per service for the page, which refreshes every few seconds (boto3's clients are thread-safe)."""
    return boto3.client(service, endpoint_url=endpoint_url, region_name=REGION,  # type: ignore[call-overload]
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")  # noqa: S106


def systems(endpoint_url: str) -> list[tuple[str, Reader]]:
    """Each deployed system (a root stack with a release engine) and a history reader for it."""
    def client(service: str) -> Any:
        return _client(service, endpoint_url)

    found = []
    for stack in client("cloudformation").describe_stacks()["Stacks"]:
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        # a system's root stack (moto gives nested stacks no ParentId: the root alone has the listeners' URLs)
        if stack.get("ParentId") or "StateMachineArn" not in outputs or "ProductionUrl" not in outputs:
            continue
        pipeline = outputs.get("PipelineName") if outputs.get("PipelineName") not in (None, "", NO_PIPELINE) else None
        found.append((stack["StackName"], Reader(client("stepfunctions"), client("dynamodb"),
                                                 client("codepipeline") if pipeline else None,
                                                 outputs["StateMachineArn"], outputs["ApprovalsTableName"], pipeline,
                                                 client("elbv2"))))
    return sorted(found, key=lambda item: item[0])


def _running(record: dict[str, Any]) -> str:
    bar = "".join(f'<div class="{s["side"]}" style="width:{max(s["percent"], 8)}%">{s["percent"]}% '
                  f'{html.escape(", ".join(s["images"]))}</div>' for s in record.get("traffic") or [])
    return (f'<p class="RUNNING"><strong>{html.escape(record["name"])}</strong>: '
            f'{html.escape(", ".join(record["imagesTo"]))} {html.escape(record["reason"])}, '
            f'{record["seconds"]:.0f} s so far</p>' + (f'<div class="bar" aria-label="production traffic">{bar}</div>'
                                                      if bar else ""))


def _row(record: dict[str, Any]) -> str:
    decision = record["decision"]
    decided = (f'{decision["decision"]} by {decision["by"]}' + (f' ({decision["note"]})' if decision["note"] else "")
               if decision else "")
    stages = ", ".join(f"{stage} {seconds:.0f}s" for stage, seconds in record["stages"].items())
    cells = [record["startedAt"][:19].replace("T", " "), f'{record["seconds"]:.0f} s',
             ", ".join(record["imagesFrom"]) or "?", ", ".join(record["imagesTo"]) or "?", record["strategy"],
             decided or "-", stages, record["pipelineExecution"] or "-"]
    tds = "".join(f"<td>{html.escape(cell)}</td>" for cell in cells)
    return (f'<tr><td class="{html.escape(record["outcome"])}"><strong>{html.escape(record["outcome"])}</strong>'
            f'<br><small>{html.escape(record["reason"])}</small></td>{tds}</tr>')


def history_html(found: list[tuple[str, list[dict[str, Any]]]]) -> str:
    """The releases of each system, newest first, a running one's step and split at the top."""
    sections = []
    for name, records in found:
        running = "".join(_running(r) for r in records if r["outcome"] == "RUNNING")
        rows = "".join(_row(r) for r in records)
        table = ("<table><thead><tr><th>Outcome</th><th>Started (UTC)</th><th>Took</th><th>From</th><th>To</th>"
                 "<th>Strategy</th><th>Decided by</th><th>Time per stage</th><th>Pipeline run</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table>") if records else "<p>No release yet.</p>"
        sections.append(f"<section><h2>{html.escape(name)}</h2>{running}{table}</section>")
    body = "".join(sections) or "<p>No system deployed yet: <code>python3 deploy.py</code>.</p>"
    return _document("Releases", REFRESH_SECONDS, body)


def history_page(endpoint_url: str) -> str:
    try:
        found = [(name, reader.releases(HISTORY_LIMIT)) for name, reader in systems(endpoint_url)]
    except (BotoCoreError, ClientError) as exc:  # a page that says why, refreshed until the sandbox answers
        return _document("Releases", REFRESH_SECONDS, f"<p>Cannot read the releases: {html.escape(str(exc))}</p>")
    return history_html(found)


def inbox_page() -> str:
    items = []
    for message in reversed(inbox.messages()):
        text = html.escape(message["message"])
        for link in message["links"]:
            escaped = html.escape(link)
            text = text.replace(escaped, f'<a href="{escaped}">{escaped}</a>')
        to = ", ".join(message.get("to") or []) or f"the {message['topic']} topic"
        items.append(f"<article><h2>{html.escape(message['subject'])}</h2><p><small>{message['time']} to "
                     f"{html.escape(to)}</small></p><pre>{text}</pre></article>")
    body = "".join(items) or "<p>No messages yet.</p>"
    return _document("Sandbox inbox", 5, body)


def make_server(host: str, port: int, endpoint_url: str, describe: Any,
                lambda_client: Any | None = None, state: Callable[[], Any] = dict) -> ThreadingHTTPServer:
    """The web front; `lambda_client` defaults to one for the sandbox's own endpoint."""
    client: Any = lambda_client or boto3.client(
        "lambda", endpoint_url=endpoint_url, region_name=REGION,
        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")  # noqa: S106

    # The sandbox's own read-only pages: path -> (body, content type).
    pages: dict[str, Callable[[], tuple[bytes, str]]] = {
        "/": lambda: (inbox_page().encode(), HTML), "/inbox": lambda: (inbox_page().encode(), HTML),
        "/history": lambda: (history_page(endpoint_url).encode(), HTML),
        "/inbox.json": lambda: (json.dumps(inbox.messages()).encode(), JSON),
        # every Lambda invocation so far: duration and AWS API calls
        "/metrics.json": lambda: (json.dumps(list(lambda_runtime.INVOCATIONS)).encode(), JSON),
        "/tasks.json": lambda: (json.dumps(describe()).encode(), JSON),
        "/state.json": lambda: (json.dumps(state()).encode(), JSON),
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def __getattr__(self, name: str) -> Callable[[], None]:
            # http.server answers 501 and closes the connection for a method without a do_<METHOD>;
            # every method goes through the same routing instead, so each gets a real answer.
            if name.startswith("do_"):
                return self._route
            raise AttributeError(name)

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":  # HEAD gets the headers the body would have, never the body
                self.wfile.write(body)

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            """Answer a request whose body goes unused: skip the body so the next request on the connection parses."""
            if self._read_body() is None:  # a body that cannot be read to its end: answer, then close
                self.close_connection = True
                headers = {**headers, "Connection": "close"}
            self._send(status, body, headers)

        def _read_body(self) -> bytes | None:
            """The request's body, read to its end; None when its length cannot be known or is too large.

            A chunked body is read chunk by chunk: answering and closing while the client still sends
            would reset the connection under the client before it reads the answer.
            """
            encoding = self.headers.get("Transfer-Encoding")
            if encoding is None:
                length = self.headers.get("Content-Length") or "0"
                if not length.isdigit() or int(length) > MAX_BODY:
                    return None
                return self.rfile.read(int(length))
            if encoding.strip().lower() != "chunked":
                return None
            chunks: list[bytes] = []
            received = 0
            while True:
                try:
                    size = int(self.rfile.readline(MAX_LINE).split(b";", 1)[0].strip(), 16)
                except ValueError:
                    return None
                received += size
                if size < 0 or received > MAX_BODY:
                    return None
                if size == 0:
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(MAX_LINE)  # the CRLF that ends the chunk
            while self.rfile.readline(MAX_LINE) not in (b"\r\n", b"\n", b""):  # trailers, then the blank line
                pass
            return b"".join(chunks)

        def _approval(self) -> None:
            url = urlsplit(self.path)
            body = self._read_body()
            if body is None:  # API Gateway's answer to a payload over its limit
                self.close_connection = True
                self._send(413, b'{"message":"Request Entity Too Large"}',
                           {"Content-Type": "application/json", "Connection": "close"})
                return
            function = approval_function()
            if function is None:
                self._send(503, b"the approval function is not deployed\n", {"Content-Type": "text/plain"})
                return
            event = api_event(self.command, url.path, url.query, dict(self.headers.items()), body,
                              self.client_address[0])
            payload = invoke(client, function, event)
            if payload is None:
                self._send(502, b"Internal Server Error\n", {"Content-Type": "text/plain"})
                return
            page = payload.get("body") or ""
            data = base64.b64decode(page) if payload.get("isBase64Encoded") else page.encode()
            self._send(int(payload.get("statusCode", 200)), data, dict(payload.get("headers") or {}))

        def _route(self) -> None:
            path = urlsplit(self.path).path
            page = pages.get(path)
            if path.startswith(APPROVALS) and self.command in APPROVAL_METHODS:
                self._approval()
            elif path.startswith(APPROVALS):
                self._answer(404, GATEWAY_NOT_FOUND, {"Content-Type": "application/json"})
            elif page is None:
                self._answer(404, b"not found\n", {"Content-Type": "text/plain"})
            elif self.command != "GET":
                self._answer(405, b"method not allowed\n", {"Content-Type": "text/plain", "Allow": "GET"})
            else:
                body, content_type = page()
                self._answer(200, body, {"Content-Type": content_type})

        do_GET = do_POST = _route

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
