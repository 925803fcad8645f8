"""API semantics of the metric classes, checked through ``registry.get_sample_value``."""

from __future__ import annotations

import array
import asyncio
import math
import threading
import time

import numpy as np
import prometheus_client
import pytest

import obsagent
from obsagent import _native


@pytest.fixture
def registry() -> obsagent.CollectorRegistry:
    return obsagent.CollectorRegistry()


def family_names(registry: obsagent.CollectorRegistry) -> list[str]:
    return [metric.name for metric in registry.collect()]


def sample_keys(registry: obsagent.CollectorRegistry) -> set[tuple[str, tuple]]:
    return {(s.name, tuple(sorted(s.labels.items()))) for m in registry.collect() for s in m.samples}


def histogram_state(registry: obsagent.CollectorRegistry, name: str) -> dict:
    """Every sample of one histogram family: {(sample name, sorted labels): value}."""
    for metric in registry.collect():
        if metric.name == name:
            return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in metric.samples}
    raise AssertionError(f"no family {name!r}")


# --- Counter ---------------------------------------------------------------------------------


def test_counter_starts_at_zero_and_increments_by_default_int_and_float(registry):
    counter = obsagent.Counter("events", "Events.", registry=registry)
    assert registry.get_sample_value("events_total") == 0
    counter.inc()
    assert registry.get_sample_value("events_total") == 1
    counter.inc(2)
    assert registry.get_sample_value("events_total") == 3
    counter.inc(0.25)
    assert registry.get_sample_value("events_total") == 3.25
    counter.inc(0)
    assert registry.get_sample_value("events_total") == 3.25
    counter.inc(amount=1e6)
    assert registry.get_sample_value("events_total") == 1e6 + 3.25


def test_counter_fractional_increments_accumulate_like_python_floats(registry):
    counter = obsagent.Counter("fractions", "Fractions.", registry=registry)
    expected = 0.0
    for _ in range(10):
        counter.inc(0.1)
        expected += 0.1
    assert registry.get_sample_value("fractions_total") == expected


def test_counter_total_suffix_is_stripped_from_the_family_and_exposed_once(registry):
    obsagent.Counter("requests_total", "Requests.", registry=registry).inc(4)
    assert family_names(registry) == ["requests"]
    assert registry.get_sample_value("requests_total") == 4
    assert registry.get_sample_value("requests_total_total") is None
    assert b"requests_total_total" not in obsagent.generate_latest(registry)


@pytest.mark.parametrize(
    ("kwargs", "family", "sample"),
    [
        ({"name": "jobs", "namespace": "app"}, "app_jobs", "app_jobs_total"),
        ({"name": "jobs", "subsystem": "worker"}, "worker_jobs", "worker_jobs_total"),
        ({"name": "jobs", "namespace": "app", "subsystem": "worker"}, "app_worker_jobs", "app_worker_jobs_total"),
        ({"name": "busy", "unit": "seconds"}, "busy_seconds", "busy_seconds_total"),
        ({"name": "busy_seconds", "unit": "seconds"}, "busy_seconds", "busy_seconds_total"),
        ({"name": "busy_total", "unit": "seconds"}, "busy_seconds", "busy_seconds_total"),
        (
            {"name": "busy", "namespace": "app", "subsystem": "worker", "unit": "seconds"},
            "app_worker_busy_seconds",
            "app_worker_busy_seconds_total",
        ),
    ],
)
def test_counter_name_building(registry, kwargs, family, sample):
    obsagent.Counter(documentation="Doc.", registry=registry, **kwargs).inc(3)
    assert family_names(registry) == [family]
    assert registry.get_sample_value(sample) == 3
    # prometheus_client builds the very same name.
    theirs = prometheus_client.CollectorRegistry()
    prometheus_client.Counter(documentation="Doc.", registry=theirs, **kwargs).inc(3)
    assert theirs.get_sample_value(sample) == 3


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"name": "temp", "unit": "celsius"}, "temp_celsius"),
        ({"name": "temp_celsius", "unit": "celsius"}, "temp_celsius"),
        ({"name": "temp", "namespace": "room", "unit": "celsius"}, "room_temp_celsius"),
    ],
)
def test_gauge_unit_is_appended_once(registry, kwargs, name):
    obsagent.Gauge(documentation="Doc.", registry=registry, **kwargs).set(21.5)
    assert family_names(registry) == [name]
    assert registry.get_sample_value(name) == 21.5


