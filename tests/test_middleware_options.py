"""The middlewares' options on real FastAPI and Flask apps (label names, status groups, extra
labels, exclusions, the exception counter), the instrumentator preset beside the real
prometheus-fastapi-instrumentator on the same requests, and the request context: one
X-Request-ID, seen by the app, on every log line, in tasks, threads, background tasks and Flask."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import uuid

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

import obsagent
from obsagent.context import RequestIdFilter, add_request_id, get_request_id, install_log_filter

fastapi = pytest.importorskip("fastapi")
flask = pytest.importorskip("flask")
from fastapi.testclient import TestClient  # noqa: E402
from starlette.background import BackgroundTask  # noqa: E402
from starlette.middleware.base import BaseHTTPMiddleware  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402

from obsagent._http_metrics import ExtraLabel  # noqa: E402
from obsagent.asgi import MetricsMiddleware as AsgiMetrics  # noqa: E402
from obsagent.asgi import make_asgi_app  # noqa: E402
from obsagent.health import HealthChecks  # noqa: E402
from obsagent.wsgi import MetricsMiddleware as WsgiMetrics  # noqa: E402


def families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def counts(registry, name: str = "http_requests_total") -> dict[tuple, float]:
    out = {}
    for family in families(obsagent.generate_latest(registry).decode()).values():
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def api(registry, **options):
    app = fastapi.FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int, request: fastapi.Request):
        request.state.plan = "gold" if item_id % 2 else "free"
        if item_id == 13:
            raise KeyError("unlucky")
        if item_id >= 500:
            return JSONResponse({}, status_code=item_id)
        return {"id": item_id}

    app.add_middleware(AsgiMetrics, registry=registry, **options)
    return app


def test_status_code_and_handler_labels_with_grouped_statuses(registry):
    client = TestClient(api(registry, status_label="status_code", endpoint_label="handler"))
    for n in (1, 2, 503, 502):
        client.get(f"/items/{n}")
    assert counts(registry) == {
        (("handler", "/items/{item_id}"), ("method", "GET"), ("status_code", "200")): 2,
        (("handler", "/items/{item_id}"), ("method", "GET"), ("status_code", "503")): 1,
        (("handler", "/items/{item_id}"), ("method", "GET"), ("status_code", "502")): 1,
    }
    grouped = obsagent.CollectorRegistry()
    client = TestClient(api(grouped, group_status=True))
    for n in (1, 503, 502):
        client.get(f"/items/{n}")
    assert counts(grouped) == {
        (("endpoint", "/items/{item_id}"), ("method", "GET"), ("status", "2xx")): 1,
        (("endpoint", "/items/{item_id}"), ("method", "GET"), ("status", "5xx")): 2,
    }
    with pytest.raises(ValueError, match="status_label"):
        AsgiMetrics(api(registry), registry=None, status_label="code")
    with pytest.raises(ValueError, match="own label names"):
        AsgiMetrics(api(registry), registry=None, preset="instrumentator", status_label="status_code")
    with pytest.raises(ValueError, match="preset"):
        AsgiMetrics(api(registry), registry=None, preset="starlette-exporter")


def test_extra_labels_from_header_state_and_callable_are_bounded(registry):
    extra = [
        ExtraLabel("tenant", header="X-Tenant", values={"acme", "globex"}),
        ExtraLabel("plan", state="plan"),
        ExtraLabel("client", source=lambda scope: scope["client"][0], max_values=1),
    ]
    client = TestClient(api(registry, extra_labels=extra))
    client.get("/items/1", headers={"X-Tenant": "acme"})
    client.get("/items/2", headers={"X-Tenant": "acme"})
    client.get("/items/3", headers={"X-Tenant": "evil-corp-1234"})
    client.get("/items/5")
    base = (("endpoint", "/items/{item_id}"), ("method", "GET"), ("status", "200"))
    client_ip = "testclient"
    assert counts(registry) == {
        (("client", client_ip), *base[:2], ("plan", "gold"), base[2], ("tenant", "acme")): 1,
        (("client", client_ip), *base[:2], ("plan", "free"), base[2], ("tenant", "acme")): 1,
        (("client", client_ip), *base[:2], ("plan", "gold"), base[2], ("tenant", "other")): 1,
        (("client", client_ip), *base[:2], ("plan", "gold"), base[2], ("tenant", "")): 1,
    }
    duration = counts(registry, "http_request_duration_seconds_count")
    assert sum(duration.values()) == 4 and all(dict(key)["client"] == client_ip for key in duration)
    label = ExtraLabel("x", header="X-Thing", max_values=2)
    assert [label.bounded(v) for v in ("a", "b", "c", "a", None)] == ["a", "b", "other", "a", ""]
    with pytest.raises(ValueError, match="exactly one"):
        ExtraLabel("x", header="a", state="b")
    with pytest.raises(ValueError, match="unique"):
        AsgiMetrics(api(registry), registry=None, extra_labels=[ExtraLabel("method", header="m")])


def test_exclusions_and_obsagent_apps_wherever_mounted(registry):
    checks = HealthChecks(registry)
    app = api(registry, excluded_prefixes=("/internal/",), excluded_pattern=r"^/items/9\d\d$")
    app.mount("/ops/metrics", make_asgi_app(registry))
    app.mount("/api/v1", checks.asgi_app())
    client = TestClient(app)
    for path in ("/items/1", "/items/901", "/internal/x", "/ops/metrics", "/api/v1/health", "/livez", "/metrics"):
        client.get(path)
    assert client.get("/api/v1/health").json()["status"] == "healthy"
    assert counts(registry) == {(("endpoint", "/items/{item_id}"), ("method", "GET"), ("status", "200")): 1}


def test_exception_counter(registry):
    client = TestClient(api(registry, count_exceptions=True), raise_server_exceptions=False)
    assert client.get("/items/13").status_code == 500
    client.get("/items/1")
    assert counts(registry, "http_exceptions_total") == {
        (("endpoint", "/items/{item_id}"), ("exception_type", "KeyError"), ("method", "GET")): 1
    }
    assert counts(registry)[(("endpoint", "/items/{item_id}"), ("method", "GET"), ("status", "500"))] == 1
    wsgi_registry = obsagent.CollectorRegistry()

    def broken(environ, start_response):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        WsgiMetrics(broken, wsgi_registry, endpoint=lambda e: "/x", count_exceptions=True)({"PATH_INFO": "/x"}, None)
    assert counts(wsgi_registry, "http_exceptions_total") == {
        (("endpoint", "/x"), ("exception_type", "ZeroDivisionError"), ("method", "GET")): 1
    }


def shape(text: str) -> dict:
    """Per family: type, help, label names of each sample name, and histogram bucket bounds."""
    out = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("http_"):
            continue
        out[family.name] = (
            family.type,
            family.documentation,
            sorted({(sample.name, tuple(sorted(sample.labels))) for sample in family.samples}),
            sorted({sample.labels["le"] for sample in family.samples if "le" in sample.labels}, key=float),
        )
    return out


def test_instrumentator_preset_matches_the_real_instrumentator(registry):
    from prometheus_fastapi_instrumentator import Instrumentator

    theirs = prometheus_client.CollectorRegistry()
    peer_app = api(None)
    peer_app.user_middleware.clear()
    Instrumentator(registry=theirs).instrument(peer_app)
    ours = TestClient(api(registry, preset="instrumentator"), raise_server_exceptions=False)
    peer = TestClient(peer_app, raise_server_exceptions=False)
    for client in (ours, peer):
        for path in ("/items/1", "/items/2", "/items/503", "/items/13", "/nope", "/items/x"):
            client.get(path)
        client.post("/items/1")
    ours_text = obsagent.generate_latest(registry).decode()
    theirs_text = prometheus_client.generate_latest(theirs).decode()
    assert shape(ours_text) == shape(theirs_text)

    def totals(text):
        return {
            tuple(sorted(s.labels.items())): s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "http_requests_total"
        }

    assert totals(ours_text) == totals(theirs_text)
    assert totals(ours_text)[(("handler", "none"), ("method", "GET"), ("status", "4xx"))] == 1
    assert totals(ours_text)[(("handler", "/items/{item_id}"), ("method", "GET"), ("status", "5xx"))] == 2


# The request context.


class AppsOwnRequestId(BaseHTTPMiddleware):
    """What services write by hand: keep the caller's X-Request-ID or make one, echo it back."""

    async def dispatch(self, request, call_next):
        request_id = request.headers.get("X-Request-ID") or str(uuid.uuid4())
        response = await call_next(request)
        response.headers["X-Request-ID"] = request_id
        return response


