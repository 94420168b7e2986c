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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3
from moto.awslambda.models import lambda_backends

from . import inbox, lambda_runtime

ACCOUNT, REGION = "123456789012", "us-east-1"


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


def make_server(host: str, port: int, endpoint_url: str, describe: Any) -> ThreadingHTTPServer:
    lambda_client = boto3.client("lambda", endpoint_url=endpoint_url, region_name=REGION,
                                 aws_access_key_id="sandbox", aws_secret_access_key="sandbox")  # noqa: S106

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _approval(self) -> None:
            function = approval_function()
            if function is None:
                self._send(503, b"the approval function is not deployed\n", {"Content-Type": "text/plain"})
                return
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            event = api_event(self.command, url.path, url.query, dict(self.headers.items()),
                              self.rfile.read(length) if length else b"", self.client_address[0])
            answer = lambda_client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
            payload = json.loads(answer["Payload"].read() or b"{}")
            if answer.get("FunctionError"):
                self._send(502, b"Internal Server Error\n", {"Content-Type": "text/plain"})
                return
            body = payload.get("body") or ""
            data = base64.b64decode(body) if payload.get("isBase64Encoded") else body.encode()
            self._send(int(payload.get("statusCode", 200)), data, dict(payload.get("headers") or {}))

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path.startswith("/approvals/"):
                self._approval()
            elif path in ("/", "/inbox"):
                self._send(200, inbox_page().encode(), {"Content-Type": "text/html; charset=utf-8"})
            elif path == "/inbox.json":
                self._send(200, json.dumps(inbox.messages()).encode(), {"Content-Type": "application/json"})
            elif path == "/metrics.json":  # every Lambda invocation so far: duration and AWS API calls
                self._send(200, json.dumps(list(lambda_runtime.INVOCATIONS)).encode(),
                           {"Content-Type": "application/json"})
            elif path == "/tasks.json":
                self._send(200, json.dumps(describe()).encode(), {"Content-Type": "application/json"})
            else:
                self._send(404, b"not found\n", {"Content-Type": "text/plain"})

        def do_POST(self) -> None:
            if urlsplit(self.path).path.startswith("/approvals/"):
                self._approval()
            else:
                self._send(404, b"not found\n", {"Content-Type": "text/plain"})

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