def test_counter_reset(registry):
    counter = obsagent.Counter("resettable", "R.", ["k"], registry=registry)
    counter.labels("a").inc(5)
    counter.labels("b").inc(2)
    counter.labels("a").reset()
    assert registry.get_sample_value("resettable_total", {"k": "a"}) == 0
    assert registry.get_sample_value("resettable_total", {"k": "b"}) == 2
    counter.labels("a").inc()
    assert registry.get_sample_value("resettable_total", {"k": "a"}) == 1


def test_unlabeled_counter_reset(registry):
    counter = obsagent.Counter("plain_reset", "R.", registry=registry)
    counter.inc(9)
    counter.reset()
    assert registry.get_sample_value("plain_reset_total") == 0


# --- Gauge -----------------------------------------------------------------------------------


def test_gauge_inc_dec_set(registry):
    gauge = obsagent.Gauge("level", "Level.", registry=registry)
    assert registry.get_sample_value("level") == 0
    gauge.inc()
    gauge.inc(2.5)
    assert registry.get_sample_value("level") == 3.5
    gauge.dec()
    assert registry.get_sample_value("level") == 2.5
    gauge.dec(10)
    assert registry.get_sample_value("level") == -7.5
    gauge.set(42)
    assert registry.get_sample_value("level") == 42
    gauge.set(-0.125)
    assert registry.get_sample_value("level") == -0.125
    gauge.inc(-1)
    assert registry.get_sample_value("level") == -1.125
    gauge.set(math.inf)
    assert registry.get_sample_value("level") == math.inf
    gauge.set(math.nan)
    assert math.isnan(registry.get_sample_value("level"))


def test_gauge_set_to_current_time(registry):
    gauge = obsagent.Gauge("last_seen", "Last seen.", registry=registry)
    before = time.time()
    gauge.set_to_current_time()
    after = time.time()
    value = registry.get_sample_value("last_seen")
    assert before - 1 <= value <= after + 1
    assert abs(value - time.time()) < 1


def test_gauge_set_function_is_read_at_collect_time(registry):
    gauge = obsagent.Gauge("queue_len", "Queue length.", registry=registry)
    queue: list[int] = []
    calls = []

    def length():
        calls.append(1)
        return len(queue)

    gauge.set_function(length)
    assert registry.get_sample_value("queue_len") == 0
    queue.extend([1, 2, 3])
    assert registry.get_sample_value("queue_len") == 3
    queue.pop()
    assert registry.get_sample_value("queue_len") == 2
    assert len(calls) >= 3
    assert b"queue_len 2" in obsagent.generate_latest(registry)


def test_gauge_set_function_returning_a_float(registry):
    gauge = obsagent.Gauge("ratio", "Ratio.", registry=registry)
    state = {"value": 0.25}
    gauge.set_function(lambda: state["value"])
    assert registry.get_sample_value("ratio") == 0.25
    state["value"] = -3.5
    assert registry.get_sample_value("ratio") == -3.5


def test_gauge_set_function_that_raises_gives_nan(registry):
    gauge = obsagent.Gauge("broken_fn", "Broken.", registry=registry)
    gauge.set_function(lambda: 1 / 0)
    assert math.isnan(registry.get_sample_value("broken_fn"))
    assert b"broken_fn NaN" in obsagent.generate_latest(registry)


def test_gauge_set_function_on_a_child(registry):
    gauge = obsagent.Gauge("pool_size", "Pool size.", ["pool"], registry=registry)
    sizes = {"a": 1}
    gauge.labels("a").set_function(lambda: sizes["a"])
    gauge.labels("b").set(7)
    sizes["a"] = 11
    assert registry.get_sample_value("pool_size", {"pool": "a"}) == 11
    assert registry.get_sample_value("pool_size", {"pool": "b"}) == 7


# --- Histogram -------------------------------------------------------------------------------


def test_histogram_observations_land_in_cumulative_buckets_including_boundaries(registry):
    histogram = obsagent.Histogram("latency", "Latency.", buckets=[1, 2.5, 5], registry=registry)
    for value in (0.5, 1, 1.0000001, 2.5, 3, 5, 7, -2):
        histogram.observe(value)

    def bucket(le):
        return registry.get_sample_value("latency_bucket", {"le": le})

    assert bucket("1.0") == 3  # 0.5, 1 (== bound) and -2
    assert bucket("2.5") == 5  # + 1.0000001, 2.5 (== bound)
    assert bucket("5.0") == 7  # + 3, 5 (== bound)
    assert bucket("+Inf") == 8
    assert registry.get_sample_value("latency_count") == 8
    assert registry.get_sample_value("latency_sum") == 0.5 + 1 + 1.0000001 + 2.5 + 3 + 5 + 7 - 2


