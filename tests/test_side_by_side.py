"""One instrumentation script, run under prometheus_client and under obsagent, gives the same
samples: both expositions are parsed with prometheus_client's own parsers and compared."""

from __future__ import annotations

import importlib
import math

import prometheus_client
import pytest
from prometheus_client.openmetrics.exposition import generate_latest as client_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

import obsagent
from obsagent.openmetrics.exposition import generate_latest as obsagent_openmetrics


def instrument(lib):
    """What an application does, written once against either library."""
    registry = lib.CollectorRegistry()
    requests = lib.Counter("http_requests", "Requests.", ["method", "path"], registry=registry)
    requests.labels("GET", "/api").inc()
    requests.labels(method="POST", path='/q"uote\\back\nline').inc(2.5)
    requests.labels("GET", "/ünïcödé").inc(1e6)
    lib.Counter("jobs_total", "Jobs.", namespace="app", subsystem="worker", registry=registry).inc(1234567)
    gauge = lib.Gauge("temperature", "Temp.", ["room"], unit="celsius", registry=registry)
    gauge.labels("lab").set(-2.5)
    gauge.labels("nan").set(math.nan)
    gauge.labels("inf").set(math.inf)
    gauge.labels("sum").set(0.1 + 0.2)
    gauge.labels("tiny").set(1.5e-7)
    latency = lib.Histogram("latency_seconds", "Latency.", ["route"], registry=registry)
    for value in (0.001, 0.005, 0.03, 0.4, 2, 9, 50):
        latency.labels("/a").observe(value)
    sizes = lib.Histogram("sizes", "Sizes.", buckets=[10, 100, 1e6], registry=registry)
    for value in (5, 50, 500, 5e6):
        sizes.observe(value)
    summary = lib.Summary("payload", "Payload.", unit="bytes", registry=registry)
    summary.observe(100)
    summary.observe(250.5)
    lib.Info("build", "Build.", registry=registry).info({"version": "1.2.3", "commit": "abc"})
    lib.Enum("phase", "Phase.", states=["init", "run", "done"], registry=registry).state("run")

    core = importlib.import_module(f"{lib.__name__}.core")

    class Custom:
        def collect(self):
            yield core.CounterMetricFamily("custom_events", "Events.", value=3)
            gauge = core.GaugeMetricFamily("custom_depth", "Depth.", labels=["queue"])
            gauge.add_metric(["a"], 4)
            yield gauge
            yield core.HistogramMetricFamily("custom_hist", "Hist.", buckets=[("1.0", 2), ("+Inf", 3)], sum_value=4.5)
            yield core.SummaryMetricFamily("custom_summary", "Summ.", count_value=2, sum_value=3.0)
            yield core.InfoMetricFamily("custom_info", "Info.", value={"k": "v"})
            yield core.StateSetMetricFamily("custom_state", "State.", value={"on": True, "off": False})
            yield core.UnknownMetricFamily("custom_unknown", "Unknown.", value=7)

    registry.register(Custom())
    return registry


def parsed(text: str, parse) -> tuple[set, set]:
    """({(family, type, help)}, {(sample, labels, value)}), NaN compared as a string."""
    families, samples = set(), set()
    for family in parse(text):
        families.add((family.name, family.type, family.documentation))
        for sample in family.samples:
            value = "NaN" if math.isnan(sample.value) else sample.value
            samples.add((sample.name, tuple(sorted(sample.labels.items())), value))
    return families, samples


@pytest.fixture(autouse=True)
def no_created_series_in_prometheus_client():
    prometheus_client.disable_created_metrics()
    yield
    prometheus_client.enable_created_metrics()


def test_text_format_gives_the_same_samples():
    ours = obsagent.generate_latest(instrument(obsagent)).decode()
    theirs = prometheus_client.generate_latest(instrument(prometheus_client)).decode()
    ours_families, ours_samples = parsed(ours, parse_text)
    theirs_families, theirs_samples = parsed(theirs, parse_text)
    assert ours_samples == theirs_samples
    assert ours_families == theirs_families
    assert len(ours_samples) > 40


def test_openmetrics_gives_the_same_samples():
    ours = obsagent_openmetrics(instrument(obsagent)).decode()
    theirs = client_openmetrics(instrument(prometheus_client)).decode()
    assert ours.endswith("# EOF\n")
    ours_families, ours_samples = parsed(ours, parse_openmetrics)
    theirs_families, theirs_samples = parsed(theirs, parse_openmetrics)
    assert ours_samples == theirs_samples
    assert ours_families == theirs_families


def test_created_series_when_enabled_have_the_same_names():
    prometheus_client.enable_created_metrics()
    obsagent.enable_created_metrics()
    try:
        ours = obsagent_openmetrics(instrument(obsagent)).decode()
        theirs = client_openmetrics(instrument(prometheus_client)).decode()
    finally:
        obsagent.disable_created_metrics()
    created = {(n, labels) for n, labels, _ in parsed(ours, parse_openmetrics)[1] if n.endswith("_created")}
    expected = {(n, labels) for n, labels, _ in parsed(theirs, parse_openmetrics)[1] if n.endswith("_created")}
    assert created == expected and created
