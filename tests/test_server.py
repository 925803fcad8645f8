"""The native HTTP server and the WSGI/ASGI apps: routes, negotiation, gzip, failures."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from io import BytesIO
from wsgiref.util import setup_testing_defaults

import pytest

import obsagent
from conftest import free_port
from obsagent.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS

TEXT = "text/plain; version=0.0.4; charset=utf-8"


def fetch(url: str, method: str = "GET", **headers: str):
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


@pytest.fixture
def served(registry):
    counter = obsagent.Counter("served_requests", "Requests.", ["code"], registry=registry)
    counter.labels("200").inc(5)
    server = obsagent.start_http_server(0, addr="127.0.0.1", registry=registry)
    yield f"http://127.0.0.1:{server.port}", registry
    server.stop()


def test_metrics_in_text_by_default(served):
    base, registry = served
    status, headers, body = fetch(base + "/metrics")
    assert status == 200
    assert headers["Content-Type"] == TEXT
    assert body == obsagent.generate_latest(registry)
    assert b'served_requests_total{code="200"} 5.0\n' in body


def test_openmetrics_when_prometheus_asks_for_it(served):
    base, _ = served
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    status, headers, body = fetch(base + "/metrics", Accept=accept)
    assert (status, headers["Content-Type"]) == (
        200,
        OPENMETRICS + "; escaping=underscores",
    )  # as prometheus_client 0.26
    assert body.endswith(b"# EOF\n")


def test_gzip_when_accepted(served):
    base, registry = served
    status, headers, body = fetch(base + "/metrics", **{"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == obsagent.generate_latest(registry)


@pytest.mark.parametrize("slow_code", ["collector", "set_function"])
def test_health_answers_while_python_code_of_a_scrape_is_slow(served, slow_code):
    """Python code run by a scrape may take any time: the scrape waits for it, /health doesn't."""
    base, registry = served

    def slow() -> float:
        time.sleep(1.5)
        return 1.0

    if slow_code == "collector":

        class Slow:
            def collect(self):
                yield obsagent.metrics_core.GaugeMetricFamily("slow_value", "Slow.", value=slow())

        registry.register(Slow())
    else:
        obsagent.Gauge("slow_value", "Slow.", registry=registry).set_function(slow)
    scrape = threading.Thread(target=fetch, args=(base + "/metrics",))
    scrape.start()
    time.sleep(0.2)  # the scrape is now inside slow()
    started = time.monotonic()
    status, _, _ = fetch(base + "/health")
    waited = time.monotonic() - started
    scrape.join()
    assert status == 200 and waited < 0.5, f"/health waited {waited:.2f} s for the scrape"


def test_head_get_only_and_unknown_paths(served):
    base, _ = served
    status, headers, body = fetch(base + "/metrics", method="HEAD")
    assert (status, body) == (200, b"")
    status, headers, _ = fetch(base + "/metrics", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert fetch(base + "/nope")[0] == 404


def test_landing_health_and_probes(served):
    base, _ = served
    status, headers, body = fetch(base + "/")
    assert status == 200 and b'href="/metrics"' in body and b'href="/health"' in body
    status, headers, body = fetch(base + "/health")
    health = json.loads(body)
    assert headers["Content-Type"] == "application/json"
    assert health["status"] == "healthy" and health["version"] == obsagent.__version__
    assert 0 <= health["uptime_seconds"] < 60
    assert fetch(base + "/-/healthy")[:1] == (200,)
    assert fetch(base + "/-/ready")[:1] == (200,)


def test_a_failing_collector_is_a_500_and_the_server_lives_on(served):
    base, registry = served

    class Broken:
        def collect(self):
            raise RuntimeError("disk on fire")

    broken = Broken()
    registry.register(broken)
    status, _, body = fetch(base + "/metrics")
    assert status == 500 and b"disk on fire" in body
    registry.unregister(broken)
    status, _, body = fetch(base + "/metrics")
    assert status == 200 and b"served_requests_total" in body


def test_python_collectors_and_function_gauges_are_read_from_the_server_thread(served):
    base, registry = served
    obsagent.Gauge("answer", "The answer.", registry=registry).set_function(lambda: 42)
    registry.register(type("C", (), {"collect": lambda self: [obsagent.GaugeMetricFamily("custom", "C.", 7)]})())
    _, _, body = fetch(base + "/metrics")
    assert b"answer 42.0\n" in body and b"custom 7.0\n" in body


def test_stop_closes_the_port_and_a_taken_port_is_an_error(registry):
    server = obsagent.start_http_server(0, addr="127.0.0.1", registry=registry)
    with pytest.raises(OSError, match="(?i)address.*in use"):
        obsagent.start_http_server(server.port, addr="127.0.0.1", registry=registry)
    url = f"http://127.0.0.1:{server.port}/metrics"
    assert fetch(url)[0] == 200
    server.stop()
    server.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)


def test_unresolvable_address_is_a_value_error(registry):
    with pytest.raises(ValueError, match="cannot resolve listen address"):
        obsagent.start_http_server(0, addr="no-such-host.invalid", registry=registry)


