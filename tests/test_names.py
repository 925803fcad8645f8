"""UTF-8 metric and label names, the four escapings and the `Accept` negotiation, judged by
prometheus_client 0.26 itself (the same instrumentation on both, output compared byte for byte),
by a protobuf decoder, and by Prometheus 2.42 scraping with native histograms on (protobuf)."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import threading
import urllib.request
from pathlib import Path

import prometheus_client
import prometheus_client.core
import prometheus_client.openmetrics.exposition as peer_openmetrics
import prometheus_client.validation
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

import obsagent
import obsagent.core
from conftest import query, running_prometheus, wait_for
from obsagent.openmetrics import exposition as openmetrics

ESCAPINGS = ["allow-utf-8", "underscores", "dots", "values"]
#: What Prometheus 2.42 sends with --enable-feature=native-histograms (scrape/scrape.go).
PROMETHEUS_PROTOBUF_ACCEPT = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,"
    "application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROTOBUF = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"


class Jobs:
    """A custom collector with UTF-8 names, the same class for both libraries."""

    def __init__(self, lib):
        self.lib = lib

    def collect(self):
        runs = self.lib.core.CounterMetricFamily("job.runs", "Runs.", labels=["a.b", "code"])
        runs.add_metric(["x", "200"], 2)
        yield runs
        yield self.lib.core.GaugeMetricFamily("queue depth", 'Help with "quotes" \\ and\nnewline.', value=4)


def instrument(lib, registry):
    """The same metrics on `lib` (prometheus_client or obsagent), label names declared sorted
    (prometheus_client sorts them, obsagent keeps the declared order)."""
    lib.Counter("my.requests", "Requests.", ["code", "route.name"], registry=registry).labels("200", "/a").inc(3)
    lib.Gauge("temp.°C", "Temperature.", registry=registry).set(21.5)
    lib.Gauge("classic_gauge", "Classic.", ["a", "b_c"], registry=registry).labels("v", 'q"uote').set(2)
    lib.Histogram("lat.seconds", "Latency.", buckets=[0.1, 1], registry=registry).observe(0.5)
    lib.Summary("size_bytes", "Sizes.", registry=registry).observe(7)
    lib.Info("build", "Build.", registry=registry).info({"version": "1.2"})
    registry.register(Jobs(lib))


@pytest.fixture
def pair():
    """(obsagent's registry, prometheus_client's), instrumented alike, `_created` off in both."""
    obsagent.disable_created_metrics()
    prometheus_client.disable_created_metrics()
    ours, theirs = obsagent.CollectorRegistry(), prometheus_client.CollectorRegistry()
    instrument(obsagent, ours)
    instrument(prometheus_client, theirs)
    yield ours, theirs
    prometheus_client.enable_created_metrics()


@pytest.mark.parametrize("escaping", ESCAPINGS)
def test_text_is_byte_identical_to_prometheus_client(pair, escaping):
    ours, theirs = pair
    expected = prometheus_client.generate_latest(theirs, escaping)
    assert obsagent.generate_latest(ours, escaping) == expected
    if escaping == "allow-utf-8":
        assert b'{"my.requests_total",code="200","route.name"="/a"} 3.0\n' in expected
        assert b'# HELP "temp.\xc2\xb0C" Temperature.\n' in expected


@pytest.mark.parametrize("escaping", ["allow-utf-8", "underscores", "dots"])
def test_openmetrics_is_byte_identical_to_prometheus_client(pair, escaping):
    ours, theirs = pair
    expected = peer_openmetrics.generate_latest(theirs, escaping)
    assert openmetrics.generate_latest(ours, escaping) == expected


def test_openmetrics_values_escaping_names_samples_as_their_metadata(pair):
    # The one place obsagent differs on purpose (README): prometheus_client prefixes every
    # OpenMetrics sample name with U__ under `values`, classic ones too, while # HELP keeps them.
    ours, theirs = pair
    expected = peer_openmetrics.generate_latest(theirs, "values")
    assert b"# HELP classic_gauge Classic.\n" in expected and b"\nU__classic__gauge{" in expected
    body = openmetrics.generate_latest(ours, "values")
    assert b'\nclassic_gauge{a="v",b_c="q\\"uote"} 2.0\n' in body
    assert b"\nU__my_2e_requests__total{" in body and b"# HELP U__my_2e_requests Requests.\n" in body
    # Everything else is the same line for line once those sample names are set aside.
    assert len(body.splitlines()) == len(expected.splitlines())


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "text/plain; version=0.0.4; charset=utf-8",
        "text/plain; version=1.0.0; charset=utf-8",
        "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
        "text/plain; version=1.0.0; escaping=dots",
        "text/plain; charset=utf-8; escaping=allow-utf-8",
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        "application/openmetrics-text; version=1.0.0; escaping=allow-utf-8",
        "application/openmetrics-text; version=2.0.0; escaping=values",
        "application/openmetrics-text; charset=utf-8; escaping=allow-utf-8",
        "application/openmetrics-text; version=1.0.0; escaping=bogus",
        "application/openmetrics-text; version=0.0.1",
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
        "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        "application/json",
    ],
)
def test_choose_encoder_answers_as_prometheus_client(pair, accept):
    ours, theirs = pair
    encoder, content_type = obsagent.exposition.choose_encoder(accept)
    peer_encoder, peer_content_type = prometheus_client.exposition.choose_encoder(accept)
    assert content_type == peer_content_type
    body, expected = encoder(ours), peer_encoder(theirs)
    if "escaping=values" in content_type and "openmetrics" in content_type:
        assert len(body.splitlines()) == len(expected.splitlines())  # sample names: see above
    else:
        assert body == expected


def test_write_to_textfile_writes_quoted_names_by_default_as_prometheus_client(pair, tmp_path):
    ours, theirs = pair
    obsagent.write_to_textfile(str(tmp_path / "ours.prom"), ours)
    prometheus_client.write_to_textfile(str(tmp_path / "theirs.prom"), theirs)
    assert (tmp_path / "ours.prom").read_bytes() == (tmp_path / "theirs.prom").read_bytes()
    obsagent.write_to_textfile(str(tmp_path / "under.prom"), ours, escaping="underscores", tmpdir=str(tmp_path))
    assert (tmp_path / "under.prom").read_bytes() == prometheus_client.generate_latest(theirs)


def test_a_bad_escaping_is_a_value_error_that_writes_nothing(pair, tmp_path):
    ours, theirs = pair
    before = obsagent.generate_latest(ours)
    for call in (
        lambda: obsagent.generate_latest(ours, "bogus"),
        lambda: openmetrics.generate_latest(ours, "Dots"),
        lambda: openmetrics.escape_metric_name("a.b", "bogus"),
        lambda: obsagent.write_to_textfile(str(tmp_path / "x.prom"), ours, escaping="bogus"),
    ):
        with pytest.raises(ValueError, match='Unknown escaping scheme "(bogus|Dots)": expected one of'):
            call()
    assert os.listdir(tmp_path) == []
    assert obsagent.generate_latest(ours) == before
    # prometheus_client writes the name unescaped instead (what README says obsagent refuses).
    assert b"\nmy.requests_total{" in prometheus_client.generate_latest(theirs, "bogus")


def test_legacy_validation_refuses_utf8_names_as_prometheus_client(pair):
    ours, theirs = pair
    before = obsagent.generate_latest(ours)
    for lib in (obsagent, prometheus_client):
        assert lib.validation.get_legacy_validation() is False
        lib.validation.enable_legacy_validation()
        try:
            assert lib.validation.get_legacy_validation() is True
            registry = ours if lib is obsagent else theirs
            with pytest.raises(ValueError):
                lib.Counter("my.metric", "Help.", registry=registry)
            with pytest.raises(ValueError):
                lib.Counter("ok_metric", "Help.", ["a.b"], registry=registry)
            with pytest.raises(ValueError):
                lib.core.GaugeMetricFamily("my.gauge", "Help.", value=1)
            lib.Counter("a:b", "Classic names still pass.", registry=registry)
        finally:
            lib.validation.disable_legacy_validation()
    after = obsagent.generate_latest(ours)
    assert (
        after.startswith(before) and b"my_metric" not in after and b"ok_metric" not in after
    )  # nothing lost or half-added
    assert obsagent.validation._validate_metric_name("x.y") is None
    with pytest.raises(ValueError, match="metric name cannot be empty"):
        obsagent.validation._validate_metric_name("")


def test_the_environment_turns_legacy_validation_on_at_import(tmp_path):
    import subprocess
    import sys

    script = "import obsagent\ntry:\n    obsagent.Gauge('a.b', 'h')\nexcept ValueError as e:\n    print('refused', e)\n"
    env = {**os.environ, "PROMETHEUS_LEGACY_NAME_VALIDATION": "true"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith('refused Invalid metric name: "a.b"'), out.stderr


# --- protobuf ---------------------------------------------------------------------------------


def _metric_family_class():
    """io.prometheus.client.MetricFamily (the fields these tests read), built from a descriptor."""
    f = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="obsagent_tests_metrics.proto", package="io.prometheus.client")
    messages = {
        "LabelPair": [("name", 1, f.TYPE_STRING, None, False), ("value", 2, f.TYPE_STRING, None, False)],
        "Gauge": [("value", 1, f.TYPE_DOUBLE, None, False)],
        "Counter": [("value", 1, f.TYPE_DOUBLE, None, False)],
        "Metric": [
            ("label", 1, f.TYPE_MESSAGE, ".io.prometheus.client.LabelPair", True),
            ("gauge", 2, f.TYPE_MESSAGE, ".io.prometheus.client.Gauge", False),
            ("counter", 3, f.TYPE_MESSAGE, ".io.prometheus.client.Counter", False),
        ],
        "MetricFamily": [
            ("name", 1, f.TYPE_STRING, None, False),
            ("help", 2, f.TYPE_STRING, None, False),
            ("type", 3, f.TYPE_INT32, None, False),
            ("metric", 4, f.TYPE_MESSAGE, ".io.prometheus.client.Metric", True),
        ],
    }
    for name, fields in messages.items():
        message = proto.message_type.add(name=name)
        for field_name, number, kind, type_name, repeated in fields:
            field = message.field.add(name=field_name, number=number, type=kind)
            field.label = f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL
            if type_name:
                field.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("io.prometheus.client.MetricFamily"))


MetricFamily = _metric_family_class()


def decode_delimited(body: bytes) -> dict[str, dict[tuple, float]]:
    """Varint-delimited MetricFamily messages as {name: {label pairs: counter or gauge value}}."""
    families, position = {}, 0
    while position < len(body):
        length = shift = 0
        while True:
            byte = body[position]
            position += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        family = MetricFamily()
        family.ParseFromString(body[position : position + length])
        position += length
        families[family.name] = {
            tuple((p.name, p.value) for p in m.label): m.counter.value if family.type == 0 else m.gauge.value
            for m in family.metric
        }
    return families


def fetch(url: str, accept: str) -> tuple[str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Content-Type"], response.read()


def test_server_negotiates_escaping_and_protobuf(pair):
    ours, _ = pair
    server = obsagent.start_http_server(0, addr="127.0.0.1", registry=ours)
    try:
        base = f"http://127.0.0.1:{server.port}/metrics"
        content_type, body = fetch(base, "text/plain; version=1.0.0; escaping=allow-utf-8")
        assert content_type == "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
        assert body == obsagent.generate_latest(ours, "allow-utf-8")
        content_type, body = fetch(base, PROMETHEUS_PROTOBUF_ACCEPT)
        assert content_type == PROTOBUF
        families = decode_delimited(body)
        # Protobuf has no quoting: names outside the charset go as `underscores` writes them.
        assert families["my_requests_total"] == {(("code", "200"), ("route_name", "/a")): 3.0}
        assert families["classic_gauge"] == {(("a", "v"), ("b_c", 'q"uote')): 2.0}
        assert families["temp__C"] == {(): 21.5}
        assert families["job_runs_total"] == {(("a_b", "x"), ("code", "200")): 2.0}
    finally:
        server.stop()


def test_wsgi_app_serves_protobuf_as_the_server(pair):
    ours, _ = pair
    app = obsagent.make_wsgi_app(ours)
    answered = {}
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "HTTP_ACCEPT": PROMETHEUS_PROTOBUF_ACCEPT}
    body = b"".join(app(environ, lambda status, headers: answered.update(headers)))
    assert answered["Content-Type"] == PROTOBUF
    assert decode_delimited(body)["my_requests_total"] == {(("code", "200"), ("route_name", "/a")): 3.0}


def test_asgi_app_negotiates_escaping_and_protobuf(pair):
    ours, _ = pair
    app = obsagent.make_asgi_app(ours)

    def get(accept: str) -> tuple[dict, bytes]:
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": [(b"accept", accept.encode())]}
        asyncio.run(app(scope, receive, send))
        return {k.decode().lower(): v.decode() for k, v in sent[0]["headers"]}, sent[1]["body"]

    headers, body = get("application/openmetrics-text; version=1.0.0; escaping=allow-utf-8")
    assert headers["content-type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
    assert body == openmetrics.generate_latest(ours, "allow-utf-8")
    headers, body = get(PROMETHEUS_PROTOBUF_ACCEPT)
    assert headers["content-type"] == PROTOBUF
    assert decode_delimited(body)["temp__C"] == {(): 21.5}


def test_prometheus_with_native_histograms_is_served_protobuf(tmp_path: Path, pair):
    """Prometheus 2.42 with native histograms asks for protobuf (its Accept header, recorded by a
    second target, negotiates protobuf) and reads obsagent's without complaint."""
    ours, _ = pair
    asked = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        """A second target that records the Accept header Prometheus sends."""

        def do_GET(self):  # noqa: N802
            asked.append(self.headers["Accept"])
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(b"recorded 1\n")

        def log_message(self, *args):
            pass

    recorder = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    server = obsagent.start_http_server(0, addr="127.0.0.1", registry=ours)
    try:
        jobs = {"obsagent": server.port, "recorder": recorder.server_address[1]}
        with running_prometheus(tmp_path, jobs, flags=("--enable-feature=native-histograms",)) as base:
            wait_for(lambda: len([r for r in query(base, "up") if r["value"][1] == "1"]) == 2)
            # What Prometheus asked for is answered with protobuf, which it read without complaint.
            assert obsagent.exposition.choose_encoder(asked[0])[1] == PROTOBUF
            assert query(base, 'my_requests_total{route_name="/a"}')[0]["value"][1] == "3"
            assert query(base, "lat_seconds_count")[0]["value"][1] == "1"
            targets = json.load(urllib.request.urlopen(f"{base}/api/v1/targets", timeout=5))["data"]["activeTargets"]
            assert all(t["health"] == "up" and t["lastError"] == "" for t in targets), targets
    finally:
        server.stop()
        recorder.shutdown()
        recorder.server_close()


def test_any_utf8_label_name_reads_back_from_collect_and_labelvalues(registry):
    counter = obsagent.Counter("odd", "Odd label names.", ['a="b', "c,d"], registry=registry)
    child = counter.labels('v="w', "z")
    child.inc()
    assert registry.get_sample_value("odd_total", {'a="b': 'v="w', "c,d": "z"}) == 1.0
    assert child._labelvalues == ('v="w', "z")
    expected = b'odd_total{"a=\\"b"="v=\\"w","c,d"="z"} 1.0\n'
    assert expected in obsagent.generate_latest(registry, "allow-utf-8")
