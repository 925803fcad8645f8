"""The ASGI and WSGI middlewares on real FastAPI, Starlette and Flask apps: in-process test clients,
then real uvicorn and gunicorn servers on loopback. Counts must be exact per method, endpoint
(the route template) and status; durations recorded; in-progress back to 0; streaming and
exceptions counted right; the request id passed through or made."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import obsagent
from conftest import FASTAPI_SERVED_APP, free_port, wait_for

fastapi = pytest.importorskip("fastapi")
flask = pytest.importorskip("flask")
from fastapi.testclient import TestClient  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import PlainTextResponse, StreamingResponse  # noqa: E402
from starlette.routing import Mount, Route  # noqa: E402

from obsagent.asgi import MetricsMiddleware as AsgiMetrics  # noqa: E402
from obsagent.wsgi import MetricsMiddleware as WsgiMetrics  # noqa: E402


def value(registry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def requests(registry, method: str, endpoint: str, status: str) -> float:
    return value(registry, "http_requests_total", method=method, endpoint=endpoint, status=status)


def fastapi_app(registry):
    app = fastapi.FastAPI()
    app.add_middleware(AsgiMetrics, registry=registry)

    @app.get("/items/{item_id}")
    def item(item_id: int):
        return {"id": item_id}

    @app.post("/items")
    def create():
        return {"ok": True}

    @app.get("/boom")
    def boom():
        raise RuntimeError("broken on purpose")

    @app.get("/stream")
    def stream():
        async def chunks():
            for chunk in (b"a" * 100, b"b" * 200, b"c" * 300):
                await asyncio.sleep(0.05)
                yield chunk

        return StreamingResponse(chunks())

    @app.get("/metrics")
    def metrics():
        return PlainTextResponse(obsagent.generate_latest(registry))

    sub = fastapi.FastAPI()

    @sub.get("/users/{name}")
    def user(name: str):
        return {"name": name}

    app.mount("/v2", sub)
    return app


def test_fastapi_counts_templates_statuses_and_sizes(registry):
    client = TestClient(fastapi_app(registry), raise_server_exceptions=False)
    for item_id in range(5):
        assert client.get(f"/items/{item_id}").status_code == 200
    assert client.post("/items", content=b"x" * 1234).status_code == 200
    assert client.get("/nope").status_code == 404
    assert client.get("/nope/again").status_code == 404
    assert client.delete("/items/1").status_code == 405
    assert client.get("/boom").status_code == 500
    assert client.get("/v2/users/ann").status_code == 200
    assert client.request("BREW", "/items/1").status_code == 405
    assert client.get("/metrics").status_code == 200
    assert requests(registry, "GET", "/items/{item_id}", "200") == 5
    assert requests(registry, "POST", "/items", "200") == 1
    assert requests(registry, "GET", "<unmatched>", "404") == 2, "unmatched paths share one label value"
    assert requests(registry, "DELETE", "/items/{item_id}", "405") == 1
    assert requests(registry, "GET", "/boom", "500") == 1
    assert requests(registry, "GET", "/v2/users/{name}", "200") == 1
    assert requests(registry, "OTHER", "/items/{item_id}", "405") == 1, "unknown methods can't mint label values"
    assert value(registry, "http_requests_total", method="GET", endpoint="/metrics", status="200") == 0
    assert value(registry, "http_request_duration_seconds_count", method="GET", endpoint="/items/{item_id}") == 5
    assert value(registry, "http_request_duration_seconds_sum", method="GET", endpoint="/items/{item_id}") > 0
    assert value(registry, "http_request_size_bytes_sum", method="POST", endpoint="/items") == 1234
    assert value(registry, "http_requests_in_progress", method="GET", endpoint="/items/{item_id}") == 0
    assert value(registry, "http_requests_in_progress", method="GET", endpoint="/boom") == 0


def test_streaming_is_timed_and_sized_whole(registry):
    client = TestClient(fastapi_app(registry))
    assert client.get("/stream").content == b"a" * 100 + b"b" * 200 + b"c" * 300
    assert value(registry, "http_response_size_bytes_sum", method="GET", endpoint="/stream") == 600
    assert value(registry, "http_request_duration_seconds_sum", method="GET", endpoint="/stream") >= 0.15


def test_request_id_passed_through_or_made(registry):
    client = TestClient(fastapi_app(registry))
    assert client.get("/items/1", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    made = {client.get("/items/1").headers["x-request-id"] for _ in range(3)}
    assert len(made) == 3 and all(uuid.UUID(rid).version == 4 and len(rid) == 36 for rid in made)
    bad = client.get("/items/1", headers={"X-Request-ID": "x" * 500}).headers["x-request-id"]
    assert uuid.UUID(bad).version == 4, "an oversized id is replaced"


def test_in_progress_while_a_request_runs(registry):
    seen = []

    async def slow(request):
        seen.append(value(registry, "http_requests_in_progress", method="GET", endpoint="/slow/{n}"))
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/slow/{n}", slow), Mount("/api", routes=[Route("/things/{id:int}", slow)])])
    client = TestClient(AsgiMetrics(app, registry=registry))
    assert client.get("/slow/1").text == "ok"
    assert client.get("/api/things/7").text == "ok"
    assert seen == [1.0, 0.0]
    assert requests(registry, "GET", "/api/things/{id:int}", "200") == 1
    assert value(registry, "http_requests_in_progress", method="GET", endpoint="/slow/{n}") == 0


def flask_app(registry):
    app = flask.Flask("obsagent_test")

    @app.route("/items/<int:item_id>")
    def item(item_id):
        return {"id": item_id}

    @app.route("/items", methods=["POST"])
    def create():
        return {"ok": True}

    @app.route("/boom")
    def boom():
        raise RuntimeError("broken on purpose")

    @app.route("/stream")
    def stream():
        def chunks():
            for chunk in (b"a" * 100, b"b" * 200):
                time.sleep(0.05)
                yield chunk

        return flask.Response(chunks())

    app.wsgi_app = WsgiMetrics(app.wsgi_app, registry=registry)
    return app


def test_flask_counts_templates_statuses_streaming_and_exceptions(registry):
    client = flask_app(registry).test_client()

    def status(response) -> int:
        response.get_data()  # a WSGI request ends when its body has been sent
        return response.status_code

    for item_id in range(3):
        assert status(client.get(f"/items/{item_id}")) == 200
    assert status(client.post("/items", data=b"y" * 99)) == 200
    assert status(client.get("/nope")) == 404
    assert status(client.delete("/items/1")) == 405
    assert status(client.get("/boom")) == 500
    response = client.get("/stream", headers={"X-Request-ID": "req-1"})
    assert response.data == b"a" * 100 + b"b" * 200 and response.headers["X-Request-ID"] == "req-1"
    assert requests(registry, "GET", "/items/<int:item_id>", "200") == 3
    assert requests(registry, "POST", "/items", "200") == 1
    assert requests(registry, "GET", "<unmatched>", "404") == 1
    assert requests(registry, "DELETE", "/items/<int:item_id>", "405") == 1, "a 405 has its route, as in ASGI"
    assert requests(registry, "GET", "/boom", "500") == 1
    assert value(registry, "http_request_size_bytes_sum", method="POST", endpoint="/items") == 99
    assert value(registry, "http_response_size_bytes_sum", method="GET", endpoint="/stream") == 300
    assert 0.1 <= value(registry, "http_request_duration_seconds_sum", method="GET", endpoint="/stream") < 5
    assert (
        value(registry, "http_request_duration_seconds_bucket", method="GET", endpoint="/items/<int:item_id>", le="1.0")
        == 3
    )
    assert value(registry, "http_requests_in_progress", method="GET", endpoint="/stream") == 0


def test_an_exception_escaping_a_wsgi_app_is_a_500(registry):
    def broken(environ, start_response):
        raise ValueError("no")

    app = WsgiMetrics(broken, registry=registry, endpoint=lambda environ: "/always")
    with pytest.raises(ValueError):
        app({"REQUEST_METHOD": "GET", "PATH_INFO": "/x"}, lambda *a: None)
    assert requests(registry, "GET", "/always", "500") == 1
    assert value(registry, "http_requests_in_progress", method="GET", endpoint="/always") == 0


FLASK_SERVED_APP = """
import obsagent
from obsagent.wsgi import MetricsMiddleware, make_wsgi_app
from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

