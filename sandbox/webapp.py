"""The sandbox's sample web application: one process per ECS task.

It shows its version (the image tag) and colour, and answers /health. Image tags start versions that misbehave,
to watch the release stop them:
- `broken`: the health endpoint fails (the health gate stops the release);
- `errors`: health checks pass, but about 5% of other requests are answered 500 (the judge rolls it back);
- `slow`: health checks pass, but other requests take about 300 ms longer (the judge rolls it back);
- `noapi`: health checks pass, but /api/status answers 500 (a smoke-test hook that checks it stops the release).
"""

from __future__ import annotations

import argparse
import html
import json
import random
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERROR_SHARE = 0.05  # of requests an `errors` version answers 500
SLOW_SECONDS = 0.3  # added to each request a `slow` version answers


def serve(host: str, port: int, version: str, colour: str) -> None:
    broken, errors, slow = "broken" in version, "errors" in version, "slow" in version
    noapi = "noapi" in version

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path.startswith("/health"):
                status, body, kind = (500, b"unhealthy\n", "text/plain") if broken else (200, b"ok\n", "text/plain")
            elif errors and random.random() < ERROR_SHARE:  # noqa: S311 - a simulated fault, not a secret
                status, body, kind = 500, b"internal error\n", "text/plain"
            elif self.path.startswith("/api/status"):
                status, kind = (500, "text/plain") if noapi else (200, "application/json")
                body = b"internal error\n" if noapi else json.dumps({"status": "ok", "version": version}).encode()
            elif self.path.startswith("/version"):
                status, kind = 200, "application/json"
                body = json.dumps({"version": version, "colour": colour, "task": host}).encode()
            else:
                status, kind = 200, "text/html; charset=utf-8"
                body = (f'<!doctype html><html lang="en"><title>{html.escape(version)}</title>'
                        f'<body style="background:{colour};color:white;font:2rem system-ui;padding:2rem">'
                        f"<h1>sample-app {html.escape(version)}</h1><p>task {html.escape(host)}</p></body></html>"
                        ).encode()
            if slow and not self.path.startswith("/health"):
                time.sleep(SLOW_SECONDS)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Version", version)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--colour", default="#2563eb")
    args = parser.parse_args()
    serve(args.host, args.port, args.version, args.colour)


if __name__ == "__main__":
    main()