def test_histogram_integer_observation(registry):
    histogram = obsagent.Histogram("sizes", "Sizes.", buckets=[10, 100], registry=registry)
    histogram.observe(10)
    histogram.observe(11)
    assert registry.get_sample_value("sizes_bucket", {"le": "10.0"}) == 1
    assert registry.get_sample_value("sizes_bucket", {"le": "100.0"}) == 2
    assert registry.get_sample_value("sizes_sum") == 21


def test_histogram_default_buckets_are_prometheus_clients():
    assert list(obsagent.Histogram.DEFAULT_BUCKETS) == list(prometheus_client.Histogram.DEFAULT_BUCKETS)


def test_histogram_default_bucket_labels_match_prometheus_client(registry):
    obsagent.Histogram("default_hist", "D.", registry=registry).observe(0.3)
    theirs = prometheus_client.CollectorRegistry()
    prometheus_client.Histogram("default_hist", "D.", registry=theirs).observe(0.3)

    def buckets(reg):
        return [(s.labels["le"], s.value) for m in reg.collect() for s in m.samples if s.name == "default_hist_bucket"]

    ours = buckets(registry)
    assert ours == buckets(theirs)
    assert len(ours) == 15
    assert ours[-1] == ("+Inf", 1)


@pytest.mark.parametrize(
    ("buckets", "expected_le"),
    [
        ([1, 2], ["1.0", "2.0", "+Inf"]),
        ((0.5, 10), ["0.5", "10.0", "+Inf"]),
        ([1, math.inf], ["1.0", "+Inf"]),
        ([-1, 0, 1e6], ["-1.0", "0.0", "1e+06", "+Inf"]),
    ],
)
def test_histogram_custom_buckets_get_inf_appended_once(registry, buckets, expected_le):
    histogram = obsagent.Histogram("custom", "C.", buckets=buckets, registry=registry)
    histogram.observe(1e9)
    les = [s.labels["le"] for m in registry.collect() for s in m.samples if s.name == "custom_bucket"]
    assert les == expected_le
    assert histogram._upper_bounds[-1] == math.inf
    assert registry.get_sample_value("custom_bucket", {"le": "+Inf"}) == 1
    # The same labels as prometheus_client gives.
    theirs = prometheus_client.CollectorRegistry()
    prometheus_client.Histogram("custom", "C.", buckets=buckets, registry=theirs)
    assert les == [s.labels["le"] for m in theirs.collect() for s in m.samples if s.name == "custom_bucket"]


DYADIC = [0.125 * i for i in range(-8, 120)] + [0.005, 0.01, 0.25, 1.0, 2.5, 5.0, 10.0, 1e6]


def _loop_reference(values, buckets) -> dict:
    registry = obsagent.CollectorRegistry()
    histogram = obsagent.Histogram("batch", "Batch.", buckets=buckets, registry=registry)
    for value in values:
        histogram.observe(float(value))
    return histogram_state(registry, "batch")


BATCHES = {
    "numpy_float64": lambda values: np.asarray(values, dtype=np.float64),
    "numpy_float32": lambda values: np.asarray(values, dtype=np.float32),
    "numpy_int64": lambda values: np.asarray(values, dtype=np.int64),
    "numpy_int32": lambda values: np.asarray(values, dtype=np.int32),
    "numpy_strided": lambda values: np.asarray(values + values, dtype=np.float64)[::2],
    "array_d": lambda values: array.array("d", values),
    "list": lambda values: list(values),
    "tuple": lambda values: tuple(values),
    "generator": lambda values: (v for v in values),
}


@pytest.mark.parametrize("kind", BATCHES)
@pytest.mark.parametrize("buckets", [None, [0, 1, 2.5, 5, 10, 100]], ids=["default", "custom"])
def test_observe_many_matches_a_loop_of_observe(registry, kind, buckets):
    values = [int(v) for v in DYADIC] if kind in ("numpy_int64", "numpy_int32") else DYADIC
    batch = BATCHES[kind](values)
    if isinstance(batch, np.ndarray):
        # What the array holds: float32 rounds 0.005 and co.; the strided view skips half.
        values = [float(v) for v in batch]
    reference = _loop_reference(values, buckets)

    histogram = obsagent.Histogram("batch", "Batch.", buckets=buckets, registry=registry)
    histogram.observe_many(batch)
    assert histogram_state(registry, "batch") == reference
    assert registry.get_sample_value("batch_count") == len(values)


