"""Every bad input raises the right exception type with a message naming the problem, and
nothing recorded before the bad call is lost (nor anything half-added by it)."""

from __future__ import annotations

import contextlib
import math
import re

import numpy as np
import pytest

import obsagent
from obsagent.openmetrics.exposition import generate_latest as generate_openmetrics


@pytest.fixture
def registry():
    """A fresh registry with values recorded before any bad call; checked again at teardown."""
    registry = obsagent.CollectorRegistry()
    obsagent.Counter("kept", "Recorded before the bad input.", registry=registry).inc(7)
    kept = obsagent.Gauge("kept_gauge", "Recorded before.", ["k"], registry=registry)
    kept.labels("v").set(-2.5)
    obsagent.Histogram("kept_hist", "Recorded before.", buckets=[1], registry=registry).observe(0.5)
    yield registry
    assert registry.get_sample_value("kept_total") == 7
    assert registry.get_sample_value("kept_gauge", {"k": "v"}) == -2.5
    assert registry.get_sample_value("kept_hist_bucket", {"le": "1.0"}) == 1
    assert registry.get_sample_value("kept_hist_count") == 1


@contextlib.contextmanager
def fails(registry, exception, match):
    """Expects `exception` (matching `match`) and that the exposition did not change at all."""
    before = obsagent.generate_latest(registry)
    with pytest.raises(exception, match=match) as info:
        yield info
    assert obsagent.generate_latest(registry) == before


def make(cls, name, registry, labelnames=(), **kwargs):
    if cls is obsagent.Enum:
        kwargs.setdefault("states", ["a", "b"])
    return cls(name, "Doc.", labelnames, registry=registry, **kwargs)


ALL_TYPES = [obsagent.Counter, obsagent.Gauge, obsagent.Histogram, obsagent.Summary, obsagent.Info, obsagent.Enum]
TYPE_IDS = [cls.__name__ for cls in ALL_TYPES]


def _(text: str) -> str:
    return re.escape(text)


# --- names -----------------------------------------------------------------------------------


@pytest.fixture
def legacy():
    """Legacy name validation (classic charset only) for one test, as prometheus_client has it."""
    obsagent.validation.enable_legacy_validation()
    yield
    obsagent.validation.disable_legacy_validation()


@pytest.mark.parametrize("cls", ALL_TYPES, ids=TYPE_IDS)
@pytest.mark.parametrize("name", ["9x", "1", "a-b", "a b", "a.b", "a/b", "x{y}", "é"])
def test_invalid_metric_names(registry, legacy, cls, name):
    with fails(registry, ValueError, "Invalid metric name: " + _(f'"{name}')):
        make(cls, name, registry)


@pytest.mark.parametrize("cls", ALL_TYPES, ids=TYPE_IDS)
def test_empty_metric_name(registry, cls):
    with fails(registry, ValueError, "Metric name should not be empty"):
        make(cls, "", registry)


@pytest.mark.parametrize(
    ("kwargs", "full"),
    [
        ({"namespace": "my-app"}, "my-app_ok"),
        ({"subsystem": "sub system"}, "sub system_ok"),
        ({"namespace": "9"}, "9_ok"),
        ({"unit": "m.s"}, "ok_m.s"),
    ],
)
def test_invalid_namespace_subsystem_or_unit_names_the_full_name(registry, legacy, kwargs, full):
    with fails(registry, ValueError, "Invalid metric name: " + _(f'"{full}"')):
        obsagent.Gauge("ok", "Doc.", registry=registry, **kwargs)


@pytest.mark.parametrize("cls", ALL_TYPES, ids=TYPE_IDS)
@pytest.mark.parametrize("label", ["", "1a", "a-b", "a b", "a.b", "a:b", "é"])
def test_invalid_label_names(registry, legacy, cls, label):
    with fails(registry, ValueError, "Invalid label name: " + _(f'"{label}"')):
        make(cls, "bad_labels", registry, [label])
    make(cls, "bad_labels", registry, ["fine"])  # the failed attempt registered nothing


