"""The sample web application the sandbox's pipeline builds: edit it, commit, and watch the release.

It serves its page on PORT (8080), shows the image it runs from (APP_IMAGE, which the task definition sets, so the
commit a release put live is on the page) and answers /health for the load balancer's health checks.
"""

import html
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IMAGE = os.environ.get("APP_IMAGE", "unknown")
VERSION = IMAGE.rsplit(":", 1)[-1]  # the image tag: the commit it was built from
MESSAGE = "Hello from the sample app"
COLOUR = "#7c3aed"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/health"):
            self.answer(200, "text/plain", b"ok\n")
        elif self.path.startswith("/api/status"):
            self.answer(200, "application/json", json.dumps({"status": "ok", "version": VERSION}).encode())
        elif self.path.startswith("/version"):
            self.answer(200, "application/json",
                        json.dumps({"version": VERSION, "image": IMAGE, "message": MESSAGE}).encode())
        else:
            page = (f'<!doctype html><html lang="en"><title>{html.escape(VERSION)}</title>'
                    f'<body style="background:{COLOUR};color:white;font:2rem system-ui;padding:2rem">'
                    f"<h1>{html.escape(MESSAGE)}</h1><p>image {html.escape(IMAGE)}</p></body></html>")
            self.answer(200, "text/html; charset=utf-8", page.encode())

    def answer(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Version", VERSION)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


if __name__ == "__main__":
    server = ThreadingHTTPServer((os.environ.get("HOST", "0.0.0.0"), int(os.environ.get("PORT", "8080"))), Handler)  # noqa: S104 - a container listens on all its interfaces
    server.daemon_threads = True
    server.serve_forever()
