"""Property tests: every exposition obsagent renders, in text and in OpenMetrics, parses back with
prometheus_client's parsers to the same samples, for arbitrary metric and label names, label
values with quotes, backslashes, newlines and non-ASCII text, and arbitrary floats.
`make fuzz` runs many more examples (OBSAGENT_PROPERTY_EXAMPLES)."""

from __future__ import annotations

import math
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

import obsagent
from obsagent.openmetrics.exposition import generate_latest as generate_openmetrics

EXAMPLES = int(os.environ.get("OBSAGENT_PROPERTY_EXAMPLES", "150"))

RESERVED_SUFFIXES = ("_total", "_created", "_count", "_sum", "_bucket", "_gcount", "_gsum", "_info")
metric_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True).filter(
    lambda n: not n.endswith(RESERVED_SUFFIXES) and not n.startswith("__")
)
label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,12}", fullmatch=True).filter(lambda n: not n.startswith("__"))
label_values = st.text(
    st.one_of(st.sampled_from('"\\\n{}=,# '), st.characters(codec="utf-8", exclude_categories=("Cs",))), max_size=20
)
floats = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def registries(draw):
    """A registry of gauges (any float) and counters (any non-negative float), labelled."""
    registry = obsagent.CollectorRegistry()
    expected: dict[tuple, float] = {}
    names = draw(st.lists(metric_names, min_size=1, max_size=4, unique=True))
    for name in names:
        labels = draw(st.lists(label_names, max_size=3, unique=True))
        counter = draw(st.booleans())
        metric = (obsagent.Counter if counter else obsagent.Gauge)(
            name, "Help with \\ and\nnewline.", labels, registry=registry
        )
        for values in draw(st.lists(st.tuples(*[label_values] * len(labels)), min_size=1, max_size=3, unique=True)):
            child = metric.labels(*values) if labels else metric
            if counter:
                amount = draw(st.floats(min_value=0, allow_infinity=True))
                child.inc(amount)
                key = (name + "_total", tuple(sorted(zip(labels, values, strict=True))))
                expected[key] = expected.get(key, 0.0) + amount
            else:
                value = draw(floats)
                child.set(value)
                expected[(name, tuple(sorted(zip(labels, values, strict=True))))] = value
    return registry, expected


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def parsed(families) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registries())
def test_text_exposition_parses_back_to_the_same_samples(case):
    registry, expected = case
    got = parsed(parse_text(obsagent.generate_latest(registry).decode("utf-8")))
    assert got.keys() == expected.keys()
    assert all(same(got[k], v) for k, v in expected.items()), (got, expected)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registries())
def test_openmetrics_exposition_parses_back_to_the_same_samples(case):
    registry, expected = case
    got = parsed(parse_openmetrics(generate_openmetrics(registry).decode("utf-8")))
    assert got.keys() == expected.keys()
    assert all(same(got[k], v) for k, v in expected.items()), (got, expected)