@pytest.mark.parametrize("cls", ALL_TYPES, ids=TYPE_IDS)
def test_utf8_names_are_accepted_without_legacy_validation(registry, cls):
    # prometheus_client 0.26's default: any UTF-8 name but an empty one; `__` stays reserved.
    make(cls, "9x.é", registry, ["a.b", "é"])
    with fails(registry, ValueError, "Invalid label name: " + _('""')):
        make(cls, "empty_label", registry, [""])


@pytest.mark.parametrize("cls", ALL_TYPES, ids=TYPE_IDS)
@pytest.mark.parametrize("label", ["__name__", "__x", "__"])
def test_double_underscore_label_names_are_reserved(registry, cls, label):
    with fails(registry, ValueError, "Invalid label name: " + _(f'"{label}"') + ".*not start with __"):
        make(cls, "reserved_labels", registry, ["ok", label])


def test_le_is_reserved_on_histograms(registry):
    with fails(registry, ValueError, _('Invalid label name "le" for "h": reserved for histogram buckets')):
        obsagent.Histogram("h", "H.", ["route", "le"], registry=registry)
    obsagent.Histogram("h", "H.", ["route"], registry=registry)  # the name was not taken


def test_quantile_is_reserved_on_summaries(registry):
    with fails(registry, ValueError, _('Invalid label name "quantile" for "s": reserved for summary quantiles')):
        obsagent.Summary("s", "S.", ["quantile"], registry=registry)
    obsagent.Summary("s", "S.", ["q"], registry=registry)


def test_le_and_quantile_are_fine_elsewhere(registry):
    gauge = obsagent.Gauge("free_labels", "G.", ["le", "quantile"], registry=registry)
    gauge.labels("1", "0.5").set(3)
    assert registry.get_sample_value("free_labels", {"le": "1", "quantile": "0.5"}) == 3


@pytest.mark.parametrize("cls", ALL_TYPES, ids=TYPE_IDS)
def test_duplicate_label_names(registry, cls):
    with fails(registry, ValueError, _('Invalid label name "a" for "dup"') + ".*given twice"):
        make(cls, "dup", registry, ["a", "b", "a"])


def test_enum_label_equal_to_its_name(registry):
    with fails(registry, ValueError, _('Invalid label name "phase" for "phase"') + ".*may not share its name"):
        obsagent.Enum("phase", "P.", ["worker", "phase"], states=["a"], registry=registry)


@pytest.mark.parametrize("states", [None, []])
def test_enum_without_states(registry, states):
    with fails(registry, ValueError, _('Enum "phase" needs at least one state')):
        obsagent.Enum("phase", "P.", states=states, registry=registry)


def test_unknown_enum_state_keeps_the_current_state(registry):
    enum = obsagent.Enum("phase", "P.", states=["init", "run"], registry=registry)
    enum.state("run")
    with fails(registry, ValueError, _('Enum "phase" has no state "done"; states are ["init", "run"]')):
        enum.state("done")
    assert registry.get_sample_value("phase", {"phase": "run"}) == 1
    assert registry.get_sample_value("phase", {"phase": "init"}) == 0


def test_info_keys_overlapping_label_names_keep_the_previous_info(registry):
    info = obsagent.Info("build", "B.", ["host"], registry=registry)
    info.labels("h1").info({"version": "1"})
    with fails(registry, ValueError, _('Invalid label name "host" for "build": Info keys overlap')):
        info.labels("h1").info({"host": "x", "version": "2"})
    assert registry.get_sample_value("build_info", {"host": "h1", "version": "1"}) == 1


@pytest.mark.parametrize("key", ["bad-key", "__x", "1a", ""])
def test_info_keys_must_be_label_names(registry, key):
    info = obsagent.Info("build", "B.", registry=registry)
    info.info({"version": "1"})
    with fails(registry, ValueError, "Invalid label name: " + _(f'"{key}"')):
        info.info({key: "x"})
    assert registry.get_sample_value("build_info", {"version": "1"}) == 1


@pytest.mark.parametrize("cls", [obsagent.Info, obsagent.Enum], ids=["Info", "Enum"])
def test_unit_on_info_or_enum(registry, cls):
    with fails(registry, ValueError, "Metric name is of a type that cannot have a unit: state_seconds"):
        make(cls, "state", registry, unit="seconds")
    make(cls, "state", registry)