@pytest.mark.parametrize("kind", ["numpy_float64", "numpy_float32", "array_d", "list", "generator"])
def test_observe_many_random_values_matches_a_loop_of_observe(registry, kind):
    rng = np.random.default_rng(1234)
    raw = rng.lognormal(mean=-2, sigma=2, size=5000)
    batch = BATCHES[kind](raw.tolist())
    # float32 rounds each value first; the loop must observe those rounded values.
    values = [float(v) for v in (raw.astype(np.float32) if kind == "numpy_float32" else raw)]
    reference = _loop_reference(values, None)
    histogram = obsagent.Histogram("batch", "Batch.", registry=registry)
    histogram.observe_many(batch)
    ours = histogram_state(registry, "batch")
    sum_key = ("batch_sum", ())
    assert {k: v for k, v in ours.items() if k != sum_key} == {k: v for k, v in reference.items() if k != sum_key}
    assert ours[sum_key] == pytest.approx(reference[sum_key], rel=1e-12)


def test_observe_many_adds_to_earlier_observations_and_works_on_children(registry):
    histogram = obsagent.Histogram("batch_child", "B.", ["route"], buckets=[1, 2], registry=registry)
    child = histogram.labels("/a")
    child.observe(0.5)
    child.observe_many(np.array([1.5, 3.0]))
    child.observe_many([])
    child.observe_many(np.array([], dtype=np.float64))
    assert registry.get_sample_value("batch_child_bucket", {"route": "/a", "le": "1.0"}) == 1
    assert registry.get_sample_value("batch_child_bucket", {"route": "/a", "le": "2.0"}) == 2
    assert registry.get_sample_value("batch_child_count", {"route": "/a"}) == 3
    assert registry.get_sample_value("batch_child_sum", {"route": "/a"}) == 5.0


def test_histogram_nan_observation_counts_in_inf_bucket_and_poisons_sum(registry):
    histogram = obsagent.Histogram("with_nan", "N.", buckets=[1, 2], registry=registry)
    histogram.observe(0.5)
    histogram.observe(math.nan)
    assert registry.get_sample_value("with_nan_bucket", {"le": "1.0"}) == 1
    assert registry.get_sample_value("with_nan_bucket", {"le": "2.0"}) == 1
    assert registry.get_sample_value("with_nan_bucket", {"le": "+Inf"}) == 2
    assert registry.get_sample_value("with_nan_count") == 2
    assert math.isnan(registry.get_sample_value("with_nan_sum"))


def test_histogram_nan_in_observe_many_behaves_like_observe(registry):
    values = [0.5, math.nan, 1.5]
    histogram = obsagent.Histogram("nan_batch", "N.", buckets=[1, 2], registry=registry)
    histogram.observe_many(np.array(values))
    assert registry.get_sample_value("nan_batch_bucket", {"le": "1.0"}) == 1
    assert registry.get_sample_value("nan_batch_bucket", {"le": "2.0"}) == 2
    assert registry.get_sample_value("nan_batch_bucket", {"le": "+Inf"}) == 3
    assert registry.get_sample_value("nan_batch_count") == 3
    assert math.isnan(registry.get_sample_value("nan_batch_sum"))


def test_histogram_infinite_observations(registry):
    histogram = obsagent.Histogram("infs", "I.", buckets=[1], registry=registry)
    histogram.observe(math.inf)
    histogram.observe(-math.inf)
    assert registry.get_sample_value("infs_bucket", {"le": "1.0"}) == 1
    assert registry.get_sample_value("infs_bucket", {"le": "+Inf"}) == 2
    assert registry.get_sample_value("infs_count") == 2


# --- Summary, Info, Enum ---------------------------------------------------------------------


def test_summary_count_and_sum(registry):
    summary = obsagent.Summary("payload", "Payload.", registry=registry)
    assert registry.get_sample_value("payload_count") == 0
    assert registry.get_sample_value("payload_sum") == 0
    for value in (100, 250.5, 0, -3):
        summary.observe(value)
    assert registry.get_sample_value("payload_count") == 4
    assert registry.get_sample_value("payload_sum") == 347.5
    assert all(s.name in ("payload_count", "payload_sum") for m in registry.collect() for s in m.samples)


