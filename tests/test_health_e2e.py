"""Everything of issue 16 together, as a service runs it: a FastAPI app under real uvicorn
(async SQLAlchemy engine, async Redis, `status_code` labels) and a Flask app under real gunicorn
(sync engine, sync Redis, the prometheus-fastapi-instrumentator preset), both with health checks
on a real PostgreSQL and Redis mounted under /api/v1, SQLAlchemy metrics and request IDs in
their log lines; a real Prometheus scrapes both and answers the PromQL those services use. The
database is stopped and restarted while the probes are watched."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import db_servers
import pytest

from conftest import free_port, query, running_prometheus, wait_for

pytest.importorskip("fastapi")
pytest.importorskip("flask")
pytest.importorskip("sqlalchemy")
pytest.importorskip("redis")

COMMON = """
import logging
import os

import obsagent.sqlalchemy
from obsagent.context import install_log_filter
from obsagent.health import HealthChecks, redis_check, sqlalchemy_check

logging.basicConfig(level=logging.INFO, format="%(levelname)s request_id=%(request_id)s %(name)s %(message)s")
install_log_filter()
log = logging.getLogger("orders")
PG = "postgres@127.0.0.1:" + os.environ["PG_PORT"] + "/postgres"
REDIS = {"host": "127.0.0.1", "port": int(os.environ["REDIS_PORT"]), "socket_connect_timeout": 2}
checks = HealthChecks(version="9.9.9")
"""

FASTAPI_APP = (
    COMMON
    + """
import redis.asyncio
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from obsagent.asgi import MetricsMiddleware, make_asgi_app

engine = obsagent.sqlalchemy.instrument(create_async_engine("postgresql+asyncpg://" + PG, pool_pre_ping=True))
checks.add("database", sqlalchemy_check(engine), timeout=1)
checks.add("redis", redis_check(redis.asyncio.Redis(**REDIS)), timeout=1)

app = FastAPI()
app.add_middleware(MetricsMiddleware, status_label="status_code")

@app.get("/orders/{order_id}")
async def order(order_id: int):
    log.info("order %s", order_id)
    if order_id % 4 == 0:
        raise RuntimeError("every fourth order fails")
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    return {"id": order_id}

app.mount("/metrics", make_asgi_app())
app.mount("/api/v1", checks.asgi_app())
"""
)

FLASK_APP = (
    COMMON
    + """
import redis
from flask import Flask
from sqlalchemy import create_engine, text
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from obsagent.wsgi import MetricsMiddleware, make_wsgi_app

engine = obsagent.sqlalchemy.instrument(create_engine("postgresql+psycopg://" + PG, pool_pre_ping=True))
checks.add("database", sqlalchemy_check(engine), timeout=1)
checks.add("redis", redis_check(redis.Redis(**REDIS)), timeout=1)

app = Flask(__name__)

@app.route("/orders/<int:order_id>")
def order(order_id):
    log.info("order %s", order_id)
    if order_id % 4 == 0:
        raise RuntimeError("every fourth order fails")
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"id": order_id}