# --- labels() --------------------------------------------------------------------------------


@pytest.fixture
def labeled(registry):
    counter = obsagent.Counter("requests", "R.", ["method", "path"], registry=registry)
    counter.labels("GET", "/").inc(3)
    return counter


EXPECTED = _('Incorrect labels for "requests": expected ["method", "path"], ')


@pytest.mark.parametrize(
    ("args", "kwargs", "detail"),
    [
        (("GET",), {}, "got 1 value$"),
        ((), {}, "got 0 values"),
        (("GET", "/", "x"), {}, "got 3 values"),
        ((), {"method": "GET"}, _('got names ["method"]')),
        ((), {"method": "GET", "route": "/"}, _('got names ["method", "route"]')),
        ((), {"method": "GET", "path": "/", "x": "1"}, _('got names ["method", "path", "x"]')),
    ],
)
def test_wrong_label_values(registry, labeled, args, kwargs, detail):
    with fails(registry, ValueError, EXPECTED + detail):
        labeled.labels(*args, **kwargs)
    assert registry.get_sample_value("requests_total", {"method": "GET", "path": "/"}) == 3


def test_mixing_positional_and_keyword_label_values(registry, labeled):
    with fails(registry, ValueError, _("Can't pass both *args and **kwargs to labels()")):
        labeled.labels("GET", path="/")


def test_remove_with_the_wrong_number_of_values(registry, labeled):
    with fails(registry, ValueError, EXPECTED + "got 1 value"):
        labeled.remove("GET")
    assert registry.get_sample_value("requests_total", {"method": "GET", "path": "/"}) == 3


@pytest.mark.parametrize("cls", ALL_TYPES, ids=TYPE_IDS)
@pytest.mark.parametrize(("args", "kwargs"), [(("x",), {}), ((), {"k": "x"}), ((), {})])
def test_labels_on_an_unlabeled_metric(registry, cls, args, kwargs):
    metric = make(cls, "plain", registry)
    with fails(registry, ValueError, _('No label names were set when constructing "plain"')):
        metric.labels(*args, **kwargs)


UPDATES = [
    (obsagent.Counter, "counter", lambda m: m.inc()),
    (obsagent.Counter, "counter", lambda m: m.inc(5)),
    (obsagent.Counter, "counter", lambda m: m.reset()),
    (obsagent.Gauge, "gauge", lambda m: m.inc()),
    (obsagent.Gauge, "gauge", lambda m: m.dec()),
    (obsagent.Gauge, "gauge", lambda m: m.set(1)),
    (obsagent.Gauge, "gauge", lambda m: m.set_to_current_time()),
    (obsagent.Gauge, "gauge", lambda m: m.set_function(lambda: 1)),
    (obsagent.Histogram, "histogram", lambda m: m.observe(1)),
    (obsagent.Histogram, "histogram", lambda m: m.observe_many([1, 2])),
    (obsagent.Histogram, "histogram", lambda m: m.observe_many(np.array([1.0]))),
    (obsagent.Summary, "summary", lambda m: m.observe(1)),
    (obsagent.Info, "info", lambda m: m.info({"v": "1"})),
    (obsagent.Enum, "stateset", lambda m: m.state("a")),
]


@pytest.mark.parametrize(("cls", "typ", "update"), UPDATES)
def test_updating_a_labeled_parent(registry, cls, typ, update):
    metric = make(cls, "parent", registry, ["k"])
    metric.labels("x")
    message = f'{typ} metric "parent" is missing label values: it has label names ["k"], call .labels(...) before'
    with fails(registry, ValueError, _(message)):
        update(metric)