def test_labeled_summary(registry):
    summary = obsagent.Summary("op_seconds", "Op.", ["op"], registry=registry)
    summary.labels("read").observe(1.5)
    summary.labels(op="read").observe(2)
    summary.labels("write").observe(4)
    assert registry.get_sample_value("op_seconds_count", {"op": "read"}) == 2
    assert registry.get_sample_value("op_seconds_sum", {"op": "read"}) == 3.5
    assert registry.get_sample_value("op_seconds_count", {"op": "write"}) == 1


def test_info_without_labels(registry):
    info = obsagent.Info("build", "Build.", registry=registry)
    info.info({"version": "1.2.3", "commit": "abc"})
    assert registry.get_sample_value("build_info", {"version": "1.2.3", "commit": "abc"}) == 1
    info.info({"version": "2.0"})
    assert registry.get_sample_value("build_info", {"version": "2.0"}) == 1
    assert registry.get_sample_value("build_info", {"version": "1.2.3", "commit": "abc"}) is None
    assert [m.type for m in registry.collect()] == ["info"]


def test_info_with_labels(registry):
    info = obsagent.Info("component", "Components.", ["name"], registry=registry)
    info.labels("db").info({"driver": "pg"})
    info.labels(name="cache").info({"driver": "redis", "mode": "cluster"})
    assert registry.get_sample_value("component_info", {"name": "db", "driver": "pg"}) == 1
    assert registry.get_sample_value("component_info", {"name": "cache", "driver": "redis", "mode": "cluster"}) == 1
    assert len([s for m in registry.collect() for s in m.samples]) == 2


def test_enum_default_state_is_the_first_and_state_changes(registry):
    enum = obsagent.Enum("task_state", "State.", states=["starting", "running", "stopped"], registry=registry)

    def values():
        return {
            s: registry.get_sample_value("task_state", {"task_state": s}) for s in ("starting", "running", "stopped")
        }

    assert values() == {"starting": 1, "running": 0, "stopped": 0}
    enum.state("running")
    assert values() == {"starting": 0, "running": 1, "stopped": 0}
    enum.state("stopped")
    assert values() == {"starting": 0, "running": 0, "stopped": 1}
    enum.state("starting")
    assert values() == {"starting": 1, "running": 0, "stopped": 0}
    assert [m.type for m in registry.collect()] == ["stateset"]


def test_labeled_enum(registry):
    enum = obsagent.Enum("worker_state", "State.", ["worker"], states=["idle", "busy"], registry=registry)
    enum.labels("w1").state("busy")
    enum.labels("w2")
    assert registry.get_sample_value("worker_state", {"worker": "w1", "worker_state": "busy"}) == 1
    assert registry.get_sample_value("worker_state", {"worker": "w1", "worker_state": "idle"}) == 0
    assert registry.get_sample_value("worker_state", {"worker": "w2", "worker_state": "idle"}) == 1
    assert registry.get_sample_value("worker_state", {"worker": "w2", "worker_state": "busy"}) == 0


# --- labels, remove, clear -------------------------------------------------------------------


@pytest.mark.parametrize("cls", [obsagent.Counter, obsagent.Gauge, obsagent.Histogram, obsagent.Summary])
def test_labels_by_position_and_by_keyword_are_the_same_child(registry, cls):
    metric = cls("by_either", "E.", ["method", "path"], registry=registry)
    update = "inc" if cls in (obsagent.Counter, obsagent.Gauge) else "observe"
    getattr(metric.labels("GET", "/a"), update)(1)
    getattr(metric.labels(method="GET", path="/a"), update)(2)
    getattr(metric.labels(path="/a", method="GET"), update)(4)
    name = {
        obsagent.Counter: "by_either_total",
        obsagent.Gauge: "by_either",
        obsagent.Histogram: "by_either_sum",
        obsagent.Summary: "by_either_sum",
    }[cls]
    assert registry.get_sample_value(name, {"method": "GET", "path": "/a"}) == 7
    assert len({k for k in sample_keys(registry) if k[0] == name}) == 1
    assert metric.labels("GET", "/a")._labelvalues == ("GET", "/a")
    assert metric.labels(path="/a", method="GET")._labelvalues == ("GET", "/a")


