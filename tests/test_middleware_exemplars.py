"""Exemplars from the current OpenTelemetry trace on the middleware's request counter and
duration histogram: with tracing outside obsagent's middleware and inside it, on ASGI and WSGI;
a no-op (and nothing asked per request) unless asked for with ``exemplars=True``."""

from __future__ import annotations

import pytest

import obsagent
from obsagent._http_metrics import HttpMetrics, _exemplars_supported

fastapi = pytest.importorskip("fastapi")
trace = pytest.importorskip("opentelemetry.trace")
from fastapi.testclient import TestClient  # noqa: E402
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags  # noqa: E402

from obsagent.asgi import MetricsMiddleware as AsgiMetrics  # noqa: E402
from obsagent.wsgi import MetricsMiddleware as WsgiMetrics  # noqa: E402

TRACE_ID, SPAN_ID = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331
SPAN = NonRecordingSpan(SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)))
EXEMPLAR = f'trace_id="{TRACE_ID:032x}"'

needs_exemplars = pytest.mark.skipif(
    not _exemplars_supported(), reason="this build's Counter.inc() has no exemplar parameter yet (exemplars issue)"
)


class Traced:
    """Stands for OpenTelemetry's ASGI instrumentation: the request runs in a span."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        with trace.use_span(SPAN):
            await self.app(scope, receive, send)


def app():
    application = fastapi.FastAPI()

    @application.get("/items/{item_id}")
    def item(item_id: int):
        return {"id": item_id}

    return application


def openmetrics(registry) -> str:
    encoder, _ = obsagent.choose_encoder("application/openmetrics-text; version=1.0.0")
    return encoder(registry).decode()


def test_without_exemplar_support_nothing_is_asked_per_request(registry):
    if _exemplars_supported():
        pytest.skip("exemplars are supported: test_exemplars_* cover it")
    metrics = HttpMetrics(None)
    assert metrics.exemplar is None, "no span lookup on the request path"
    with pytest.raises(ValueError, match="exemplars=True"):
        HttpMetrics(None, exemplars=True)
    client = TestClient(Traced(AsgiMetrics(app(), registry=registry)))
    assert client.get("/items/1").status_code == 200
    labels = {"method": "GET", "endpoint": "/items/{item_id}", "status": "200"}
    assert registry.get_sample_value("http_requests_total", labels) == 1


@needs_exemplars
@pytest.mark.parametrize("outside", [True, False], ids=["tracing-outside", "tracing-inside"])
def test_exemplars_on_counter_and_histogram_asgi(registry, outside):
    inner = app()
    if outside:
        served = Traced(AsgiMetrics(inner, registry=registry, exemplars=True))
    else:
        served = AsgiMetrics(Traced(inner), registry=registry, exemplars=True)
    TestClient(served).get("/items/1")
    text = openmetrics(registry)
    counter = [line for line in text.splitlines() if line.startswith("http_requests_total{")]
    buckets = [line for line in text.splitlines() if line.startswith("http_request_duration_seconds_bucket{")]
    assert len(counter) == 1 and EXEMPLAR in counter[0] and f'span_id="{SPAN_ID:016x}"' in counter[0]
    assert sum(EXEMPLAR in line for line in buckets) == 1, "one bucket holds the observation's exemplar"


@needs_exemplars
def test_no_span_no_exemplar_and_preset_and_wsgi(registry):
    TestClient(AsgiMetrics(app(), registry=registry, exemplars=True)).get("/items/1")
    assert "trace_id" not in openmetrics(registry)
    preset = obsagent.CollectorRegistry()
    TestClient(Traced(AsgiMetrics(app(), registry=preset, preset="instrumentator", exemplars=True))).get("/items/1")
    assert any(line.startswith("http_request_duration_highr_seconds_bucket") and EXEMPLAR in line
               for line in openmetrics(preset).splitlines())  # fmt: skip
    flask = pytest.importorskip("flask")
    wsgi_registry = obsagent.CollectorRegistry()
    flask_app = flask.Flask("exemplars")

    @flask_app.route("/x")
    def x():
        return "ok"

    flask_app.wsgi_app = WsgiMetrics(flask_app.wsgi_app, registry=wsgi_registry, exemplars=True)
    with trace.use_span(SPAN):
        flask_app.test_client().get("/x").get_data()
    assert EXEMPLAR in openmetrics(wsgi_registry)


@pytest.mark.parametrize("outside", [True, False], ids=["tracing-outside", "tracing-inside"])
def test_the_middleware_hands_the_current_span_to_the_metrics(registry, monkeypatch, outside):
    """Whatever this build's exemplar support: the trace and span IDs the middleware finds, with
    tracing outside or inside it (recorded where it hands them to the metric children)."""
    from obsagent import _http_metrics

    handed = []
    monkeypatch.setattr(_http_metrics, "_exemplars_supported", lambda: True)
    monkeypatch.setattr(
        _http_metrics.Endpoint, "finished_with", lambda self, extras, status, *rest: handed.append((status, rest[-1]))
    )
    inner = app()
    metrics = AsgiMetrics(inner if outside else Traced(inner), registry=registry, exemplars=True)
    TestClient(Traced(metrics) if outside else metrics).get("/items/1")
    TestClient(AsgiMetrics(app(), registry=None, exemplars=True)).get("/items/2")  # no span: no exemplar
    assert handed == [(200, {"trace_id": f"{TRACE_ID:032x}", "span_id": f"{SPAN_ID:016x}"}), (200, None)]


def test_by_default_no_span_is_looked_up(registry):
    """Exemplars are asked for: without ``exemplars=True`` a traced request carries none."""
    assert HttpMetrics(None).exemplar is None
    TestClient(Traced(AsgiMetrics(app(), registry=registry))).get("/items/1")
    assert "trace_id" not in openmetrics(registry)
    assert (
        registry.get_sample_value(
            "http_requests_total", {"method": "GET", "endpoint": "/items/{item_id}", "status": "200"}
        )
        == 1
    )