@pytest.mark.parametrize(
    ("cls", "use"),
    [
        (obsagent.Histogram, lambda m: m.time()),
        (obsagent.Summary, lambda m: m.time()),
        (obsagent.Gauge, lambda m: m.time()),
        (obsagent.Counter, lambda m: m.count_exceptions()),
    ],
    ids=["Histogram.time", "Summary.time", "Gauge.time", "Counter.count_exceptions"],
)
def test_helpers_on_a_labeled_parent(registry, cls, use):
    metric = make(cls, "parent", registry, ["k"])
    metric.labels("x")
    with fails(registry, ValueError, _("call .labels(...) before updating it")):
        with use(metric):
            raise RuntimeError("counted")


@pytest.mark.parametrize("cls", ALL_TYPES, ids=TYPE_IDS)
def test_chaining_labels_on_a_child(registry, cls):
    metric = make(cls, "chained", registry, ["k"])
    child = metric.labels("x")
    with fails(registry, ValueError, _('"chained" already has labels set; can not chain calls to .labels()')):
        child.labels("y")
    with fails(registry, ValueError, "already has labels set"):
        child.labels(k="y")


# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "shown"), [(-1, "-1"), (-0.5, "-0.5"), (-math.inf, "-inf"), (math.nan, "NaN")])
def test_negative_or_nan_counter_increments(registry, amount, shown):
    counter = obsagent.Counter("events", "E.", ["k"], registry=registry)
    counter.labels("a").inc(2)
    with fails(
        registry,
        ValueError,
        _('Counters can only be incremented by non-negative amounts: "events" got ') + "(?i:" + _(shown) + ")",
    ):
        counter.labels("a").inc(amount)
    assert registry.get_sample_value("events_total", {"k": "a"}) == 2


NON_NUMBERS = ["1", "high", None, [1], {}, object(), b"1", 1j]


@pytest.mark.parametrize("value", NON_NUMBERS, ids=repr)
@pytest.mark.parametrize(
    "update",
    [
        lambda r, v: obsagent.Counter("n", "N.", registry=r).inc(v),
        lambda r, v: obsagent.Gauge("n", "N.", registry=r).inc(v),
        lambda r, v: obsagent.Gauge("n", "N.", registry=r).dec(v),
        lambda r, v: obsagent.Gauge("n", "N.", registry=r).set(v),
        lambda r, v: obsagent.Histogram("n", "N.", registry=r).observe(v),
        lambda r, v: obsagent.Summary("n", "N.", registry=r).observe(v),
        lambda r, v: obsagent.Histogram("n", "N.", registry=r).observe_many([0.5, v, 1.5]),
    ],
    ids=["Counter.inc", "Gauge.inc", "Gauge.dec", "Gauge.set", "Histogram.observe", "Summary.observe", "observe_many"],
)
def test_non_numeric_values_are_type_errors(registry, update, value):
    with pytest.raises(TypeError):
        update(registry, value)
    # The metric made by the failed call keeps its zero value: a batch is all-or-nothing.
    for metric in registry.collect():
        if metric.name == "n":
            assert all(s.value == 0 for s in metric.samples), metric.samples


def test_a_failing_generator_in_observe_many_records_nothing(registry):
    histogram = obsagent.Histogram("batch", "B.", buckets=[1], registry=registry)
    histogram.observe(0.5)

    def values():
        yield 0.1
        yield 0.2
        raise OSError("disk went away")

    with fails(registry, OSError, "disk went away"):
        histogram.observe_many(values())
    assert registry.get_sample_value("batch_count") == 1


@pytest.mark.parametrize("values", [5, None, 2.5])
def test_observe_many_needs_an_iterable(registry, values):
    histogram = obsagent.Histogram("batch", "B.", registry=registry)
    with fails(registry, TypeError, "not iterable"):
        histogram.observe_many(values)


@pytest.mark.parametrize("dtype", [">f8", "?", "U1"])
def test_observe_many_refuses_arrays_it_cannot_read(registry, dtype):
    histogram = obsagent.Histogram("batch", "B.", registry=registry)
    array = np.zeros(3, dtype=dtype)
    with fails(registry, TypeError, "observe_many needs a buffer of native-endian floats or integers"):
        histogram.observe_many(array)


def test_info_values_must_be_strings(registry):
    info = obsagent.Info("build", "B.", registry=registry)
    info.info({"version": "1"})
    with fails(registry, TypeError, "str"):
        info.info({"version": 2})
    assert registry.get_sample_value("build_info", {"version": "1"}) == 1