def test_children_are_instances_of_the_native_type(registry):
    counter = obsagent.Counter("typed_children", "T.", ["k"], registry=registry)
    assert isinstance(counter.labels("x"), _native.Counter)
    gauge = obsagent.Gauge("typed_gauge", "T.", ["k"], registry=registry)
    assert isinstance(gauge.labels("x"), _native.Gauge)


@pytest.mark.parametrize(
    ("value", "text"),
    [(200, "200"), (3.5, "3.5"), (True, "True"), (None, "None"), (b"x", "b'x'")],
)
def test_non_str_label_values_go_through_str(registry, value, text):
    counter = obsagent.Counter("status", "Status.", ["code"], registry=registry)
    counter.labels(value).inc()
    counter.labels(code=value).inc()
    counter.labels(text).inc()
    assert registry.get_sample_value("status_total", {"code": text}) == 3
    assert sample_keys(registry) == {("status_total", (("code", text),))}


def test_remove_drops_one_series_and_clear_drops_all(registry):
    gauge = obsagent.Gauge("conns", "Connections.", ["host", "port"], registry=registry)
    gauge.labels("a", "1").set(1)
    gauge.labels("b", "2").set(2)
    gauge.labels("c", 3).set(3)
    gauge.remove("b", "2")
    assert sample_keys(registry) == {
        ("conns", (("host", "a"), ("port", "1"))),
        ("conns", (("host", "c"), ("port", "3"))),
    }
    gauge.remove("c", 3)  # non-str values are converted for remove() too
    assert sample_keys(registry) == {("conns", (("host", "a"), ("port", "1")))}
    gauge.clear()
    assert sample_keys(registry) == set()
    assert b"conns{" not in obsagent.generate_latest(registry)
    gauge.labels("a", "1").inc()
    assert registry.get_sample_value("conns", {"host": "a", "port": "1"}) == 1


def test_histogram_remove_drops_every_sample_of_the_series(registry):
    histogram = obsagent.Histogram("req", "R.", ["route"], buckets=[1], registry=registry)
    histogram.labels("/a").observe(0.5)
    histogram.labels("/b").observe(2)
    histogram.remove("/a")
    assert {labels for _, labels in sample_keys(registry)} == {
        (("le", "1.0"), ("route", "/b")),
        (("le", "+Inf"), ("route", "/b")),
        (("route", "/b"),),
    }


def test_a_removed_child_still_works_but_is_not_exported(registry):
    counter = obsagent.Counter("orphans", "O.", ["k"], registry=registry)
    child = counter.labels("x")
    child.inc(5)
    counter.remove("x")
    child.inc(3)  # must not crash
    assert registry.get_sample_value("orphans_total", {"k": "x"}) is None
    assert sample_keys(registry) == set()
    counter.labels("x").inc()
    assert registry.get_sample_value("orphans_total", {"k": "x"}) == 1

    histogram = obsagent.Histogram("orphan_hist", "O.", ["k"], registry=registry)
    hchild = histogram.labels("y")
    histogram.clear()
    hchild.observe(1)
    hchild.observe_many([1, 2])
    assert registry.get_sample_value("orphan_hist_count", {"k": "y"}) is None


# --- time(), count_exceptions(), track_inprogress() ------------------------------------------

SLEEP = 0.05


def _duration_samples(registry, cls, name):
    if cls is obsagent.Gauge:
        return 1, registry.get_sample_value(name)
    return registry.get_sample_value(name + "_count"), registry.get_sample_value(name + "_sum")


TIMED = [obsagent.Histogram, obsagent.Summary, obsagent.Gauge]


@pytest.mark.parametrize("cls", TIMED)
def test_time_as_context_manager(registry, cls):
    metric = cls("timed_block", "T.", registry=registry)
    with metric.time():
        time.sleep(SLEEP)
    count, duration = _duration_samples(registry, cls, "timed_block")
    assert count == 1
    assert SLEEP * 0.9 <= duration < SLEEP + 2


@pytest.mark.parametrize("cls", TIMED)
def test_time_as_decorator(registry, cls):
    metric = cls("timed_func", "T.", registry=registry)

    @metric.time()
    def work(x, *, y):
        time.sleep(SLEEP)
        return x + y

    assert work.__name__ == "work"
    assert work(1, y=2) == 3
    count, duration = _duration_samples(registry, cls, "timed_func")
    assert count == 1
    assert SLEEP * 0.9 <= duration < SLEEP + 2
    if cls is not obsagent.Gauge:
        work(0, y=0)
        count, duration = _duration_samples(registry, cls, "timed_func")
        assert count == 2
        assert 2 * SLEEP * 0.9 <= duration < 2 * SLEEP + 4