def test_one_request_id_seen_by_app_logs_tasks_threads_and_background(registry, caplog):
    seen = {}
    log = logging.getLogger("test_request_context")
    app = fastapi.FastAPI()
    app.add_middleware(AppsOwnRequestId)
    app.add_middleware(AsgiMetrics, registry=registry)

    @app.get("/work")
    async def work(request: fastapi.Request):
        seen["header"] = request.headers["x-request-id"]
        seen["state"] = request.state.request_id
        log.info("working")

        async def in_task():
            return get_request_id()

        seen["task"] = await asyncio.create_task(in_task())
        context = contextvars.copy_context()
        thread = threading.Thread(target=lambda: seen.__setitem__("thread", context.run(get_request_id)))
        thread.start()
        thread.join()
        return JSONResponse({}, background=BackgroundTask(lambda: seen.__setitem__("background", get_request_id())))

    @app.get("/sync")
    def sync_view():
        seen["sync"] = get_request_id()
        return {}

    client = TestClient(app)
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO, logger="test_request_context"):
        response = client.get("/work")
    headers = response.headers.get_list("x-request-id")
    assert len(headers) == 1, f"exactly one X-Request-ID, not {headers}"
    rid = headers[0]
    assert uuid.UUID(rid).version == 4
    assert seen == {"header": rid, "state": rid, "task": rid, "thread": rid, "background": rid}
    assert [record.request_id for record in caplog.records if record.name == "test_request_context"] == [rid]
    response = client.get("/sync", headers={"X-Request-ID": "caller-7"})
    assert response.headers.get_list("x-request-id") == ["caller-7"] and seen["sync"] == "caller-7"
    assert get_request_id() is None, "nothing left current after the request"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "outside", (), None)
    RequestIdFilter().filter(record)
    assert record.request_id == "-"