# --- definitions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("buckets", "message"),
    [
        ([2, 1], _("Histogram buckets not in strictly increasing order: [2.0, 1.0]")),
        ([1, 1], _("Histogram buckets not in strictly increasing order: [1.0, 1.0]")),
        ([1, 5, 3, math.inf], "not in strictly increasing order"),
        ([math.inf, 1], "not in strictly increasing order"),
        ([1, math.nan], "Histogram buckets must not be NaN"),
        ([], "Histogram must have at least two buckets"),
        ([math.inf], "Histogram must have at least two buckets"),
    ],
)
def test_bad_buckets(registry, buckets, message):
    with fails(registry, ValueError, message):
        obsagent.Histogram("h", "H.", buckets=buckets, registry=registry)
    obsagent.Histogram("h", "H.", buckets=[1, 2], registry=registry)


@pytest.mark.parametrize("cls", ALL_TYPES, ids=TYPE_IDS)
def test_labelnames_as_one_string_is_a_type_error(registry, cls):
    with fails(registry, TypeError, "labelnames must be a sequence of strings, not a single string"):
        make(cls, "one_string", registry, "method")
    make(cls, "one_string", registry, ["method"])


def test_invalid_gauge_multiprocess_mode(registry):
    with fails(registry, ValueError, _('Invalid multiprocess mode: "median"') + ".*livemostrecent"):
        obsagent.Gauge("g", "G.", multiprocess_mode="median", registry=registry)
    obsagent.Gauge("g", "G.", multiprocess_mode="livesum", registry=registry).set(1)
    assert registry.get_sample_value("g") == 1


# --- registration ----------------------------------------------------------------------------


def test_registering_the_same_name_twice(registry):
    first = obsagent.Counter("jobs", "J.", registry=registry)
    first.inc(4)
    with fails(
        registry, ValueError, _("Duplicated timeseries in CollectorRegistry: {'jobs', 'jobs_created', 'jobs_total'}")
    ):
        obsagent.Counter("jobs", "J.", registry=registry)
    with fails(registry, ValueError, _("Duplicated timeseries in CollectorRegistry: {'jobs_total'}")):
        obsagent.Gauge("jobs_total", "J.", registry=registry)
    with fails(registry, ValueError, "Duplicated timeseries in CollectorRegistry"):
        obsagent.Counter("jobs_total", "J.", registry=registry)
    first.inc()
    assert registry.get_sample_value("jobs_total") == 5


def test_counter_a_against_gauge_a_total(registry):
    obsagent.Counter("a", "A.", registry=registry).inc()
    with fails(registry, ValueError, _("Duplicated timeseries in CollectorRegistry: {'a_total'}")):
        obsagent.Gauge("a_total", "A.", registry=registry)
    assert registry.get_sample_value("a_total") == 1


def test_gauge_a_total_against_counter_a(registry):
    obsagent.Gauge("a_total", "A.", registry=registry).set(9)
    with fails(registry, ValueError, "Duplicated timeseries in CollectorRegistry: .*'a_total'"):
        obsagent.Counter("a", "A.", registry=registry)
    assert registry.get_sample_value("a_total") == 9


def test_histogram_suffixes_collide(registry):
    obsagent.Histogram("lat", "L.", registry=registry)
    with fails(registry, ValueError, _("Duplicated timeseries in CollectorRegistry: {'lat_bucket'}")):
        obsagent.Gauge("lat_bucket", "L.", registry=registry)
    with fails(registry, ValueError, _("Duplicated timeseries in CollectorRegistry: {'lat_count'}")):
        obsagent.Counter("lat_count", "L.", registry=registry)


def test_registering_the_same_object_twice(registry):
    counter = obsagent.Counter("once", "O.", registry=registry)
    with fails(registry, ValueError, "Collector already registered in this registry|Duplicated timeseries"):
        registry.register(counter)


