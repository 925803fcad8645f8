"""Exemplars (issue 14, item 4): ``Counter.inc(exemplar=)``, ``Histogram.observe(exemplar=)`` and
custom collectors' exemplars, in OpenMetrics byte for byte as prometheus_client 0.26 prints them
for the same instrumentation at the same (frozen) time; the limits and errors it has; and no
trace of them in the text format, which has no place for them."""

from __future__ import annotations

import importlib
import time

import prometheus_client
import prometheus_client.openmetrics.exposition
import pytest

import obsagent
import obsagent.openmetrics.exposition
from obsagent import _native

NOW = 1_700_000_000.25


def instrument(lib, registry) -> None:
    counter = lib.Counter("jobs", "Jobs run.", ["queue"], registry=registry)
    counter.labels("a").inc(exemplar={"trace_id": "abc123", "span": 'q"\\\n'})
    counter.labels("a").inc(2.5, exemplar={"trace_id": "def"})  # the latest one is shown
    counter.labels("b").inc()  # no exemplar
    counter.labels("c").inc(exemplar={})  # empty: none, as `if exemplar:` upstream
    histogram = lib.Histogram("latency_seconds", "Latency.", buckets=[0.1, 1, 2.5], registry=registry)
    histogram.observe(0.05, exemplar={"trace_id": "t1"})
    histogram.observe(0.5)
    histogram.observe(2.0, exemplar={"z": "last", "a": "first"})
    histogram.observe(1e9, exemplar={"trace_id": "平"})  # +Inf bucket, a value in exponent form
    lib.Gauge("depth", "Depth.", registry=registry).set(3)


class Custom:
    def __init__(self, lib) -> None:
        self.lib = lib

    def collect(self):
        core = importlib.import_module(f"{self.lib.__name__}.core")
        counter = core.CounterMetricFamily("custom", "Custom.", labels=["k"])
        counter.add_metric(["x"], 12, exemplar=core.Exemplar({"trace_id": "e1"}, 1.0, 1700000000.5))
        counter.add_metric(["y"], 3, created=5.0, exemplar=core.Exemplar({"trace_id": "e2"}, 2.0))
        yield counter
        histogram = core.HistogramMetricFamily("custom_h", "Custom histogram.", labels=["k"])
        histogram.add_metric(
            ["x"],
            [("1.0", 4, core.Exemplar({"a": "b"}, 0.5, core.Timestamp(12, 5))), ("+Inf", 5, None)],
            sum_value=6.5,
        )
        yield histogram


def expositions() -> tuple[bytes, bytes, bytes, bytes]:
    theirs, ours = prometheus_client.CollectorRegistry(), obsagent.CollectorRegistry()
    for lib in (prometheus_client, obsagent):
        lib.enable_created_metrics()  # as both default to; other tests may have turned it off
    real_time = time.time
    time.time = lambda: NOW  # prometheus_client reads the time through the `time` module
    _native._freeze_time(NOW)
    try:
        for lib, registry in ((prometheus_client, theirs), (obsagent, ours)):
            instrument(lib, registry)
            registry.register(Custom(lib))
        return (
            prometheus_client.openmetrics.exposition.generate_latest(theirs),
            obsagent.openmetrics.exposition.generate_latest(ours),
            prometheus_client.generate_latest(theirs),
            obsagent.generate_latest(ours),
        )
    finally:
        time.time = real_time
        _native._freeze_time(None)
        for lib in (prometheus_client, obsagent):
            lib.disable_created_metrics()  # as conftest leaves it for the other tests


def test_openmetrics_bytes_are_prometheus_clients() -> None:
    theirs, ours, _, _ = expositions()
    assert b" # {" in ours, "the exemplars are shown"
    assert b'jobs_total{queue="a"} 3.5 # {trace_id="def"} 2.5 1700000000.25\n' in ours
    assert b'latency_seconds_bucket{le="+Inf"} 4.0 # {trace_id="\xe5\xb9\xb3"} 1e+09 1700000000.25\n' in ours
    assert ours == theirs


def test_text_format_has_no_exemplars() -> None:
    _, _, theirs, ours = expositions()
    assert b"#" not in b"".join(line for line in ours.splitlines() if not line.startswith(b"# "))
    assert ours == theirs


def test_collect_hands_them_back() -> None:
    registry = obsagent.CollectorRegistry()
    counter = obsagent.Counter("c", "C.", registry=registry)
    counter.inc(exemplar={"trace_id": "x"})
    (sample,) = [s for m in registry.collect() for s in m.samples if s.name == "c_total"]
    assert sample.exemplar.labels == {"trace_id": "x"}
    assert sample.exemplar.value == 1.0
    assert abs(sample.exemplar.timestamp - time.time()) < 60


@pytest.mark.parametrize("lib", [prometheus_client, obsagent], ids=["prometheus_client", "obsagent"])
def test_bad_exemplars_raise_and_keep_the_update(lib) -> None:
    registry = lib.CollectorRegistry()
    counter = lib.Counter("c", "C.", registry=registry)
    histogram = lib.Histogram("h", "H.", registry=registry)
    too_long = {"a" * 100: "b" * 29}  # 129 characters
    at_limit = {"a" * 100: "平" * 28}  # 128 characters, 184 bytes
    with pytest.raises(ValueError, match="UTF-8 characters, exceeding the limit of 128"):
        counter.inc(exemplar=too_long)
    with pytest.raises(ValueError, match="exceeding the limit of 128"):
        histogram.observe(0.3, exemplar=too_long)
    with pytest.raises(ValueError, match="Reserved label metric name: __x"):
        counter.inc(exemplar={"__x": "y"})
    counter.inc(exemplar=at_limit)
    histogram.observe(0.3, exemplar={":o)": "smile"})  # any UTF-8 name, 0.26's default
    # The updates the bad exemplars rode on were recorded, as prometheus_client records them.
    assert registry.get_sample_value("c_total") == 3.0
    assert registry.get_sample_value("h_count") == 2.0
    exposition = lib.openmetrics.exposition.generate_latest(registry)
    assert b"\xe5\xb9\xb3" * 28 in exposition and b"smile" in exposition
    assert b"too_long" not in exposition and b"__x" not in exposition


def test_exemplars_survive_label_removal_of_others() -> None:
    registry = obsagent.CollectorRegistry()
    counter = obsagent.Counter("c", "C.", ["k"], registry=registry)
    counter.labels("a").inc(exemplar={"t": "1"})
    counter.labels("b").inc(exemplar={"t": "2"})
    counter.remove("a")
    exposition = obsagent.openmetrics.exposition.generate_latest(registry)
    assert b'c_total{k="b"} 1.0 # {t="2"} 1.0' in exposition and b'{t="1"}' not in exposition
