#!/usr/bin/env python3
"""Per-request overhead of obsagent's ASGI middleware beside prometheus-fastapi-instrumentator
and starlette-exporter, on the same FastAPI app, measured in the same run.

Requests are driven in-process: the ASGI app is called directly with a request scope, an empty
body and a send that drops the response, so no server or socket noise is in the figures. Each
variant is a fresh app with one route (`/items/{item_id}`, path ids varying) and its
middleware; the bare app is the baseline. Overhead = time per request with the middleware minus
without, the median of several rounds in which the variants take turns.
Usage: bench_middleware.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

warnings.filterwarnings("ignore")


def make_app(variant: str) -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    if variant == "obsagent":
        import obsagent
        from obsagent.asgi import MetricsMiddleware

        app.add_middleware(MetricsMiddleware, registry=obsagent.CollectorRegistry())
    elif variant == "prometheus-fastapi-instrumentator":
        import prometheus_client
        from prometheus_fastapi_instrumentator import Instrumentator

        Instrumentator(registry=prometheus_client.CollectorRegistry()).instrument(app)
    elif variant == "starlette-exporter":
        from starlette_exporter import PrometheusMiddleware

        app.add_middleware(PrometheusMiddleware, group_paths=True)
    return app


async def drive(app: Any, requests: int) -> float:
    """Seconds per request."""

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
    started = time.perf_counter()
    for scope in scopes:
        await app(dict(scope), receive, send)
    return (time.perf_counter() - started) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    variants = ["bare", "obsagent", "prometheus-fastapi-instrumentator", "starlette-exporter"]
    apps = {name: make_app(name) for name in variants}
    loop = asyncio.new_event_loop()
    run: Callable[[Any, int], float] = lambda app, n: loop.run_until_complete(drive(app, n))  # noqa: E731
    for app in apps.values():  # warm up: routing caches, metric children, lazily built stacks
        run(app, 500)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, app in apps.items():
            times[name].append(run(app, args.requests))
    bare = statistics.median(times["bare"])
    overhead = {name: statistics.median(times[name]) - bare for name in variants[1:]}
    print(f"{args.requests} requests x {args.rounds} rounds per variant; load {os.getloadavg()[0]:.2f}")
    print(f"bare FastAPI app: {bare * 1e6:.1f} us per request")
    print(f"{'middleware':36} {'overhead per request':>22}")
    for name, value in overhead.items():
        print(f"{name:36} {value * 1e6:19.1f} us")
    fastest_peer = min(overhead["prometheus-fastapi-instrumentator"], overhead["starlette-exporter"])
    ratio = fastest_peer / overhead["obsagent"] if overhead["obsagent"] > 0 else float("inf")
    print(
        f"obsagent's overhead is {ratio:.1f}x less than the faster peer's; "
        f"target >= 5x: {'met' if ratio >= 5 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
