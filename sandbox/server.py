"""The sandbox process: moto in server mode plus the emulators, until `python3 deploy.py down`.

    python -m sandbox.server --state .sandbox --port 4566 --web-port 9000

Started in the background by `sandbox.control`; writes `server.json` in the state folder when ready.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from moto.core.config import default_user_config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from . import inbox, lambda_runtime, moto_ext
from .ecs import EcsEmulator
from .lb_metrics import LoadBalancerMetrics
from .loadbalancer import HealthChecker, Proxies
from .pipeline.api import install_api
from .pipeline.runner import PipelineRunner
from .web import make_server

LOG = logging.getLogger("sandbox")


def loop(stop: threading.Event, period: float, work: Callable[[], object], name: str) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            try:
                work()
            except Exception:  # noqa: BLE001 - an emulator hiccup must not end the sandbox; it is logged
                LOG.error("%s failed:\n%s", name, traceback.format_exc())
            stop.wait(period)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--web-port", type=int, required=True)
    args = parser.parse_args()
    args.state.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=args.state / "server.log", level=logging.INFO,
                        format="%(asctime)s %(threadName)s %(levelname)s %(message)s")
    # one line per request would cost the busy sandbox more CPU than some of the requests themselves
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    endpoint = f"http://127.0.0.1:{args.port}"
    os.environ.update({"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox",
                       "AWS_DEFAULT_REGION": "us-east-1", "MOTO_PORT": str(args.port)})
    os.environ.pop("AWS_PROFILE", None)
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    moto_ext.install()
    moto_ext.use_loopback_load_balancers()
    inbox.install()
    runtime = os.environ.get("SANDBOX_LAMBDA_RUNTIME", "warm")
    lambda_runtime.install_subprocess(endpoint, runtime)

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    moto.start()
    ecs = EcsEmulator(args.state)
    health = HealthChecker()
    metrics = LoadBalancerMetrics()
    proxies = Proxies(metrics=metrics)
    pipelines = PipelineRunner(args.state, endpoint)
    install_api(pipelines)
    web = make_server("127.0.0.1", args.web_port, endpoint, ecs.describe)
    threading.Thread(target=web.serve_forever, name="web", daemon=True).start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    def reconcile() -> None:
        proxies.reconcile()
        ecs.reconcile()

    loop(stop, 0.2, reconcile, "reconcile")
    loop(stop, 0.2, health.run_once, "health")
    loop(stop, 1.0, pipelines.watch, "pipelines")
    loop(stop, 0.5, metrics.publish, "metrics")
    (args.state / "server.json").write_text(json.dumps({
        "pid": os.getpid(), "endpoint": endpoint, "web_url": f"http://127.0.0.1:{args.web_port}",
        "lambdaRuntime": runtime,
        "started": time.time()}))
    LOG.info("sandbox ready at %s", endpoint)
    stop.wait()
    LOG.info("stopping")
    lambda_runtime.shutdown()
    ecs.shutdown()
    proxies.shutdown()
    web.shutdown()
    moto.stop()
    (args.state / "server.json").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
