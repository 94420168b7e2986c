"""The sandbox's own web front: the approval endpoint (API Gateway, emulated) and the inbox page.

/approvals/<id> turns the browser's request into the API Gateway HTTP API event (payload 2.0) and
invokes the deployed approval function through Lambda, exactly as API Gateway's AWS_PROXY
integration would; /inbox lists the messages sent to the topics, with their links; /metrics.json lists
every Lambda invocation with its duration and the AWS API calls it made (for the benchmarks).
"""

from __future__ import annotations

import base64
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


def inbox_page() -> str:
    items = []
    for message in reversed(inbox.messages()):
        text = html.escape(message["message"])
        for link in message["links"]:
            escaped = html.escape(link)
            text = text.replace(escaped, f'<a href="{escaped}">{escaped}</a>')
        items.append(f"<article><h2>{html.escape(message['subject'])}</h2><p><small>{message['time']} to "
                     f"{html.escape(message['topic'])}</small></p><pre>{text}</pre></article>")
    body = "".join(items) or "<p>No messages yet.</p>"
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sandbox inbox</title>'
            '<meta http-equiv="refresh" content="5"><style>body{font-family:system-ui;max-width:56rem;margin:2rem auto;'
            'padding:0 1rem}pre{white-space:pre-wrap;background:#f3f4f6;padding:1rem}article{border-bottom:1px '
            f'solid #ddd}}</style></head><body><h1>Sandbox inbox</h1>{body}</body></html>')


def make_server(host: str, port: int, endpoint_url: str, describe: Any,
                lambda_client: Any | None = None) -> ThreadingHTTPServer:
    """The web front; `lambda_client` defaults to one for the sandbox's own endpoint."""
    client: Any = lambda_client or boto3.client(
        "lambda", endpoint_url=endpoint_url, region_name=REGION,
        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")  # noqa: S106

    # The sandbox's own read-only pages: path -> (body, content type).
    pages: dict[str, Callable[[], tuple[bytes, str]]] = {
        "/": lambda: (inbox_page().encode(), HTML), "/inbox": lambda: (inbox_page().encode(), HTML),
        "/inbox.json": lambda: (json.dumps(inbox.messages()).encode(), JSON),
        # every Lambda invocation so far: duration and AWS API calls
        "/metrics.json": lambda: (json.dumps(list(lambda_runtime.INVOCATIONS)).encode(), JSON),
        "/tasks.json": lambda: (json.dumps(describe()).encode(), JSON),
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
