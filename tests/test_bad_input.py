"""Every bad input gets the right exception, a message naming the problem, and loses nothing
already recorded."""

from __future__ import annotations

import math

import pytest

import obsagent


@pytest.fixture
def recorded(registry):
    """A registry with one value recorded before the bad call; checked after it."""
    obsagent.Counter("kept", "Recorded before the bad input.", registry=registry).inc(7)
    yield registry
    assert registry.get_sample_value("kept_total") == 7


@pytest.mark.parametrize("name", ["", "9lives", "a-b", "a b", "a.b", "é"])
def test_invalid_metric_names(recorded, name):
    with pytest.raises(ValueError, match="Invalid metric name|should not be empty"):
        obsagent.Counter(name, "Bad.", registry=recorded)


@pytest.mark.parametrize("label", ["", "1a", "a-b", "a:b", "__reserved"])
def test_invalid_label_names(recorded, label):
    with pytest.raises(ValueError, match="Invalid label name"):
        obsagent.Gauge("bad_labels", "Bad.", [label], registry=recorded)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda r: obsagent.Histogram("h", "H.", ["le"], registry=r), 'label name "le".*reserved for histogram'),
        (
            lambda r: obsagent.Summary("s", "S.", ["quantile"], registry=r),
            'label name "quantile".*reserved for summary',
        ),
        (lambda r: obsagent.Counter("c", "C.", ["a", "a"], registry=r), 'label name "a".*given twice'),
        (lambda r: obsagent.Enum("e", "E.", ["e"], states=["x"], registry=r), "may not share its name"),
        (lambda r: obsagent.Enum("e", "E.", registry=r), 'Enum "e" needs at least one state'),
        (lambda r: obsagent.Info("i", "I.", unit="seconds", registry=r), "cannot have a unit"),
        (lambda r: obsagent.Histogram("h", "H.", buckets=[2, 1], registry=r), "strictly increasing"),
        (lambda r: obsagent.Histogram("h", "H.", buckets=[math.nan], registry=r), "must not be NaN"),
        (lambda r: obsagent.Gauge("g", "G.", multiprocess_mode="median", registry=r), "Invalid multiprocess mode"),
    ],
)
def test_invalid_definitions(recorded, make, message):
    with pytest.raises(ValueError, match=message):
        make(recorded)


def test_labelnames_as_one_string_is_a_type_error(recorded):
    with pytest.raises(TypeError, match="labelnames must be a sequence of strings"):
        obsagent.Counter("c", "C.", "method", registry=recorded)


def test_wrong_label_values(recorded):
    counter = obsagent.Counter("requests", "R.", ["method", "path"], registry=recorded)
    counter.labels("GET", "/").inc()
    with pytest.raises(
        ValueError, match=r'Incorrect labels for "requests": expected \["method", "path"\], got 1 value'
    ):
        counter.labels("GET")
    with pytest.raises(ValueError, match="got 3 values"):
        counter.labels("GET", "/", "x")
    with pytest.raises(ValueError, match=r'got names \["method", "route"\]'):
        counter.labels(method="GET", route="/")
    with pytest.raises(ValueError, match="Can't pass both"):
        counter.labels("GET", path="/")
    with pytest.raises(ValueError, match=r"call \.labels\(\.\.\.\) before updating it"):
        counter.inc()
    with pytest.raises(ValueError, match="already has labels set"):
        counter.labels("GET", "/").labels("x", "y")
    with pytest.raises(ValueError, match="Incorrect labels"):
        counter.remove("GET")
    assert recorded.get_sample_value("requests_total", {"method": "GET", "path": "/"}) == 1


def test_labels_on_an_unlabeled_metric(recorded):
    with pytest.raises(ValueError, match='No label names were set when constructing "plain"'):
        obsagent.Gauge("plain", "P.", registry=recorded).labels("x")


@pytest.mark.parametrize("amount", [-1, -0.5, math.nan])
def test_negative_or_nan_counter_increments(recorded, amount):
    counter = obsagent.Counter("events", "E.", registry=recorded)
    counter.inc(2)
    with pytest.raises(ValueError, match='Counters can only be incremented by non-negative amounts: "events"'):
        counter.inc(amount)
    assert recorded.get_sample_value("events_total") == 2


@pytest.mark.parametrize(
    "call",
    [
        lambda r: obsagent.Counter("n1", "N.", registry=r).inc("1"),
        lambda r: obsagent.Gauge("n2", "N.", registry=r).set("high"),
        lambda r: obsagent.Gauge("n3", "N.", registry=r).inc(None),
        lambda r: obsagent.Histogram("n4", "N.", registry=r).observe("fast"),
        lambda r: obsagent.Summary("n5", "N.", registry=r).observe([1]),
        lambda r: obsagent.Histogram("n6", "N.", registry=r).observe_many(["a", "b"]),
        lambda r: obsagent.Info("n7", "N.", registry=r).info({"version": 1}),
    ],
)
def test_non_numeric_values_are_type_errors(recorded, call):
    with pytest.raises(TypeError):
        call(recorded)


def test_observe_many_refuses_buffers_it_cannot_read(recorded):
    import array

    histogram = obsagent.Histogram("batch", "B.", registry=recorded)
    with pytest.raises(TypeError, match="observe_many needs a buffer of native-endian floats or integers"):
        histogram.observe_many(array.array("u", "abc"))
    assert recorded.get_sample_value("batch_count") == 0


def test_enum_and_info_values(recorded):
    state = obsagent.Enum("phase", "P.", states=["a", "b"], registry=recorded)
    with pytest.raises(ValueError, match=r"Enum \"phase\" has no state \"c\"; states are \[\"a\", \"b\"\]"):
        state.state("c")
    assert recorded.get_sample_value("phase", {"phase": "a"}) == 1
    info = obsagent.Info("build", "B.", ["host"], registry=recorded)
    with pytest.raises(ValueError, match="Info keys overlap the metric's label names"):
        info.labels("h1").info({"host": "x"})
    with pytest.raises(ValueError, match="Invalid label name"):
        info.labels("h1").info({"bad-key": "x"})


def test_duplicate_registration(recorded):
    obsagent.Counter("jobs", "J.", registry=recorded)
    with pytest.raises(
        ValueError, match=r"Duplicated timeseries in CollectorRegistry: \{'jobs', 'jobs_created', 'jobs_total'\}"
    ):
        obsagent.Counter("jobs", "J.", registry=recorded)
    with pytest.raises(ValueError, match=r"Duplicated timeseries in CollectorRegistry: \{'jobs_total'\}"):
        obsagent.Gauge("jobs_total", "J.", registry=recorded)


def test_unregistering_what_was_never_registered(recorded):
    stray = obsagent.Counter("stray", "S.", registry=None)
    with pytest.raises(KeyError, match="is not registered"):
        recorded.unregister(stray)


def test_a_raising_collector_raises_through_generate_latest_unchanged(recorded):
    class Broken:
        def collect(self):
            raise ZeroDivisionError("the collector divided by zero")

    broken = Broken()
    recorded.register(broken)
    with pytest.raises(ZeroDivisionError, match="the collector divided by zero"):
        obsagent.generate_latest(recorded)
    recorded.unregister(broken)
    assert b"kept_total 7" in obsagent.generate_latest(recorded)


def test_a_collector_yielding_garbage_is_a_clear_error(recorded):
    garbage = type("Garbage", (), {"collect": lambda self: [object()]})()
    recorded.register(garbage)
    with pytest.raises(AttributeError, match="name"):
        obsagent.generate_latest(recorded)
    recorded.unregister(garbage)
