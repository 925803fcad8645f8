"""The default exposition is byte for byte prometheus_client's for the same instrumentation
(issue 14): numbers as its ``floatToGoString`` prints them, ``_created`` series on by default,
the same layout. ``_created`` values are times, so they are compared as lines with the value
masked."""

from __future__ import annotations

import re

import prometheus_client
import prometheus_client.openmetrics.exposition
import pytest

import obsagent
import obsagent.openmetrics.exposition

VALUES = [0, 1, -1, 0.5, 2.5, 1e-05, 0.0001, 123456.7, 999999, 1e6, 1234567, 1.5e7, 1e10, -1e6, 1e16, 1e22, 0.1 + 0.2]


def instrument(lib, registry) -> None:
    counter = lib.Counter("jobs", "Jobs run.", ["queue"], registry=registry)
    for i, value in enumerate(VALUES):
        if value >= 0:
            counter.labels(f"q{i}").inc(value)
    gauge = lib.Gauge("depth", "Queue depth.", ["queue"], registry=registry)
    for i, value in enumerate(VALUES):
        gauge.labels(f"q{i}").set(value)
    histogram = lib.Histogram("latency_seconds", "Latency.", buckets=[0.1, 1, 2.5, 1e6], registry=registry)
    for value in (0.05, 0.5, 3, 7e6):
        histogram.observe(value)
    lib.Summary("size_bytes", "Sizes.", registry=registry).observe(512)
    lib.Info("build", "Build.", registry=registry).info({"version": "1.2.3"})
    lib.Enum("state", "State.", states=["up", "down"], registry=registry).state("down")
    lib.Counter("escaped", 'Help with \\ and \n and "quotes".', ["path"], registry=registry).labels('a"b\\c\nd').inc()


CREATED = re.compile(rb"^(\S+_created(?:\{.*\})?) \S+$", re.M)


def masked(exposition: bytes) -> bytes:
    return CREATED.sub(rb"\1 <time>", exposition)


def both(created: bool) -> tuple[bytes, bytes, bytes, bytes]:
    # conftest turns `_created` off for the other tests, through the environment.
    for lib in (obsagent, prometheus_client):
        (lib.enable_created_metrics if created else lib.disable_created_metrics)()
    try:
        theirs, ours = prometheus_client.CollectorRegistry(), obsagent.CollectorRegistry()
        instrument(prometheus_client, theirs)
        instrument(obsagent, ours)
        return (
            prometheus_client.generate_latest(theirs),
            obsagent.generate_latest(ours),
            prometheus_client.openmetrics.exposition.generate_latest(theirs),
            obsagent.openmetrics.exposition.generate_latest(ours),
        )
    finally:
        prometheus_client.disable_created_metrics()


@pytest.mark.parametrize("created", [True, False], ids=["default", "created-off"])
def test_text_is_prometheus_clients(created: bool) -> None:
    theirs, ours, _, _ = both(created)
    assert masked(ours).decode() == masked(theirs).decode()
    assert (b"_created" in ours) is created


@pytest.mark.parametrize("created", [True, False], ids=["default", "created-off"])
def test_openmetrics_is_prometheus_clients(created: bool) -> None:
    _, _, theirs, ours = both(created)
    assert masked(ours).decode() == masked(theirs).decode()


def test_created_values_are_times_of_creation() -> None:
    obsagent.enable_created_metrics()  # conftest's fixture restores the setting
    registry = obsagent.CollectorRegistry()
    obsagent.Counter("jobs", "Jobs.", registry=registry)
    value = registry.get_sample_value("jobs_created")
    assert value is not None and abs(value - __import__("time").time()) < 60


def test_float_to_go_string_is_prometheus_clients() -> None:
    from prometheus_client.utils import floatToGoString as theirs

    from obsagent.utils import floatToGoString

    for value in [*VALUES, float("inf"), float("-inf"), float("nan"), -0.0, 5e-324, "1.5", 3]:
        assert floatToGoString(value) == theirs(value), value


SCRAPE = (
    "import obsagent; r = obsagent.CollectorRegistry(); obsagent.Counter('jobs', 'Jobs.', registry=r).inc();"
    "print(obsagent.generate_latest(r).decode())"
)


@pytest.mark.parametrize(
    ("setting", "created"), [(None, True), ("true", False), ("1", False), ("T", False), ("false", True)]
)
def test_created_series_are_on_by_default_and_the_environment_turns_them_off(setting, created) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_DISABLE_CREATED_SERIES"}
    if setting is not None:
        env["PROMETHEUS_DISABLE_CREATED_SERIES"] = setting
    out = subprocess.run([sys.executable, "-c", SCRAPE], env=env, capture_output=True, text=True, check=True).stdout
    assert "jobs_total 1.0\n" in out
    assert ("jobs_created " in out) is created, out