app = Flask(__name__)

@app.route("/orders/<int:order_id>")
def order(order_id):
    if order_id % 4 == 0:
        raise RuntimeError("every fourth order fails")
    return {"id": order_id}

app.wsgi_app = DispatcherMiddleware(MetricsMiddleware(app.wsgi_app), {"/metrics": make_wsgi_app()})
"""


def fetch(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.parametrize(
    "server, source",
    [
        (lambda port: ["-m", "uvicorn", "--port", str(port), "--host", "127.0.0.1", "served:app"], FASTAPI_SERVED_APP),
        (lambda port: ["-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "served:app"], FLASK_SERVED_APP),
    ],
    ids=["uvicorn-fastapi", "gunicorn-flask"],
)
def test_real_servers_count_exactly(tmp_path: Path, server, source):
    (tmp_path / "served.py").write_text(textwrap.dedent(source))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *server(port)], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: fetch(base + "/metrics/") == 200, timeout=30)
        statuses = [fetch(f"{base}/orders/{n}") for n in range(1, 41)]
        assert statuses.count(500) == 10 and statuses.count(200) == 30
        with urllib.request.urlopen(base + "/metrics/", timeout=10) as response:
            families = list(text_string_to_metric_families(response.read().decode()))
    finally:
        process.terminate()
        process.wait(timeout=20)
    totals = {}
    for family in families:
        for sample in family.samples:
            if sample.name == "http_requests_total":
                totals[(sample.labels["endpoint"], sample.labels["status"])] = sample.value
    template = "/orders/{order_id}" if "fastapi" in source.lower() else "/orders/<int:order_id>"
    assert totals == {(template, "200"): 30.0, (template, "500"): 10.0}


def readme_example(heading: str) -> str:
    """The first Python block under `## <heading>` in the README."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split(f"\n## {heading}\n", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize(
    "heading, client, template",
    [
        (
            "FastAPI, Starlette and other ASGI apps",
            "from fastapi.testclient import TestClient\nclient = TestClient(app)\n"
            "client.get('/items/3')\nprint(client.get('/metrics/').text)\n",
            "/items/{item_id}",
        ),
        (
            "Flask and other WSGI apps",
            "client = app.test_client()\nclient.get('/items/3').get_data()\n"
            "print(client.get('/metrics').get_data(as_text=True))\n",
            "/items/<int:item_id>",
        ),
    ],
    ids=["fastapi", "flask"],
)
def test_readme_examples_run_as_written(heading, client, template):
    script = readme_example(heading) + "\n" + client
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f'http_requests_total{{method="GET",endpoint="{template}",status="200"}} 1.0\n' in result.stdout
