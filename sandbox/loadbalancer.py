"""The Application Load Balancer, emulated: health checks, and a proxy per listener.

Each listener of every load balancer in the emulator gets a local HTTP proxy on its own port. A
request is routed by the listener's current default action, read per request (weighted forwards
honoured), to a healthy target of the chosen target group, round robin, and counted in the group's
CloudWatch metrics (`lb_metrics`). The health checker probes every registered target with its group's
path, interval and thresholds, and DescribeTargetHealth reports what it saw.
"""

from __future__ import annotations

import http.client
import itertools
import random
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from moto.elbv2.models import elbv2_backends

from . import moto_ext
from .lb_metrics import LoadBalancerMetrics

ACCOUNT, REGION = "123456789012", "us-east-1"
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade"}


@dataclass
class _Counts:
    successes: int = 0
    failures: int = 0
    last: float = 0.0


class HealthChecker:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], _Counts] = {}

    def run_once(self) -> None:
        backend = elbv2_backends[ACCOUNT][REGION]
        now = time.monotonic()
        for group in list(backend.target_groups.values()):
            interval = int(group.health_check_interval_seconds or 30)
            for target_id, target in list(group.targets.items()):
                key = (group.arn, target_id)
                counts = self.counts.setdefault(key, _Counts())
                if now - counts.last < interval:
                    continue
                counts.last = now
                ok, reason = self._probe(target_id, int(target.get("Port") or group.port), group)
                self._record(group, target_id, counts, ok, reason)
        registered = {(g.arn, t) for g in backend.target_groups.values() for t in g.targets}
        for key in [k for k in self.counts if k not in registered]:
            del self.counts[key]

    @staticmethod
    def _probe(address: str, port: int, group: Any) -> tuple[bool, str]:
        timeout = int(group.health_check_timeout_seconds or 5)
        try:
            connection = http.client.HTTPConnection(address, port, timeout=min(timeout, 2))
            connection.request("GET", group.health_check_path or "/")
            status = connection.getresponse().status
            connection.close()
        except OSError as exc:
            return False, f"Target.FailedHealthChecks ({exc.__class__.__name__})"
        matcher = (group.matcher or {}).get("HttpCode", "200")
        return str(status) in str(matcher).split(","), f"Target.ResponseCodeMismatch ({status})"

    @staticmethod
    def _record(group: Any, target_id: str, counts: _Counts, ok: bool, reason: str) -> None:
        state = moto_ext.TARGET_HEALTH.get((group.arn, target_id), ("initial", None, None))[0]
        if ok:
            counts.successes, counts.failures = counts.successes + 1, 0
            if counts.successes >= int(group.healthy_threshold_count or 5):
                moto_ext.set_target_health(group.arn, target_id, "healthy")
        else:
            counts.successes, counts.failures = 0, counts.failures + 1
            if state == "healthy" and counts.failures < int(group.unhealthy_threshold_count or 2):
                return
            if state != "initial" or counts.failures >= int(group.unhealthy_threshold_count or 2):
                moto_ext.set_target_health(group.arn, target_id, "unhealthy", reason.split(" ")[0],
                                           f"Health checks failed: {reason}")


class Proxies:
    """One local proxy per emulated listener port."""

    def __init__(self, host: str = "127.0.0.1", metrics: LoadBalancerMetrics | None = None) -> None:
        self.host = host
        self.metrics = metrics or LoadBalancerMetrics()
        self.servers: dict[int, ThreadingHTTPServer] = {}
        self.round_robin: dict[str, itertools.count[int]] = {}
        self.failed_binds: dict[int, str] = {}

    def reconcile(self) -> None:
        backend = elbv2_backends[ACCOUNT][REGION]
        ports = {int(listener.port): (str(listener.arn), str(lb.arn)) for lb in list(backend.load_balancers.values())
                 for listener in list(lb.listeners.values())}
        for port in [p for p in self.servers if p not in ports]:
            self.servers.pop(port).shutdown()
        for port, (arn, load_balancer) in ports.items():
            if port not in self.servers and port not in self.failed_binds:
                self._listen(port, arn, load_balancer)

    def _listen(self, port: int, listener_arn: str, load_balancer_arn: str) -> None:
        proxies = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                chosen = proxies.choose(listener_arn)
                if chosen is None:
                    self._answer(503, b"503 Service Unavailable: no target\n")
                    return
                group_arn, target = chosen
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["X-Forwarded-For"] = self.client_address[0]
                sent = time.monotonic()
                try:
                    upstream = http.client.HTTPConnection(target[0], target[1], timeout=30)
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    answered = time.monotonic()
                    data = response.read()
                    upstream.close()
                except OSError:  # the ALB's own 502, counted as the target's connection error
                    proxies.metrics.record_connection_error(load_balancer_arn, group_arn)
                    self._answer(502, b"502 Bad Gateway\n")
                    return
                proxies.metrics.record(load_balancer_arn, group_arn, response.status, answered - sent)
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

            def log_message(self, format: str, *args: object) -> None:
                return

        try:
            server = ThreadingHTTPServer((self.host, port), Handler)
        except OSError as exc:
            self.failed_binds[port] = str(exc)
            return
        server.daemon_threads = True
        server.request_queue_size = 256
        threading.Thread(target=server.serve_forever, daemon=True, name=f"listener-{port}").start()
        self.servers[port] = server

    def choose(self, listener_arn: str) -> tuple[str, tuple[str, int]] | None:
        """(target group ARN, (address, port)) for the next request, or None when there is no target."""
        backend = elbv2_backends[ACCOUNT][REGION]
        listener = backend.listeners.get(listener_arn) if hasattr(backend, "listeners") else None
        if listener is None:
            listener = next((li for lb in backend.load_balancers.values() for li in lb.listeners.values()
                             if li.arn == listener_arn), None)
        if listener is None:
            return None
        forward = next((a.data for a in listener.default_actions if a.data.get("Type") == "forward"), None)
        if forward is None:
            return None
        groups = (forward.get("ForwardConfig") or {}).get("TargetGroups") or [
            {"TargetGroupArn": forward["TargetGroupArn"], "Weight": 1}]
        weights = [int(g.get("Weight", 1)) for g in groups]
        if not any(weights):
            return None
        chosen = random.choices(groups, weights=weights)[0]["TargetGroupArn"]  # noqa: S311 - traffic split
        group = backend.target_groups.get(chosen)
        if group is None:
            return None
        targets = list(group.targets.items())
        healthy = [t for t in targets
                   if moto_ext.TARGET_HEALTH.get((group.arn, t[0]), ("healthy",))[0] == "healthy"]
        pool = healthy or targets  # an ALB fails open when no target is healthy
        if not pool:
            return None
        counter = self.round_robin.setdefault(group.arn, itertools.count())
        target_id, target = pool[next(counter) % len(pool)]
        return group.arn, (target_id, int(target.get("Port") or group.port))

    def shutdown(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()
        self.servers.clear()