@pytest.mark.parametrize("cls", TIMED)
def test_time_as_decorator_of_a_coroutine_function(registry, cls):
    metric = cls("timed_async", "T.", registry=registry)

    @metric.time()
    async def work(x):
        await asyncio.sleep(SLEEP)
        return x * 2

    assert asyncio.iscoroutinefunction(work)
    assert asyncio.run(work(21)) == 42
    count, duration = _duration_samples(registry, cls, "timed_async")
    assert count == 1
    assert SLEEP * 0.9 <= duration < SLEEP + 2


@pytest.mark.parametrize("cls", TIMED)
def test_time_records_even_when_the_block_raises(registry, cls):
    metric = cls("timed_raise", "T.", registry=registry)
    with pytest.raises(KeyError):
        with metric.time():
            time.sleep(SLEEP)
            raise KeyError("boom")
    count, duration = _duration_samples(registry, cls, "timed_raise")
    assert count == 1
    assert SLEEP * 0.9 <= duration < SLEEP + 2


def test_histogram_time_lands_in_the_right_bucket(registry):
    histogram = obsagent.Histogram("timed_buckets", "T.", buckets=[0.01, 10], registry=registry)
    with histogram.time():
        time.sleep(SLEEP)
    assert registry.get_sample_value("timed_buckets_bucket", {"le": "0.01"}) == 0
    assert registry.get_sample_value("timed_buckets_bucket", {"le": "10.0"}) == 1


def test_time_on_a_labeled_child(registry):
    histogram = obsagent.Histogram("timed_child", "T.", ["route"], registry=registry)
    with histogram.labels("/x").time():
        time.sleep(SLEEP)
    assert registry.get_sample_value("timed_child_count", {"route": "/x"}) == 1
    assert registry.get_sample_value("timed_child_sum", {"route": "/x"}) >= SLEEP * 0.9


def test_count_exceptions_counts_only_the_given_type_and_reraises(registry):
    counter = obsagent.Counter("failures", "F.", registry=registry)
    with pytest.raises(ValueError, match="bad"):
        with counter.count_exceptions(ValueError):
            raise ValueError("bad")
    assert registry.get_sample_value("failures_total") == 1
    with pytest.raises(KeyError):
        with counter.count_exceptions(ValueError):
            raise KeyError("other")
    assert registry.get_sample_value("failures_total") == 1
    with counter.count_exceptions(ValueError):
        pass
    assert registry.get_sample_value("failures_total") == 1
    # A subclass of the given type counts.
    with pytest.raises(UnicodeDecodeError):
        with counter.count_exceptions(ValueError):
            b"\xff".decode("utf-8")
    assert registry.get_sample_value("failures_total") == 2
    # A tuple of types.
    with pytest.raises(KeyError):
        with counter.count_exceptions((KeyError, IndexError)):
            raise KeyError("k")
    assert registry.get_sample_value("failures_total") == 3


def test_count_exceptions_default_counts_any_exception(registry):
    counter = obsagent.Counter("any_failures", "F.", registry=registry)
    for exc in (ValueError("v"), KeyError("k"), RuntimeError("r")):
        with pytest.raises(type(exc)):
            with counter.count_exceptions():
                raise exc
    assert registry.get_sample_value("any_failures_total") == 3


def test_count_exceptions_as_decorator_sync_and_async(registry):
    counter = obsagent.Counter("decorated_failures", "F.", ["kind"], registry=registry)

    @counter.labels("sync").count_exceptions(ZeroDivisionError)
    def divide(a, b):
        return a / b

    @counter.labels("async").count_exceptions(ZeroDivisionError)
    async def adivide(a, b):
        return a / b

    assert divide(4, 2) == 2
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)
    with pytest.raises(TypeError):
        divide(1, "x")
    assert asyncio.run(adivide(9, 3)) == 3
    with pytest.raises(ZeroDivisionError):
        asyncio.run(adivide(1, 0))
    assert registry.get_sample_value("decorated_failures_total", {"kind": "sync"}) == 2
    assert registry.get_sample_value("decorated_failures_total", {"kind": "async"}) == 1


