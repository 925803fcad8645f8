"""obsagent.health: the check registry's semantics (timeouts, errors, caching, critical or not,
the event loop never blocked), the JSON and probe answers through the ASGI and WSGI apps and
its own server, its metrics; then each ready-made check against a real PostgreSQL and a real
Redis, healthy, hanging (SIGSTOP), thawed, stopped and restarted."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request

import db_servers
import pytest

import obsagent
from conftest import free_port
from obsagent.health import (
    CheckFailed,
    HealthChecks,
    disk_check,
    http_check,
    redis_check,
    sqlalchemy_check,
    tcp_check,
)

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from obsagent.asgi import MetricsMiddleware  # noqa: E402


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def fixture_checks(registry) -> tuple[HealthChecks, threading.Event]:
    release = threading.Event()
    release.calls = 0

    def slow() -> None:
        release.calls += 1
        release.wait(30)

    checks = HealthChecks(registry, version="1.2.3")
    checks.add("disk", disk_check("/"))

    async def cache() -> None:
        raise CheckFailed("cache is cold")

    checks.add("cache", cache, critical=False)
    checks.add("slow", slow, timeout=0.3)
    return checks, release


def test_timeouts_errors_and_non_critical_checks(registry):
    checks, release = fixture_checks(registry)
    try:
        began = time.monotonic()
        results = {result.name: result for result in checks.run()}
        assert time.monotonic() - began < 1.5, "a hanging check answers at its timeout"
        assert results["disk"].ok and not results["cache"].ok and not results["slow"].ok
        assert results["slow"].error == "timed out after 0.3 s"
        assert results["cache"].error == "CheckFailed: cache is cold"
        status, _, body = checks.health_body(list(results.values()))
        document = json.loads(body)
        assert status == 503 and document["status"] == "unhealthy" and document["version"] == "1.2.3"
        assert document["services"] == {"disk": "connected", "cache": "error", "slow": "error"}
        assert "slow: timed out after 0.3 s" in document["error"]
        assert registry.get_sample_value("health_check_status", {"check": "disk"}) == 1
        assert registry.get_sample_value("health_check_status", {"check": "slow"}) == 0
        assert registry.get_sample_value("health_check_duration_seconds", {"check": "slow"}) == pytest.approx(0.3)
        assert registry.get_sample_value("health_check_last_success_timestamp_seconds", {"check": "slow"}) == 0
        assert registry.get_sample_value("health_check_last_success_timestamp_seconds", {"check": "disk"}) > 1e9
        # The hung run is not started again: a second probe waits on the same thread.
        checks.run()
        assert release.calls == 1
        release.set()
        wait = time.monotonic() + 5
        while not all(result.ok for result in checks.run() if result.critical) and time.monotonic() < wait:
            time.sleep(0.05)
        status, _, body = checks.health_body(checks.run())
        assert status == 200 and json.loads(body)["status"] == "healthy", "a failing non-critical check keeps it up"
        assert json.loads(body)["services"]["cache"] == "error"
    finally:
        release.set()


def test_a_hanging_sync_check_does_not_block_the_event_loop(registry):
    checks, release = fixture_checks(registry)
    ticks = []

    async def main():
        async def ticker():
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        results = await checks.run_async()
        task.cancel()
        return results

    try:
        began = time.monotonic()
        results = asyncio.run(main())
        assert 0.25 < time.monotonic() - began < 1.5
        assert len(ticks) > 10, "the loop kept running while the check hung"
        assert {result.name: result.error for result in results}["slow"] == "timed out after 0.3 s"
    finally:
        release.set()


def test_cached_results_are_not_rerun(registry):
    runs = []
    checks = HealthChecks(registry)
    checks.add("counted", lambda: runs.append(1), cache_seconds=60)
    checks.add("uncached", lambda: runs.append(2))
    for _ in range(3):
        checks.run()
    assert runs.count(1) == 1 and runs.count(2) == 3


def test_bad_registrations_are_refused(registry):
    checks = HealthChecks(registry)
    checks.add("a", lambda: None)
    assert registry.get_sample_value("health_check_status", {"check": "a"}) is None, "no series before a run"
    with pytest.raises(ValueError, match="already registered"):
        checks.add("a", lambda: None)
    with pytest.raises(ValueError, match="path segment"):
        checks.add("a/b", lambda: None)
    with pytest.raises(ValueError, match="timeout"):
        checks.add("b", lambda: None, timeout=0)


def test_asgi_app_mounted_under_a_prefix_and_unmeasured(registry):
    checks, release = fixture_checks(registry)
    app = fastapi.FastAPI()
    app.add_middleware(MetricsMiddleware, registry=registry)

    @app.get("/api/v1/items")
    def items():
        return []

    app.mount("/api/v1", checks.asgi_app(health="/health", livez="/ping", readyz="/readiness"))

    client = TestClient(app)
    try:
        response = client.get("/api/v1/health")
        assert response.status_code == 503 and response.json()["status"] == "unhealthy"
        assert response.headers["content-type"] == "application/json"
        assert client.get("/api/v1/ping").text == "ok\n", "liveness runs no checks"
        ready = client.get("/api/v1/readiness?verbose")
        assert ready.status_code == 503
        assert ready.text.splitlines() == [
            "[+]disk ok",
            "[-]cache failed: CheckFailed: cache is cold (not critical)",
            "[-]slow failed: timed out after 0.3 s",
            "readyz check failed",
        ]
        one = client.get("/api/v1/readiness/disk")
        assert one.status_code == 200 and one.text == "[+]disk ok\nreadyz check passed\n"
        assert client.get("/api/v1/readiness/nope").status_code == 404
        release.set()
        assert client.get("/api/v1/items").status_code == 200
        wait = time.monotonic() + 5
        while client.get("/api/v1/readiness").status_code != 200 and time.monotonic() < wait:
            time.sleep(0.05)
        assert client.get("/api/v1/readiness").text == "ok\n"
    finally:
        release.set()
    endpoints = {
        sample.labels["endpoint"]
        for family in registry.collect()
        if family.name == "http_requests"
        for sample in family.samples
    }
    assert endpoints == {"/api/v1/items"}, "the health app is not counted as traffic wherever mounted"


def test_wsgi_app_and_own_server(registry):
    checks, release = fixture_checks(registry)
    obsagent.Counter("served_things", "Things.", registry=registry).inc(3)
    server = checks.start_http_server(free_port(), addr="127.0.0.1", registry=registry)
    base = f"http://127.0.0.1:{server.port}"
    try:
        status, body = get(base + "/health")
        assert status == 503 and json.loads(body)["services"]["slow"] == "error"
        assert get(base + "/livez") == (200, b"ok\n")
        assert get(base + "/readyz/disk") == (200, b"[+]disk ok\nreadyz check passed\n")
        assert get(base + "/readyz")[0] == 503
        status, body = get(base + "/metrics")
        assert status == 200 and b"served_things_total 3.0" in body and b'health_check_status{check="disk"} 1.0' in body
        assert get(base + "/other")[0] == 404
        release.set()
        wait = time.monotonic() + 5
        while get(base + "/health")[0] != 200 and time.monotonic() < wait:
            time.sleep(0.05)
        status, body = get(base + "/health")
        assert status == 200 and json.loads(body)["status"] == "healthy"
    finally:
        release.set()
        server.stop()


def test_http_and_tcp_checks(registry):
    target = HealthChecks(None)
    server = target.start_http_server(free_port(), addr="127.0.0.1", registry=None)
    closed_port = free_port()
    checks = HealthChecks(registry)
    checks.add("http", http_check(f"http://127.0.0.1:{server.port}/livez"))
    checks.add("http_404", http_check(f"http://127.0.0.1:{server.port}/nope"))
    checks.add("tcp", tcp_check("127.0.0.1", server.port))
    checks.add("tcp_closed", tcp_check("127.0.0.1", closed_port))
    checks.add("disk_full", disk_check("/", min_free_ratio=1.01))
    try:
        errors = {result.name: result.error for result in checks.run()}
    finally:
        server.stop()
    assert errors["http"] is None and errors["tcp"] is None
    assert errors["http_404"] == f"CheckFailed: http://127.0.0.1:{server.port}/nope answered 404"
    assert errors["tcp_closed"].startswith("ConnectionRefusedError")
    assert errors["disk_full"].startswith("CheckFailed: /: ")


# Real PostgreSQL and Redis: every ready-made check for each, through the async path (as the
# ASGI app runs them, on one event loop) and, for the sync checks, the threaded path (WSGI).

TIMEOUT = 1.0


def wait_state(run, healthy: bool, within: float) -> dict:
    """Runs the checks until they all pass (or all fail) or `within` seconds passed; returns the
    last errors by check."""
    deadline = time.monotonic() + within
    while True:
        errors = {result.name: result.error for result in run()}
        if all((error is None) == healthy for error in errors.values()) or time.monotonic() > deadline:
            return errors
        time.sleep(0.1)


def exercise(
    server: db_servers.Server, async_checks: HealthChecks, sync_checks: HealthChecks, loop: asyncio.AbstractEventLoop
) -> None:
    """Healthy; frozen: each check times out (503 within the timeout); thawed: healthy; stopped:
    each fails within the timeout; restarted on the same port: healthy again."""
    paths = {"async": lambda: loop.run_until_complete(async_checks.run_async()), "sync": sync_checks.run}
    try:
        for path, run in paths.items():
            errors = wait_state(run, True, 15)
            assert all(error is None for error in errors.values()), (path, errors)
        server.freeze()
        try:
            for path, run in paths.items():
                began = time.monotonic()
                errors = wait_state(run, False, 0)
                assert time.monotonic() - began < TIMEOUT + 0.5, f"{path}: answered within the timeout"
                failing = {name: error for name, error in errors.items() if name != "tcp"}
                assert failing and all(e == f"timed out after {TIMEOUT:g} s" for e in failing.values()), errors
                # A frozen server's kernel still accepts connections: only a real request notices.
                assert errors.get("tcp") is None
                status, _, body = (async_checks if path == "async" else sync_checks).health_body(run())
                assert status == 503 and json.loads(body)["status"] == "unhealthy"
        finally:
            server.thaw()
        for path, run in paths.items():
            errors = wait_state(run, True, 15)
            assert all(error is None for error in errors.values()), (path, errors)
        server.stop()
        for path, run in paths.items():
            began = time.monotonic()
            errors = wait_state(run, False, 0)
            # Refused at once, or (redis-py retrying with backoff) still failing at the timeout.
            assert time.monotonic() - began < TIMEOUT + 0.5, f"{path}: answered within the timeout"
            assert all(error is not None for error in errors.values()), (path, errors)
            assert "Connection refused" in errors.get("tcp", "Connection refused")
            status, _, body = (async_checks if path == "async" else sync_checks).health_body(run())
            assert status == 503 and json.loads(body)["error"]
        server.start()
        for path, run in paths.items():
            errors = wait_state(run, True, 20)
            assert all(error is None for error in errors.values()), (path, errors)
            status, _, body = (async_checks if path == "async" else sync_checks).health_body(run())
            assert status == 200 and json.loads(body)["status"] == "healthy"
    finally:
        server.thaw()


def test_postgres_checks_healthy_frozen_stopped_recovering(registry):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    server = db_servers.postgres()
    try:
        server.start()
        url = f"postgres@127.0.0.1:{server.port}/postgres"
        engine = sqlalchemy.create_engine(f"postgresql+psycopg://{url}", pool_size=2)
        async_engine = create_async_engine(f"postgresql+asyncpg://{url}", poolclass=NullPool)
        async_checks = HealthChecks(registry)
        async_checks.add("database", sqlalchemy_check(engine), timeout=TIMEOUT)
        async_checks.add("database_async", sqlalchemy_check(async_engine), timeout=TIMEOUT)
        async_checks.add("tcp", tcp_check("127.0.0.1", server.port), timeout=TIMEOUT)
        sync_checks = HealthChecks(None)
        sync_checks.add("database", sqlalchemy_check(engine), timeout=TIMEOUT)
        sync_checks.add("tcp", tcp_check("127.0.0.1", server.port), timeout=TIMEOUT)
        loop = asyncio.new_event_loop()
        try:
            exercise(server, async_checks, sync_checks, loop)
        finally:
            loop.close()
        assert registry.get_sample_value("health_check_status", {"check": "database_async"}) == 1
        engine.dispose()
    finally:
        db_servers.remove(server)


def test_redis_checks_healthy_frozen_stopped_recovering(registry, tmp_path):
    redis = pytest.importorskip("redis")
    redis_asyncio = pytest.importorskip("redis.asyncio")

    server = db_servers.redis(tmp_path)
    try:
        server.start()
        options = {"host": "127.0.0.1", "port": server.port, "socket_connect_timeout": 5}
        clients = [redis.Redis(**options), redis.Redis(**options)]
        async_client = redis_asyncio.Redis(**options)
        async_checks = HealthChecks(registry)
        async_checks.add("redis", redis_check(clients[0]), timeout=TIMEOUT)
        async_checks.add("redis_async", redis_check(async_client), timeout=TIMEOUT)
        async_checks.add("tcp", tcp_check("127.0.0.1", server.port), timeout=TIMEOUT)
        sync_checks = HealthChecks(None)
        sync_checks.add("redis", redis_check(clients[1]), timeout=TIMEOUT)
        loop = asyncio.new_event_loop()
        try:
            exercise(server, async_checks, sync_checks, loop)
        finally:
            loop.run_until_complete(async_client.aclose())
            loop.close()
            for client in clients:
                client.close()
    finally:
        db_servers.remove(server)
