#!/usr/bin/env python3
"""Per-request overhead of obsagent's ASGI middleware (its defaults, with an extra label read
from a header, with the prometheus-fastapi-instrumentator preset, and with request-ID logging)
beside prometheus-fastapi-instrumentator and starlette-exporter, on the same FastAPI app,
measured in the same run.

Requests are driven in-process: the ASGI app is called directly with a request scope, an empty
body and a send that drops the response, so no server or socket noise is in the figures. Each
variant is a fresh app with one route (`/items/{item_id}`, path ids varying) and its
middleware; the bare app is the baseline. Overhead = time per request with the middleware minus
without, in CPU time of the thread driving them (so that other processes on a shared machine
don't count), from the fastest of several rounds in which the variants take turns (the median's
figures are printed too). The request-ID logging
variant's route logs one line (through a handler with obsagent's RequestIdFilter and
`%(request_id)s` in its format, to a discarding stream); its baseline is the bare app logging the
same line through the same handler without the filter.
Usage: bench_middleware.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

warnings.filterwarnings("ignore")


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def _logger(name: str, with_filter: bool) -> logging.Logger:
    logger = logging.getLogger(name)
    handler = logging.StreamHandler(_Discard())
    handler.setFormatter(logging.Formatter("%(levelname)s %(request_id)s %(message)s"))
    if with_filter:
        from obsagent.context import RequestIdFilter

        handler.addFilter(RequestIdFilter())
    else:  # the same format, the attribute set by nobody per request: a constant on every record
        handler.addFilter(lambda record: setattr(record, "request_id", "-") or True)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def make_app(variant: str) -> Any:
    from fastapi import FastAPI

    app = FastAPI()
    logs = variant in ("bare+log", "obsagent request-ID logging")
    logger = _logger(f"bench.{variant}", variant != "bare+log") if logs else None

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        if logger is not None:
            logger.info("item %s", item_id)
        return {"item_id": item_id}

    if variant.startswith("obsagent"):
        import obsagent
        from obsagent._http_metrics import ExtraLabel
        from obsagent.asgi import MetricsMiddleware

        options: dict[str, Any] = {
            "obsagent": {},
            "obsagent extra label": {"extra_labels": [ExtraLabel("agent", header="user-agent", max_values=5)]},
            "obsagent instrumentator preset": {"preset": "instrumentator"},
            "obsagent request-ID logging": {},
        }[variant]
        app.add_middleware(MetricsMiddleware, registry=obsagent.CollectorRegistry(), **options)
    elif variant == "prometheus-fastapi-instrumentator":
        import prometheus_client
        from prometheus_fastapi_instrumentator import Instrumentator

        Instrumentator(registry=prometheus_client.CollectorRegistry()).instrument(app)
    elif variant == "starlette-exporter":
        from starlette_exporter import PrometheusMiddleware

        app.add_middleware(PrometheusMiddleware, group_paths=True)
    return app


async def drive(app: Any, requests: int) -> float:
    """CPU seconds per request (this thread's: on a shared machine, time other processes take
    from it is not counted)."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    scopes = [
        {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": f"/items/{n % 100}",
            "raw_path": f"/items/{n % 100}".encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"bench"), (b"user-agent", b"bench")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        for n in range(requests)
    ]
    started = time.thread_time()
    for scope in scopes:
        await app(dict(scope), receive, send)
    return (time.thread_time() - started) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    ours = ["obsagent", "obsagent extra label", "obsagent instrumentator preset", "obsagent request-ID logging"]
    peers = ["prometheus-fastapi-instrumentator", "starlette-exporter"]
    variants = ["bare", "bare+log", *ours, *peers]
    apps = {name: make_app(name) for name in variants}
    loop = asyncio.new_event_loop()
    run: Callable[[Any, int], float] = lambda app, n: loop.run_until_complete(drive(app, n))  # noqa: E731
    for app in apps.values():  # warm up: routing caches, metric children, lazily built stacks
        run(app, 500)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, app in apps.items():
            times[name].append(run(app, args.requests))
    print(f"{args.requests} requests x {args.rounds} rounds per variant; load {os.getloadavg()[0]:.2f}")
    overheads = {}
    for estimator in (min, statistics.median):
        bare = estimator(times["bare"])
        bare_log = estimator(times["bare+log"])
        overheads[estimator] = {
            name: estimator(times[name]) - (bare_log if "logging" in name else bare) for name in ours + peers
        }
        print(
            f"bare FastAPI app ({estimator.__name__}): {bare * 1e6:.1f} us per request"
            f" ({bare_log * 1e6:.1f} us logging a line)"
        )
    overhead = overheads[min]
    fastest_peer = min(overhead[name] for name in peers)
    print(f"{'middleware':36} {'overhead per request':>22} {'faster peer / it':>18} {'(median)':>10}")
    for name, value in overhead.items():
        ratio = fastest_peer / value if value > 0 else float("inf")
        print(f"{name:36} {value * 1e6:19.1f} us {ratio:17.1f}x {overheads[statistics.median][name] * 1e6:7.1f} us")
    ratio = fastest_peer / overhead["obsagent"] if overhead["obsagent"] > 0 else float("inf")
    print(
        f"obsagent's default overhead is {ratio:.1f}x less than the faster peer's; "
        f"target >= 5x: {'met' if ratio >= 5 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