def test_the_same_name_in_two_registries_is_fine(registry):
    other = obsagent.CollectorRegistry()
    obsagent.Counter("shared", "S.", registry=registry).inc(1)
    obsagent.Counter("shared", "S.", registry=other).inc(2)
    assert registry.get_sample_value("shared_total") == 1
    assert other.get_sample_value("shared_total") == 2


def test_unregistering_what_was_never_registered(registry):
    stray = obsagent.Counter("stray", "S.", registry=None)
    with fails(registry, KeyError, "is not registered"):
        registry.unregister(stray)


def test_unregistering_twice(registry):
    gone = obsagent.Counter("gone", "G.", registry=registry)
    registry.unregister(gone)
    with fails(registry, KeyError, "is not registered"):
        registry.unregister(gone)


def test_unregistering_an_unknown_collector_object(registry):
    class Never:
        def collect(self):
            return []

    with fails(registry, KeyError, "is not registered"):
        registry.unregister(Never())


# --- collectors that fail --------------------------------------------------------------------


class MyError(Exception):
    pass


RAISED = [
    ZeroDivisionError("the collector divided by zero"),
    MyError("custom failure", 42),
    KeyError("missing"),
    OSError(5, "input/output error"),
    RuntimeError("runtime"),
    ValueError("bad value"),
]


@pytest.mark.parametrize("exception", RAISED, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("generator", [False, True], ids=["returns", "generator"])
@pytest.mark.parametrize("encode", [obsagent.generate_latest, generate_openmetrics], ids=["text", "openmetrics"])
def test_a_raising_collector_raises_through_generate_latest_unchanged(registry, exception, generator, encode):
    class Broken:
        if generator:

            def collect(self):
                yield obsagent.GaugeMetricFamily("half_done", "Yielded before the failure.", value=1)
                raise exception

        else:

            def collect(self):
                raise exception

    before = obsagent.generate_latest(registry)
    broken = Broken()
    registry.register(broken)
    with pytest.raises(type(exception)) as info:
        encode(registry)
    assert type(info.value) is type(exception)
    assert str(info.value) == str(exception)
    assert info.value.args == exception.args
    # Again: a failure does not poison the registry.
    with pytest.raises(type(exception)):
        encode(registry)
    registry.unregister(broken)
    assert obsagent.generate_latest(registry) == before
    obsagent.Counter("after", "A.", registry=registry).inc()
    assert registry.get_sample_value("after_total") == 1
    assert registry.get_sample_value("kept_total") == 7


def test_a_raising_collector_raises_through_collect_and_get_sample_value(registry):
    class Broken:
        def collect(self):
            raise MyError("broken")

    broken = Broken()
    registry.register(broken)
    with pytest.raises(MyError, match="broken"):
        list(registry.collect())
    with pytest.raises(MyError, match="broken"):
        registry.get_sample_value("kept_total")
    registry.unregister(broken)
    assert registry.get_sample_value("kept_total") == 7


@pytest.mark.parametrize(
    ("make_family", "exception", "message"),
    [
        (lambda: obsagent.GaugeMetricFamily("9bad", "B.", value=1), ValueError, 'Invalid metric name: "9bad"'),
        (lambda: obsagent.GaugeMetricFamily("g", "G.", labels=["a-b"]), ValueError, 'Invalid label name: "a-b"'),
        (lambda: obsagent.Metric("m", "M.", "nonsense"), ValueError, "Invalid metric type"),
        (
            lambda: obsagent.GaugeMetricFamily("g", "G.", value=1, labels=["a"]),
            ValueError,
            "at most one of value and labels",
        ),
        (lambda: obsagent.SummaryMetricFamily("s", "S.", count_value=1), ValueError, "must be provided together"),
        (lambda: obsagent.HistogramMetricFamily("h", "H.", sum_value=1), ValueError, "without buckets"),
    ],
)
def test_bad_metric_families(legacy, make_family, exception, message):
    with pytest.raises(exception, match=message):
        make_family()


def test_add_metric_with_the_wrong_number_of_label_values():
    family = obsagent.CounterMetricFamily("c", "C.", labels=["a", "b"])
    with pytest.raises(ValueError, match="Incorrect labels for 'c'"):
        family.add_metric(["x"], 1)
    assert family.samples == []
