"""The native server's own probes (the daemon's and ``start_http_server``'s): ``/health`` in the
JSON shape of obsagent.health, ``/livez`` and ``/readyz`` (``?verbose``, ``/readyz/scrape``)
as Kubernetes components answer; ``/readyz`` and ``/health`` turn 503 while every scrape permit
is taken, and back once one is free."""

from __future__ import annotations

import datetime
import json
import threading
import time
import urllib.error
import urllib.request

import obsagent
from conftest import free_port, start_daemon, stop_daemon


def fetch(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def test_daemon_health_livez_readyz():
    process, base = start_daemon("--collector.disable-defaults", "--collector.loadavg")
    try:
        status, content_type, body = fetch(base + "/health")
        health = json.loads(body)
        assert (status, content_type) == (200, "application/json")
        assert health["status"] == "healthy" and health["services"] == {"scrape": "connected"}
        assert health["version"] == obsagent.__version__ and "error" not in health
        stamp = datetime.datetime.fromisoformat(health["timestamp"])
        assert abs((stamp - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) < 5
        assert fetch(base + "/livez")[::2] == (200, b"ok\n")
        assert fetch(base + "/readyz")[::2] == (200, b"ok\n")
        assert fetch(base + "/readyz?verbose")[::2] == (200, b"[+]scrape ok\nreadyz check passed\n")
        assert fetch(base + "/readyz/scrape")[::2] == (200, b"[+]scrape ok\nreadyz check passed\n")
        assert fetch(base + "/readyz/nope")[0] == 404
    finally:
        stop_daemon(process)


def test_readyz_and_health_are_503_while_every_scrape_permit_is_taken(registry):
    release = threading.Event()

    class Slow:
        def collect(self):
            release.wait(20)
            return []

    registry.register(Slow())
    port = free_port()
    server = obsagent.start_http_server(port, addr="127.0.0.1", registry=registry, max_requests=1)
    base = f"http://127.0.0.1:{port}"
    scrape = threading.Thread(target=fetch, args=(base + "/metrics",))
    try:
        scrape.start()
        deadline = time.monotonic() + 10
        while fetch(base + "/readyz")[0] != 503 and time.monotonic() < deadline:
            time.sleep(0.02)
        status, _, body = fetch(base + "/readyz")
        assert (status, body) == (503, b"[-]scrape failed: 1 scrapes are already running\nreadyz check failed\n")
        status, _, body = fetch(base + "/health")
        health = json.loads(body)
        assert status == 503 and health["status"] == "unhealthy" and health["services"] == {"scrape": "error"}
        assert health["error"] == "scrape: 1 scrapes are already running"
        assert fetch(base + "/livez")[0] == 200, "busy is not dead"
        release.set()
        scrape.join(timeout=20)
        assert fetch(base + "/readyz")[::2] == (200, b"ok\n")
        assert json.loads(fetch(base + "/health")[2])["status"] == "healthy"
    finally:
        release.set()
        server.stop()
