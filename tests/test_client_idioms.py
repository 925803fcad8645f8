"""What users' own test suites do with prometheus_client's internals, which obsagent offers
(issue 14): read a value with ``_value.get()``, walk ``_metrics``, reset a registry through
``_collector_to_names``."""

from __future__ import annotations

import pytest

import obsagent
import obsagent.openmetrics.exposition
from obsagent.core import DuplicateTimeseries


def test_value_get_reads_counters_and_gauges_parent_and_child(registry):
    counter = obsagent.Counter("jobs", "Jobs.", ["queue"], registry=registry)
    counter.labels("a").inc(2.5)
    assert counter.labels("a")._value.get() == 2.5
    gauge = obsagent.Gauge("depth", "Depth.", registry=registry)
    gauge.set(7)
    assert gauge._value.get() == 7.0
    gauge._value.set(3)
    assert registry.get_sample_value("depth") == 3.0


def test_value_get_on_a_labeled_parent_raises_as_prometheus_client_does(registry):
    counter = obsagent.Counter("jobs", "Jobs.", ["queue"], registry=registry)
    with pytest.raises(ValueError, match="missing label values"):
        counter._value.get()


def test_metrics_maps_label_values_to_children(registry):
    counter = obsagent.Counter("jobs", "Jobs.", ["queue", "kind"], registry=registry)
    counter.labels("a", "x").inc()
    counter.labels("b", "y").inc(3)
    children = counter._metrics
    assert set(children) == {("a", "x"), ("b", "y")}
    assert children[("b", "y")]._value.get() == 3.0
    assert obsagent.Counter("plain", "P.", registry=registry)._metrics == {}


def test_a_registry_is_emptied_through_collector_to_names(registry):
    obsagent.Counter("jobs", "Jobs.", registry=registry).inc()
    obsagent.Histogram("latency", "Latency.", registry=registry).observe(1)

    class Custom:
        def collect(self):
            yield obsagent.GaugeMetricFamily("custom", "C.", value=1)

        def describe(self):
            return list(self.collect())

    registry.register(Custom())
    assert sorted(registry._collector_to_names[next(iter(registry._collector_to_names))]) == [
        "jobs",
        "jobs_created",
        "jobs_total",
    ]
    for collector in list(registry._collector_to_names):
        registry.unregister(collector)
    assert list(registry.collect()) == []
    obsagent.Counter("jobs", "Jobs.", registry=registry).inc()  # the names are free again
    assert registry.get_sample_value("jobs_total") == 1.0


def test_duplicate_registration_is_duplicate_timeseries_a_value_error(registry):
    obsagent.Counter("jobs", "Jobs.", registry=registry)
    with pytest.raises(DuplicateTimeseries) as raised:
        obsagent.Gauge("jobs_total", "Again.", registry=registry)
    assert isinstance(raised.value, ValueError)


def test_a_replaced_time_time_reaches_new_children_exemplars_and_set_to_current_time(registry, monkeypatch):
    """prometheus_client reads ``time.time()`` for these; users' tests replace it to pin them."""
    import time

    obsagent.enable_created_metrics()
    counter = obsagent.Counter("jobs", "Jobs.", ["queue"], registry=registry)
    counter.labels("before").inc()
    born = registry.get_sample_value("jobs_created", {"queue": "before"})
    monkeypatch.setattr(time, "time", lambda: 123.456)
    counter.labels("after").inc(exemplar={"trace_id": "abc"})
    counter.labels("before").inc()
    gauge = obsagent.Gauge("stamp", "Stamp.", registry=registry)
    gauge.set_to_current_time()
    assert registry.get_sample_value("jobs_created", {"queue": "after"}) == 123.456
    assert registry.get_sample_value("jobs_created", {"queue": "before"}) == born != 123.456
    assert registry.get_sample_value("stamp") == 123.456
    text = obsagent.openmetrics.exposition.generate_latest(registry).decode()
    assert 'jobs_total{queue="after"} 1.0 # {trace_id="abc"} 1.0 123.456\n' in text
    monkeypatch.undo()
    counter.labels("later").inc()
    assert abs(registry.get_sample_value("jobs_created", {"queue": "later"}) - time.time()) < 5