def call_wsgi(app, **environ):
    setup_testing_defaults(environ)
    environ.setdefault("wsgi.input", BytesIO())
    captured = {}

    def start_response(status, headers):
        captured["status"], captured["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], body


def test_wsgi_app_negotiates_like_the_server(registry):
    obsagent.Counter("wsgi_hits", "Hits.", registry=registry).inc()
    app = obsagent.make_wsgi_app(registry)
    status, headers, body = call_wsgi(app)
    assert status == "200 OK" and headers["Content-Type"] == TEXT and b"wsgi_hits_total 1.0\n" in body
    status, headers, body = call_wsgi(app, HTTP_ACCEPT="application/openmetrics-text", HTTP_ACCEPT_ENCODING="gzip")
    assert headers["Content-Type"] == OPENMETRICS and gzip.decompress(body).endswith(b"# EOF\n")
    assert call_wsgi(app, REQUEST_METHOD="POST")[0].startswith("405")


def test_asgi_app(registry):
    obsagent.Counter("asgi_hits", "Hits.", registry=registry).inc(2)
    app = obsagent.make_asgi_app(registry)
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": [(b"accept", b"text/plain")]}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200
    assert (b"Content-Type", TEXT.encode()) in sent[0]["headers"]  # prometheus_client's header, as it writes it
    assert b"asgi_hits_total 2.0\n" in sent[1]["body"]


def test_scrapes_past_max_requests_get_503(registry):
    class Slow:
        def collect(self):
            time.sleep(0.6)
            yield obsagent.metrics_core.GaugeMetricFamily("slow_value", "Slow.", value=1)

    registry.register(Slow())
    server = obsagent.start_http_server(0, addr="127.0.0.1", registry=registry, max_requests=1)
    base = f"http://127.0.0.1:{server.port}"
    try:
        results: list[tuple[int, float]] = []

        def scrape() -> None:
            started = time.monotonic()
            status, _, _ = fetch(base + "/metrics")
            results.append((status, time.monotonic() - started))

        threads = [threading.Thread(target=scrape) for _ in range(3)]
        for thread in threads:
            thread.start()
            time.sleep(0.05)
        for thread in threads:
            thread.join()
        assert sorted(status for status, _ in results) == [200, 503, 503]
        assert all(took < 0.3 for status, took in results if status == 503), results
        assert fetch(base + "/metrics")[0] == 200, "a permit is given back after each scrape"
    finally:
        server.stop()


def test_slowloris_connections_neither_delay_a_scrape_nor_stay_open(registry):
    """200 connections sending their headers a byte at a time: a real scrape still answers at
    once, and the server closes them when the header timeout passes."""
    server = obsagent.start_http_server(0, addr="127.0.0.1", registry=registry, header_read_timeout=2.0)
    request = b"GET /metrics HTTP/1.1\r\nHost: slow\r\nUser-Agent: dribble\r\n"
    sockets = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.settimeout(0.05)
            sockets.append(sock)
        started = time.monotonic()
        for offset in range(10):  # half a second of dribbling, not one request complete
            for sock in sockets:
                sock.sendall(request[offset : offset + 1])
            time.sleep(0.05)
        scrape_started = time.monotonic()
        assert fetch(f"http://127.0.0.1:{server.port}/metrics")[0] == 200
        assert time.monotonic() - scrape_started < 1.0
        time.sleep(max(0.0, 2.8 - (time.monotonic() - started)))

        def closed(sock: socket.socket) -> bool:
            try:
                while sock.recv(4096):  # hyper may answer 408 before closing
                    pass
                return True
            except (TimeoutError, BlockingIOError):
                return False
            except OSError:
                return True

        assert sum(closed(sock) for sock in sockets) == 200
    finally:
        for sock in sockets:
            sock.close()
        server.stop()


def test_oversized_request_headers_are_refused(served):
    base, _ = served
    status, _, _ = fetch(base + "/metrics", **{"X-Padding": "x" * 20_000})
    assert status == 431
    assert fetch(base + "/metrics")[0] == 200


def test_a_server_whose_handle_is_dropped_keeps_serving():
    """prometheus_client's `start_http_server(8000)` serves on though its result is dropped."""
    port = free_port()
    script = (
        "import gc, signal, obsagent\n"
        f"obsagent.start_http_server({port}, addr='127.0.0.1')\n"
        "gc.collect()\n"
        "print('ready', flush=True)\n"
        "signal.sigwait([signal.SIGTERM])\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "ready\n"
        assert fetch(f"http://127.0.0.1:{port}/health")[0] == 200
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_an_idle_kept_alive_connection_is_closed_after_the_header_timeout(registry):
    server = obsagent.start_http_server(0, addr="127.0.0.1", registry=registry, header_read_timeout=0.5)
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(2)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            assert sock.recv(4096) == b"", "the server closes the idle connection"
            assert time.monotonic() - started < 1.5
    finally:
        server.stop()
