"""Summary quantiles (issue 17): client_golang's targeted quantiles over a sliding window, against
the exact quantiles of a known stream (each within its target's rank error), aging out after
``max_age``, in the text, OpenMetrics and protobuf expositions; count and sum unchanged."""

from __future__ import annotations

import math
import random

import pytest
from metrics_proto import SUMMARY, parse_delimited

import obsagent
import obsagent.openmetrics.exposition
from obsagent import _native

OBJECTIVES = {0.5: 0.05, 0.9: 0.01, 0.99: 0.001}
START = 1_700_000_000.0


@pytest.fixture
def clock():
    times = [START]

    def set_time(seconds: float) -> None:
        times[0] = seconds
        _native._freeze_time(seconds)

    set_time(START)
    yield set_time
    _native._freeze_time(None)


def quantile_samples(registry, name: str) -> dict[str, float]:
    return {
        s.labels["quantile"]: s.value
        for m in registry.collect()
        for s in m.samples
        if s.name == name and "quantile" in s.labels
    }


def test_quantiles_are_within_each_targets_error(clock) -> None:
    registry = obsagent.CollectorRegistry()
    summary = obsagent.Summary("latency_seconds", "Latency.", registry=registry, quantiles=OBJECTIVES)
    values = list(range(1, 50_001))
    random.Random(5).shuffle(values)
    for value in values:
        summary.observe(value / 1000)
    estimates = quantile_samples(registry, "latency_seconds")
    assert set(estimates) == {"0.5", "0.9", "0.99"}
    for q, error in OBJECTIVES.items():
        rank = estimates[str(q)] * 1000 / len(values)  # the values are 1..n: a value's rank is itself
        assert abs(rank - q) <= error, (q, rank, error)
    assert registry.get_sample_value("latency_seconds_count") == len(values)
    assert registry.get_sample_value("latency_seconds_sum") == pytest.approx(math.fsum(values) / 1000)
    text = obsagent.generate_latest(registry).decode()
    assert f'latency_seconds{{quantile="0.99"}} {estimates["0.99"]!r}' in text
    assert text.index('quantile="0.5"') < text.index("latency_seconds_count") < text.index("latency_seconds_sum")
    openmetrics = obsagent.openmetrics.exposition.generate_latest(registry).decode()
    assert 'latency_seconds{quantile="0.9"}' in openmetrics
    body, _ = _native.pushgateway_protobuf(registry._native)
    (family,) = [f for f in parse_delimited(body) if f.name == "latency_seconds"]
    (metric,) = family.metric
    assert family.type == SUMMARY and metric.summary.sample_count == len(values)
    assert {q.quantile: q.value for q in metric.summary.quantile} == {float(k): v for k, v in estimates.items()}


def test_observations_age_out_after_max_age(clock) -> None:
    registry = obsagent.CollectorRegistry()
    summary = obsagent.Summary(
        "age", "Age.", ["k"], registry=registry, quantiles={0.5: 0.01}, max_age=60, age_buckets=3
    )
    child = summary.labels("a")
    for value in range(1000, 1100):
        child.observe(value)
    assert quantile_samples(registry, "age")["0.5"] >= 1000
    clock(START + 45)
    for value in range(100):
        child.observe(value)
    assert quantile_samples(registry, "age")["0.5"] >= 1000, "the oldest stream still holds the first"
    clock(START + 65)  # the first observations are now older than max_age
    assert quantile_samples(registry, "age")["0.5"] < 100
    clock(START + 200)
    assert math.isnan(quantile_samples(registry, "age")["0.5"]), "an empty window reads NaN"
    assert registry.get_sample_value("age_count", {"k": "a"}) == 200, "count and sum never age"


def test_no_quantiles_is_prometheus_clients_summary() -> None:
    registry = obsagent.CollectorRegistry()
    obsagent.Summary("plain", "Plain.", registry=registry).observe(2)
    obsagent.Summary("empty", "Empty.", registry=registry, quantiles={}).observe(2)
    names = [s.name for m in registry.collect() for s in m.samples]
    assert names == ["plain_count", "plain_sum", "empty_count", "empty_sum"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"quantiles": {0.0: 0.01}}, r"must lie in \(0, 1\)"),
        ({"quantiles": {1.0: 0.01}}, r"must lie in \(0, 1\)"),
        ({"quantiles": {1.5: 0.01}}, r"must lie in \(0, 1\)"),
        ({"quantiles": {0.5: 1.0}}, r"errors must lie in \[0, 1\)"),
        ({"quantiles": {0.5: -0.01}}, r"errors must lie in \[0, 1\)"),
        ({"quantiles": {0.5: 0.01}, "max_age": 0}, "max_age must be a positive"),
        ({"quantiles": {0.5: 0.01}, "age_buckets": 0}, "age_buckets must be at least 1"),
    ],
)
def test_bad_objectives_are_value_errors(arguments, message) -> None:
    registry = obsagent.CollectorRegistry()
    with pytest.raises(ValueError, match=message):
        obsagent.Summary("bad", "Bad.", registry=registry, **arguments)
    obsagent.Summary("bad", "Bad.", registry=registry)  # the failed one registered nothing
