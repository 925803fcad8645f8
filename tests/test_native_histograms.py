"""Native histograms (issue 17): client_golang's semantics under prometheus_client's names,
checked against an independent computation of the buckets here (Go's key formula, from
math.frexp), through the protobuf exposition decoded with client_model's schema."""

from __future__ import annotations

import math
import random

import pytest
from metrics_proto import HISTOGRAM, parse_delimited

import obsagent
import obsagent.openmetrics.exposition
from conftest import bucket_counts, native_bucket_key
from obsagent import _native


def protobuf(registry) -> dict:
    body, _ = _native.pushgateway_protobuf(registry._native)
    return {family.name: family for family in parse_delimited(body)}


def native(registry, name: str):
    (metric,) = protobuf(registry)[name].metric
    return metric.histogram


def test_observations_are_counted_in_client_golangs_buckets() -> None:
    registry = obsagent.CollectorRegistry()
    histogram = obsagent.Histogram("latency_seconds", "Latency.", registry=registry, native_histogram_bucket_factor=1.1)
    rng = random.Random(17)
    values = [rng.lognormvariate(-3, 1.5) for _ in range(5000)] + [0.0, -0.25, -3.0, 1.0, 2.0]
    for value in values:
        histogram.observe(value)
    family = protobuf(registry)["latency_seconds"]
    assert family.type == HISTOGRAM
    h = native(registry, "latency_seconds")
    assert h.schema == 3 == histogram._native_histogram_schema
    assert h.sample_count == len(values)
    assert h.sample_sum == pytest.approx(math.fsum(values), rel=1e-12)
    assert h.zero_threshold == 2**-128 and h.zero_count == 1
    positive = {}
    for value in values:
        if value > 0:
            positive[native_bucket_key(value, 3)] = positive.get(native_bucket_key(value, 3), 0) + 1
    assert bucket_counts(h.positive_span, h.positive_delta) == positive
    assert bucket_counts(h.negative_span, h.negative_delta) == {
        native_bucket_key(0.25, 3): 1,
        native_bucket_key(3.0, 3): 1,
    }
    assert len(h.bucket) == 0, "no classic buckets asked for: only the implicit +Inf"
    text = obsagent.generate_latest(registry).decode()
    assert f'latency_seconds_bucket{{le="+Inf"}} {float(len(values))}' in text
    assert f"latency_seconds_count {float(len(values))}" in text


def test_classic_buckets_stay_alongside() -> None:
    registry = obsagent.CollectorRegistry()
    histogram = obsagent.Histogram(
        "size", "Size.", ["path"], registry=registry, buckets=[1, 10], native_histogram_bucket_factor=2
    )
    for value in (0.5, 3, 30, 300):
        histogram.labels("/a").observe(value)
    h = native(registry, "size")
    assert [(b.upper_bound, b.cumulative_count) for b in h.bucket] == [(1.0, 1), (10.0, 2)]
    assert h.schema == 0
    assert bucket_counts(h.positive_span, h.positive_delta) == {-1: 1, 2: 1, 5: 1, 9: 1}  # (0.25, 0.5], (2, 4], ...
    text = obsagent.generate_latest(registry).decode()
    assert 'size_bucket{path="/a",le="10.0"} 2.0' in text and 'size_bucket{path="/a",le="+Inf"} 4.0' in text


def test_quantiles_from_the_buckets_are_within_the_schemas_error() -> None:
    registry = obsagent.CollectorRegistry()
    histogram = obsagent.Histogram("q", "Q.", registry=registry, native_histogram_bucket_factor=1.1)
    rng = random.Random(3)
    values = sorted(rng.expovariate(10) for _ in range(20000))
    histogram.observe_many(values)
    h = native(registry, "q")
    counts = sorted(bucket_counts(h.positive_span, h.positive_delta).items())
    base = 2 ** (2**-h.schema)
    for q in (0.5, 0.9, 0.99):
        rank, seen = q * len(values), 0
        for key, count in counts:
            if seen + count >= rank:
                upper = base**key
                estimate = upper / base * base ** ((rank - seen) / count)  # exponential interpolation
                break
            seen += count
        exact = values[int(q * len(values)) - 1]
        assert abs(estimate - exact) / exact <= base - 1, (q, estimate, exact)


def test_a_wide_spread_lowers_the_resolution_and_keeps_every_observation() -> None:
    registry = obsagent.CollectorRegistry()
    histogram = obsagent.Histogram(
        "wide", "Wide.", registry=registry, native_histogram_bucket_factor=1.01, native_histogram_max_bucket_number=20
    )
    values = [10 ** (i / 50) for i in range(-300, 300)]
    for value in values:
        histogram.observe(value)
    h = native(registry, "wide")
    assert h.schema < 6, "schema 6 for a factor of 1.01, reduced"
    counts = bucket_counts(h.positive_span, h.positive_delta)
    assert sum(counts.values()) == len(values) == h.sample_count
    assert max(counts) - min(counts) < 20
    expected: dict[int, int] = {}
    for value in values:
        expected[native_bucket_key(value, h.schema)] = expected.get(native_bucket_key(value, h.schema), 0) + 1
    assert counts == expected


def test_exemplars_attach_to_the_classic_bucket() -> None:
    registry = obsagent.CollectorRegistry()
    histogram = obsagent.Histogram("ex", "Ex.", registry=registry, buckets=[1], native_histogram_bucket_factor=1.1)
    histogram.observe(0.5, exemplar={"trace_id": "abc"})
    text = obsagent.openmetrics.exposition.generate_latest(registry).decode()
    assert 'ex_bucket{le="1.0"} 1.0 # {trace_id="abc"} 0.5' in text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"native_histogram_bucket_factor": 1.0}, "above 1"),
        ({"native_histogram_bucket_factor": 0.5}, "above 1"),
        ({"native_histogram_bucket_factor": float("nan")}, "above 1"),
        ({"native_histogram_bucket_factor": 1.1, "native_histogram_zero_threshold": -1e-9}, "must not be negative"),
        ({"native_histogram_bucket_factor": 1.1, "native_histogram_max_zero_threshold": -1}, "must not be negative"),
        ({"native_histogram_bucket_factor": 1.1, "native_histogram_max_bucket_number": 0}, "between 1 and 4096"),
        ({"native_histogram_bucket_factor": 1.1, "native_histogram_min_reset_duration": -5}, "must not be negative"),
    ],
)
def test_bad_arguments_are_value_errors(arguments, message) -> None:
    registry = obsagent.CollectorRegistry()
    with pytest.raises(ValueError, match=message):
        obsagent.Histogram("bad", "Bad.", registry=registry, **arguments)
    obsagent.Histogram("bad", "Bad.", registry=registry)  # nothing was registered by the failed one