app.wsgi_app = DispatcherMiddleware(
    MetricsMiddleware(app.wsgi_app, preset="instrumentator"),
    {"/metrics": make_wsgi_app(), "/api/v1": checks.wsgi_app()},
)
"""
)


def fetch(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def value(base: str, expr: str) -> float | None:
    result = query(base, expr)
    return float(result[0]["value"][1]) if result else None


def probes(base: str) -> dict:
    """What /api/v1/health, /livez and /readyz answer (status and the body's gist)."""
    status, _, body = fetch(base + "/api/v1/health")
    health = json.loads(body)
    return {
        "health": (status, health["status"], health["services"]),
        "livez": fetch(base + "/api/v1/livez")[0],
        "readyz": fetch(base + "/api/v1/readyz")[0],
    }


HEALTHY = {
    "health": (200, "healthy", {"database": "connected", "redis": "connected"}),
    "livez": 200,
    "readyz": 200,
}
DATABASE_DOWN = {
    "health": (503, "unhealthy", {"database": "error", "redis": "connected"}),
    "livez": 200,
    "readyz": 503,
}


def test_fastapi_and_flask_under_real_servers_with_prometheus(tmp_path: Path):
    postgres = db_servers.postgres()
    redis_server = db_servers.redis(tmp_path)
    processes = []
    try:
        postgres.start()
        redis_server.start()
        (tmp_path / "fastapi_app.py").write_text(textwrap.dedent(FASTAPI_APP))
        (tmp_path / "flask_app.py").write_text(textwrap.dedent(FLASK_APP))
        ports = {"fastapi": free_port(), "flask": free_port()}
        env = {"PG_PORT": str(postgres.port), "REDIS_PORT": str(redis_server.port)}
        commands = {
            "fastapi": ["-m", "uvicorn", "--port", str(ports["fastapi"]), "--host", "127.0.0.1", "fastapi_app:app"],
            "flask": ["-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{ports['flask']}", "flask_app:app"],
        }
        logs = {}

        for name, command in commands.items():
            logs[name] = tmp_path / f"{name}.log"
            with logs[name].open("w") as log:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, *command],
                        cwd=tmp_path,
                        env={**os.environ, **env},
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    )
                )
        bases = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for base in bases.values():
            wait_for(lambda base=base: fetch(base + "/api/v1/livez")[0] == 200, timeout=30)

        with running_prometheus(tmp_path, ports, job_settings="    metrics_path: /metrics/\n") as prometheus:
            # Healthy: the probes, then traffic with request IDs.
            for name, base in bases.items():
                assert wait_for(lambda base=base: probes(base) == HEALTHY, timeout=15), name
            sent: dict[str, list] = {name: [] for name in bases}
            for first, last in ((1, 20), (21, 40)):  # twice, so that rate() and increase() see 5xx grow
                for name, base in bases.items():
                    for n in range(first, last + 1):
                        given = {"X-Request-ID": f"caller-{name}-{n}"} if n % 2 else {}
                        status, headers, _ = fetch(f"{base}/orders/{n}", given)
                        assert status == (500 if n % 4 == 0 else 200)
                        rids = headers.get_all("X-Request-ID")
                        assert len(rids) == 1, (name, n, rids)
                        if n % 2:
                            assert rids == [f"caller-{name}-{n}"]
                        else:
                            assert uuid.UUID(rids[0]).version == 4
                        sent[name].append((n, rids[0]))
                wait_for(lambda last=last: value(prometheus, "sum(http_requests_total)") == 2 * last, timeout=20)

            # The database stopped: unhealthy and unready within the checks' timeout, still live.
            postgres.stop()
            for name, base in bases.items():
                began = time.monotonic()
                assert probes(base) == DATABASE_DOWN, name
                assert time.monotonic() - began < 3 * 1.5, f"{name}: three probes, each within the 1 s timeout"
                status, _, body = fetch(base + "/api/v1/readyz?verbose")
                lines = body.decode().splitlines()
                assert status == 503 and lines[0].startswith("[-]database failed: ") and lines[1] == "[+]redis ok"
                status, _, body = fetch(base + "/api/v1/health")
                assert "database: " in json.loads(body)["error"]
            jobs = "|".join(bases)
            wait_for(
                lambda: value(prometheus, f'sum(health_check_status{{job=~"{jobs}",check="database"}})') == 0,
                timeout=20,
            )

            # Restarted: healthy again.
            postgres.start()
            for name, base in bases.items():
                assert wait_for(lambda base=base: probes(base) == HEALTHY, timeout=20), name
            wait_for(
                lambda: value(prometheus, f'sum(health_check_status{{job=~"{jobs}",check="database"}})') == 2,
                timeout=20,
            )

            # The PromQL the services' alerts and dashboards use.
            def settled(expr: str, expected: float) -> bool:
                return value(prometheus, expr) == expected

            template = {"fastapi": "/orders/{order_id}", "flask": "/orders/<int:order_id>"}
            assert wait_for(
                lambda: settled('sum(http_requests_total{job="fastapi",status_code=~"5.."})', 10), timeout=20
            )
            assert value(prometheus, 'sum(http_requests_total{job="fastapi",status_code="200"})') == 30
            assert wait_for(lambda: settled('sum(http_requests_total{job="flask",status="5xx"})', 10), timeout=20)
            assert value(prometheus, f'sum(http_requests_total{{job="flask",handler="{template["flask"]}"}})') == 40
            # A 5xx alert written for either naming finds both services' errors.
            errors = query(prometheus, 'sum by (job) (increase(http_requests_total{status=~"5..|5xx"}[5m]))')
            errors += query(prometheus, 'sum by (job) (increase(http_requests_total{status_code=~"5.."}[5m]))')
            assert {r["metric"]["job"] for r in errors if float(r["value"][1]) > 0} == {"fastapi", "flask"}
            p99 = value(
                prometheus,
                "histogram_quantile(0.99, sum by (le) "
                '(rate(http_request_duration_highr_seconds_bucket{job="flask"}[1m])))',
            )
            buckets = query(
                prometheus, 'sum by (le) (rate(http_request_duration_highr_seconds_bucket{job="flask"}[1m]))'
            )
            assert p99 is not None and 0 < p99 < 60, str(
                sorted((float(r["metric"]["le"]), r["value"][1]) for r in buckets)
            )
            p95 = value(
                prometheus,
                'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{job="fastapi"}[1m])))',
            )
            assert p95 is not None and 0 < p95 < 10
            print(f"PromQL: flask highr p99 {p99:.4f} s, fastapi p95 {p95:.4f} s, 5xx increase by job {errors}")
            # Health probes and metrics scrapes under /api/v1 and /metrics are not traffic.
            handlers = {r["metric"].get("handler") for r in query(prometheus, 'http_requests_total{job="flask"}')}
            endpoints = {r["metric"].get("endpoint") for r in query(prometheus, 'http_requests_total{job="fastapi"}')}
            assert handlers == {template["flask"]} and endpoints == {template["fastapi"]}
            assert value(prometheus, 'sum(database_query_duration_seconds_count{operation="SELECT"})') >= 60
            assert value(prometheus, 'sum(database_connections_max{job="flask"})') == 15
            assert (
                value(prometheus, 'max(health_check_last_success_timestamp_seconds{check="redis"})') > time.time() - 60
            )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        db_servers.remove(postgres)
        db_servers.remove(redis_server)

    # Every request's log line carries its ID.
    for name, log in logs.items():
        by_order = {int(n): rid for rid, n in re.findall(r"request_id=(\S+) orders order (\d+)", log.read_text())}
        assert by_order == dict(sent[name]), name
