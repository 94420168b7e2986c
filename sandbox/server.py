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
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import boto3
from moto.core.config import default_user_config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from . import inbox, interrupted, lambda_runtime, moto_ext, statefile
from .ecs import EcsEmulator
from .gate import Gate
from .lb_metrics import LoadBalancerMetrics
from .loadbalancer import HealthChecker, Proxies
from .persist import Store
from .pipeline.api import install_api
from .pipeline.runner import PipelineRunner
from .web import make_server

LOG = logging.getLogger("sandbox")
SNAPSHOT_SECONDS = 1.0  # what a crash can lose: the changes of the last second


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

    gate = Gate()
    ecs = EcsEmulator(args.state)
    pipelines = PipelineRunner(args.state, endpoint)
    store = Store(args.state, gate)
    keep(store, ecs, pipelines)
    ecs.on_change = pipelines.on_change = gate.touch
    statefile.remove_leftovers(args.state)
    try:
        ended = store.load()
    except statefile.StateFileError as exc:  # checked by deploy.py first; a file that changed since is refused here
        print(exc, file=sys.stderr)
        sys.exit(3)
    if ended is not None:
        moto_ext.forget_targets()  # they were the dead sandbox's task processes; ECS starts new ones

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    moto.start()
    moto._server.app = gate.wsgi(moto._server.app)  # type: ignore[union-attr]
    health = HealthChecker()
    metrics = LoadBalancerMetrics()
    proxies = Proxies(metrics=metrics)
    install_api(pipelines)
    web = make_server("127.0.0.1", args.web_port, endpoint, ecs.describe, state=store.stats)
    threading.Thread(target=web.serve_forever, name="web", daemon=True).start()
    ended_lines = []
    if ended:  # before the sandbox says it is ready: a user's first look sees them ended
        session = boto3.Session(region_name="us-east-1")
        ended_lines = interrupted.end(ended, session.client("lambda", endpoint_url=endpoint),
                                      session.client("elbv2", endpoint_url=endpoint))
        for line in ended_lines:
            LOG.warning("interrupted release %s", line)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    def reconcile() -> None:
        proxies.reconcile()
        with gate.activity(changing=False):  # it says when it changed something
            ecs.reconcile()

    def publish() -> None:
        with gate.activity(changing=False):
            if metrics.publish():
                gate.touch()

    loop(stop, 0.2, reconcile, "reconcile")
    loop(stop, 0.2, health.run_once, "health")
    loop(stop, 1.0, pipelines.watch, "pipelines")
    loop(stop, 0.5, publish, "metrics")
    loop(stop, SNAPSHOT_SECONDS, store.save, "snapshot")
    (args.state / "server.json").write_text(json.dumps({
        "pid": os.getpid(), "endpoint": endpoint, "web_url": f"http://127.0.0.1:{args.web_port}",
        "lambdaRuntime": runtime, "interrupted": ended_lines, "started": time.time()}))
    LOG.info("sandbox ready at %s", endpoint)
    stop.wait()
    LOG.info("stopping")
    store.save(timeout=10)  # what the last second changed
    lambda_runtime.shutdown()
    ecs.shutdown()
    proxies.shutdown()
    web.shutdown()
    moto.stop()
    (args.state / "server.json").unlink(missing_ok=True)


def keep(store: Store, ecs: EcsEmulator, pipelines: PipelineRunner) -> None:
    """What the sandbox keeps outside moto's backends, saved and restored with them."""
    store.keep("inbox", inbox.messages, inbox.restore)
    store.keep("jobResults", lambda: dict(moto_ext.JOB_RESULTS), moto_ext.JOB_RESULTS.update)
    store.keep("pipelines", pipelines.saved, pipelines.restore)
    store.keep("ecs", ecs.saved, ecs.restore)


if __name__ == "__main__":
    main()