def test_custom_header_name_and_structlog(registry):
    structlog = pytest.importorskip("structlog")
    events = []
    structlog.configure(processors=[add_request_id, lambda logger, name, event: events.append(event) or ""])
    app = fastapi.FastAPI()
    app.add_middleware(AsgiMetrics, registry=registry, request_id_header="X-Correlation-ID")

    @app.get("/")
    def index():
        structlog.get_logger().info("hello")
        return {}

    try:
        response = TestClient(app).get("/", headers={"X-Correlation-ID": "corr-1"})
    finally:
        structlog.reset_defaults()
    assert response.headers["x-correlation-id"] == "corr-1" and "x-request-id" not in response.headers
    assert events == [{"event": "hello", "request_id": "corr-1"}]


def test_flask_request_id_in_views_logs_and_threads(registry, caplog):
    app = flask.Flask("request_context")
    log = logging.getLogger("flask_request_context")
    seen = {}

    @app.route("/work")
    def work():
        seen["header"] = flask.request.headers["X-Request-ID"]
        log.info("working")
        context = contextvars.copy_context()
        thread = threading.Thread(target=lambda: seen.__setitem__("thread", context.run(get_request_id)))
        thread.start()
        thread.join()
        response = flask.make_response({})
        response.headers["X-Request-ID"] = flask.request.headers["X-Request-ID"]  # the app's own echo
        return response

    app.wsgi_app = WsgiMetrics(app.wsgi_app, registry=registry)
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO, logger="flask_request_context"):
        response = app.test_client().get("/work")
        response.get_data()
    rids = response.headers.getlist("X-Request-ID")
    assert len(rids) == 1 and uuid.UUID(rids[0]).version == 4
    assert seen == {"header": rids[0], "thread": rids[0]}
    assert [r.request_id for r in caplog.records if r.name == "flask_request_context"] == rids
    assert get_request_id() is None


def test_install_log_filter_adds_one_filter_per_handler():
    logger = logging.getLogger("install_filter_test")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    try:
        install_log_filter(logger)
        install_log_filter(logger)
        assert sum(isinstance(f, RequestIdFilter) for f in handler.filters) == 1
    finally:
        logger.removeHandler(handler)


def test_new_request_ids_are_unique_uuid4s_and_differ_in_a_forked_worker():
    import os

    from obsagent.context import new_request_id

    ids = [new_request_id() for _ in range(3000)]  # several batches
    assert len(set(ids)) == len(ids)
    assert all(str(uuid.UUID(rid)) == rid and uuid.UUID(rid).version == 4 for rid in ids)
    assert {uuid.UUID(rid).variant for rid in ids} == {uuid.RFC_4122}
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child hands out its first ID
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    os.close(write)
    assert uuid.UUID(child).version == 4 and child != new_request_id(), "a worker doesn't repeat its parent's IDs"
