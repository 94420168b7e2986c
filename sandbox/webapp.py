"""The sandbox's sample web application: one process per ECS task.

It shows its version (the image tag) and colour, and answers /health. An image tag containing
`broken` starts a version whose health endpoint fails, to watch the health gate stop a release.
"""

from __future__ import annotations

import argparse
import html
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(host: str, port: int, version: str, colour: str) -> None:
    broken = "broken" in version

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path.startswith("/health"):
                status, body, kind = (500, b"unhealthy\n", "text/plain") if broken else (200, b"ok\n", "text/plain")
            elif self.path.startswith("/version"):
                status, kind = 200, "application/json"
                body = json.dumps({"version": version, "colour": colour, "task": host}).encode()
            else:
                status, kind = 200, "text/html; charset=utf-8"
                body = (f'<!doctype html><html lang="en"><title>{html.escape(version)}</title>'
                        f'<body style="background:{colour};color:white;font:2rem system-ui;padding:2rem">'
                        f"<h1>sample-app {html.escape(version)}</h1><p>task {html.escape(host)}</p></body></html>"
                        ).encode()
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
