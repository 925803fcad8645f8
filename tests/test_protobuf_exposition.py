"""The protobuf exposition (delimited `io.prometheus.client.MetricFamily`, issue 17) as the server
answers Prometheus' Accept header, decoded with client_model's schema (tests/metrics_proto.py):
every field of every metric type, exemplars and created timestamps included."""

from __future__ import annotations

import math
import urllib.request

import pytest
from metrics_proto import COUNTER, GAUGE, HISTOGRAM, SUMMARY, UNTYPED, parse_delimited

import obsagent
from conftest import free_port
from obsagent import _native
from obsagent.core import CounterMetricFamily, Exemplar, HistogramMetricFamily, Metric

ACCEPT = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,"
    "application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
NOW = 1_700_000_000.25


class Custom:
    def collect(self):
        counter = CounterMetricFamily("custom", "Custom.", labels=["k"])
        counter.add_metric(["x"], 12, created=1_600_000_000.5, exemplar=Exemplar({"t": "c"}, 2.0, 1_650_000_000.0))
        yield counter
        histogram = HistogramMetricFamily("custom_h", "Custom histogram.", labels=["k"])
        histogram.add_metric(["x"], [("1.0", 4, Exemplar({"t": "h"}, 0.5)), ("+Inf", 5)], sum_value=6.5)
        yield histogram
        untyped = Metric("custom_u", "Untyped.", "unknown")
        untyped.add_sample("custom_u", {}, 3.0, timestamp=1_700_000_001.5)
        yield untyped


@pytest.fixture
def families():
    obsagent.enable_created_metrics()
    _native._freeze_time(NOW)
    registry = obsagent.CollectorRegistry()
    try:
        jobs = obsagent.Counter("jobs", "Jobs run.", ["queue"], unit="seconds", registry=registry)
        jobs.labels("a").inc(2.5, exemplar={"trace_id": "abc"})
        obsagent.Gauge("depth", "Depth.", registry=registry).set(-3)
        latency = obsagent.Histogram("latency", "Latency.", buckets=[0.5, 2], registry=registry)
        latency.observe(0.25)
        latency.observe(9.0, exemplar={"trace_id": "inf"})  # an exemplar in +Inf: the bucket is written
        native = obsagent.Histogram(
            "native", "Native.", buckets=[1], native_histogram_bucket_factor=2, registry=registry
        )
        for value in (0.0, 0.75, 3.0, -3.0):
            native.observe(value, exemplar={"n": str(value)})
        obsagent.Summary("sizes", "Sizes.", registry=registry).observe(512)
        obsagent.Info("build", "Build.", registry=registry).info({"version": "1.2"})
        obsagent.Enum("state", "State.", states=["up", "down"], registry=registry).state("down")
        registry.register(Custom())
        port = free_port()
        server = obsagent.start_http_server(port, addr="127.0.0.1", registry=registry)
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Accept": ACCEPT})
            with urllib.request.urlopen(request, timeout=10) as response:
                content_type = response.headers["Content-Type"]
                body = response.read()
        finally:
            server.stop()
    finally:
        _native._freeze_time(None)
        obsagent.disable_created_metrics()
    assert content_type == (
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    )
    return {family.name: family for family in parse_delimited(body)}


def labels(message) -> dict[str, str]:
    return {pair.name: pair.value for pair in message.label}


def seconds(timestamp) -> float:
    return timestamp.seconds + timestamp.nanos / 1e9


def test_counter(families) -> None:
    family = families["jobs_seconds_total"]
    assert (family.type, family.help, family.unit) == (COUNTER, "Jobs run.", "seconds")
    (metric,) = family.metric
    assert labels(metric) == {"queue": "a"}
    assert metric.counter.value == 2.5
    assert seconds(metric.counter.created_timestamp) == NOW
    exemplar = metric.counter.exemplar
    assert (labels(exemplar), exemplar.value, seconds(exemplar.timestamp)) == ({"trace_id": "abc"}, 2.5, NOW)
    assert not metric.HasField("timestamp_ms")


def test_gauge_info_and_stateset(families) -> None:
    (depth,) = families["depth"].metric
    assert (families["depth"].type, depth.gauge.value) == (GAUGE, -3.0)
    (build,) = families["build_info"].metric
    assert (families["build_info"].type, labels(build), build.gauge.value) == (GAUGE, {"version": "1.2"}, 1.0)
    states = {labels(m)["state"]: m.gauge.value for m in families["state"].metric}
    assert (families["state"].type, states) == (GAUGE, {"up": 0.0, "down": 1.0})


def test_classic_histogram(families) -> None:
    family = families["latency"]
    (metric,) = family.metric
    h = metric.histogram
    assert (family.type, h.sample_count, h.sample_sum) == (HISTOGRAM, 2, 9.25)
    assert [(b.upper_bound, b.cumulative_count) for b in h.bucket] == [(0.5, 1), (2.0, 1), (math.inf, 2)]
    assert labels(h.bucket[2].exemplar) == {"trace_id": "inf"} and h.bucket[2].exemplar.value == 9.0
    assert not h.bucket[0].HasField("exemplar")
    assert seconds(h.created_timestamp) == NOW
    assert not h.HasField("schema"), "a classic histogram has no native fields"


def test_native_histogram(families) -> None:
    (metric,) = families["native"].metric
    h = metric.histogram
    assert (h.sample_count, h.sample_sum, h.schema, h.zero_threshold, h.zero_count) == (4, 0.75, 0, 2**-128, 1)
    # (0.5, 1] and (2, 4]: a gap of one bucket is filled with an empty one, as client_golang does.
    assert [(s.offset, s.length) for s in h.positive_span] == [(0, 3)]
    assert list(h.positive_delta) == [1, -1, 1]
    assert [(s.offset, s.length) for s in h.negative_span] == [(2, 1)] and list(h.negative_delta) == [1]
    assert [(b.upper_bound, b.cumulative_count) for b in h.bucket] == [(1.0, 3), (math.inf, 4)]
    assert {labels(e)["n"] for e in h.exemplars} == {"-3.0", "3.0"}  # the latest of each classic bucket
    assert seconds(h.created_timestamp) == NOW
    assert not (h.HasField("sample_count_float") or h.HasField("zero_count_float") or h.positive_count)


def test_summary(families) -> None:
    (metric,) = families["sizes"].metric
    s = metric.summary
    assert (families["sizes"].type, s.sample_count, s.sample_sum, list(s.quantile)) == (SUMMARY, 1, 512.0, [])
    assert seconds(s.created_timestamp) == NOW


def test_custom_collectors(families) -> None:
    (counter,) = families["custom_total"].metric
    assert counter.counter.value == 12 and seconds(counter.counter.created_timestamp) == 1_600_000_000.5
    assert labels(counter.counter.exemplar) == {"t": "c"} and seconds(counter.counter.exemplar.timestamp) == 1.65e9
    (histogram,) = families["custom_h"].metric
    h = histogram.histogram
    assert (h.sample_count, h.sample_sum) == (5, 6.5)
    assert labels(h.bucket[0].exemplar) == {"t": "h"} and not h.bucket[0].exemplar.HasField("timestamp")
    (untyped,) = families["custom_u"].metric
    assert (families["custom_u"].type, untyped.untyped.value, untyped.timestamp_ms) == (UNTYPED, 3.0, 1700000001500)