def test_track_inprogress_raises_then_lowers_the_gauge(registry):
    gauge = obsagent.Gauge("inprogress", "In progress.", registry=registry)
    with gauge.track_inprogress():
        assert registry.get_sample_value("inprogress") == 1
        with gauge.track_inprogress():
            assert registry.get_sample_value("inprogress") == 2
        assert registry.get_sample_value("inprogress") == 1
    assert registry.get_sample_value("inprogress") == 0
    with pytest.raises(RuntimeError):
        with gauge.track_inprogress():
            assert registry.get_sample_value("inprogress") == 1
            raise RuntimeError("fail")
    assert registry.get_sample_value("inprogress") == 0


def test_track_inprogress_as_decorator_sync_and_async(registry):
    gauge = obsagent.Gauge("inprogress_fn", "In progress.", registry=registry)
    seen = []

    @gauge.track_inprogress()
    def work():
        seen.append(registry.get_sample_value("inprogress_fn"))

    @gauge.track_inprogress()
    async def awork():
        seen.append(registry.get_sample_value("inprogress_fn"))
        await asyncio.sleep(0)
        seen.append(registry.get_sample_value("inprogress_fn"))

    work()
    asyncio.run(awork())
    assert seen == [1, 1, 1]
    assert registry.get_sample_value("inprogress_fn") == 0


# --- threads, registration -------------------------------------------------------------------


def test_concurrent_increments_are_exact(registry):
    counter = obsagent.Counter("contended", "C.", ["k"], registry=registry)
    child = counter.labels("x")
    barrier = threading.Barrier(4)

    def work():
        barrier.wait()
        for _ in range(50_000):
            child.inc()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert registry.get_sample_value("contended_total", {"k": "x"}) == 200_000


def test_concurrent_gauge_and_histogram_updates_are_exact(registry):
    gauge = obsagent.Gauge("contended_gauge", "G.", registry=registry)
    histogram = obsagent.Histogram("contended_hist", "H.", buckets=[1], registry=registry)
    barrier = threading.Barrier(4)

    def work(i):
        barrier.wait()
        for _ in range(20_000):
            gauge.inc(0.5)
            gauge.dec(0.25)
            histogram.observe(i % 2 * 2)  # 0 or 2

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert registry.get_sample_value("contended_gauge") == 4 * 20_000 * 0.25
    assert registry.get_sample_value("contended_hist_count") == 80_000
    assert registry.get_sample_value("contended_hist_bucket", {"le": "1.0"}) == 40_000
    assert registry.get_sample_value("contended_hist_sum") == 40_000 * 2


def test_metrics_register_in_the_default_registry_unless_told_otherwise():
    counter = obsagent.Counter("obsagent_test_default_registration", "D.")
    try:
        counter.inc(3)
        assert obsagent.REGISTRY.get_sample_value("obsagent_test_default_registration_total") == 3
    finally:
        obsagent.REGISTRY.unregister(counter)
    assert obsagent.REGISTRY.get_sample_value("obsagent_test_default_registration_total") is None


def test_registry_none_registers_nowhere(registry):
    counter = obsagent.Counter("unregistered", "U.", registry=None)
    counter.inc()
    assert obsagent.REGISTRY.get_sample_value("unregistered_total") is None
    registry.register(counter)
    assert registry.get_sample_value("unregistered_total") == 1


def test_unregister_removes_the_metric_and_frees_the_name(registry):
    counter = obsagent.Counter("transient", "T.", registry=registry)
    counter.inc()
    registry.unregister(counter)
    assert registry.get_sample_value("transient_total") is None
    assert obsagent.generate_latest(registry) == b""
    obsagent.Counter("transient", "T.", registry=registry).inc(2)
    assert registry.get_sample_value("transient_total") == 2


def test_created_series_can_be_disabled_and_enabled(registry):
    # On by default (tests/test_client_bytes.py); conftest turns them off for the tests.
    obsagent.disable_created_metrics()
    obsagent.Counter("with_created", "C.", registry=registry).inc()
    obsagent.Histogram("hist_created", "H.", registry=registry).observe(1)
    obsagent.Summary("summ_created", "S.", registry=registry).observe(1)
    assert registry.get_sample_value("with_created_created") is None
    before = time.time()
    obsagent.enable_created_metrics()
    try:
        for name in ("with_created_created", "hist_created_created", "summ_created_created"):
            created = registry.get_sample_value(name)
            assert created is not None, name
            assert before - 60 < created <= time.time() + 1
    finally:
        obsagent.disable_created_metrics()
    assert registry.get_sample_value("with_created_created") is None
