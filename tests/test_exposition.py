"""Golden files shared with tests/encode_golden.rs: the same metrics built through the Python
API must render to the very bytes the Rust core renders (text 0.0.4 and OpenMetrics)."""

from __future__ import annotations

import math

import pytest

import obsagent
from conftest import compare_golden
from obsagent import _native
from obsagent.openmetrics.exposition import generate_latest as generate_openmetrics


def counters(r):
    requests = obsagent.Counter("requests_total", "Requests handled.", ["method", "path"], registry=r)
    requests.labels("GET", "/api").inc(3)
    requests.labels(method="POST", path='/a"b\\c\nd').inc(1.5)
    obsagent.Counter("jobs", "Jobs run.", registry=r).inc(1234567)


def gauges(r):
    obsagent.Gauge("temperature", 'Temperature.\nIn \\ degrees "C".', unit="celsius", registry=r).set(-2.5)
    depth = obsagent.Gauge("queue_depth", "Jobs waiting.", ["queue"], registry=r)
    depth.labels("default").set(7)
    depth.labels("überlauf").set(math.inf)
    depth.labels("broken").set(math.nan)
    depth.labels("tiny").set(0.000012)


def histograms(r):
    latency = obsagent.Histogram("request_latency", "Latency.", ["method"], unit="seconds", registry=r)
    for v in (0.003, 0.1, 0.4, 12):
        latency.labels("GET").observe(v)
    latency.labels("POST")
    obsagent.Histogram("sizes", "Sizes.", buckets=[1, 2.5, 1e6], registry=r).observe(5)


def summaries(r):
    payload = obsagent.Summary("payload", "Payload sizes.", unit="bytes", registry=r)
    payload.observe(100)
    payload.observe(300.5)


def infos(r):
    obsagent.Info("build", "Build facts.", registry=r).info({"version": "1.2.3", "commit": 'abc"1'})
    obsagent.Info("component", "Components.", ["name"], registry=r).labels("db").info({"driver": "pg"})


def enums(r):
    states = ["starting", "running", "stopped"]
    obsagent.Enum("task_state", "Task state.", states=states, registry=r).state("running")
    obsagent.Enum("worker_state", "Worker state.", ["worker"], states=states, registry=r).labels("w1")


def created(r):
    _native._freeze_time(1_700_000_000.5)
    try:
        obsagent.Counter("created_jobs", "Jobs.", ["queue"], registry=r).labels("a").inc(2)
        obsagent.Histogram("created_latency", "Latency.", buckets=[1], registry=r).observe(0.5)
        obsagent.Summary("created_sizes", "Sizes.", registry=r).observe(3)
    finally:
        _native._freeze_time(None)


CASES = {
    "counter": counters,
    "gauge": gauges,
    "histogram": histograms,
    "summary": summaries,
    "info": infos,
    "enum": enums,
    "created": created,
}


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    registry = obsagent.CollectorRegistry()
    CASES[case](registry)
    # Shared with the Rust side, which writes `_created` for this case only (the fixture in
    # conftest puts the setting back).
    (obsagent.enable_created_metrics if case == "created" else obsagent.disable_created_metrics)()
    compare_golden(f"text/{case}.prom", obsagent.generate_latest(registry))
    compare_golden(f"openmetrics/{case}.txt", generate_openmetrics(registry))


@pytest.mark.parametrize("case", CASES)
def test_golden_files_pass_promtool(case: str) -> None:
    """The golden text files are valid for Prometheus' own linter (problems, not just syntax)."""
    import subprocess

    from conftest import GOLDEN, peer

    result = subprocess.run(
        [peer("promtool"), "check", "metrics"],
        input=(GOLDEN / f"text/{case}.prom").read_bytes(),
        capture_output=True,
    )
    # promtool exits 1 on lint findings too; syntax errors and lint problems both fail here.
    assert result.returncode == 0, result.stderr.decode() + result.stdout.decode()


def test_write_to_textfile_is_atomic_and_matches_generate_latest(tmp_path, registry):
    obsagent.Gauge("textfile_value", "Value.", registry=registry).set(3)
    path = tmp_path / "metrics.prom"
    obsagent.write_to_textfile(str(path), registry)
    assert path.read_bytes() == obsagent.generate_latest(registry)
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.prom"]


def test_generate_latest_accepts_any_collector_object(registry):
    family = obsagent.GaugeMetricFamily("loose", "Not in a registry.", value=1)
    collector = type("Loose", (), {"collect": lambda self: [family]})()
    assert obsagent.generate_latest(collector) == b"# HELP loose Not in a registry.\n# TYPE loose gauge\nloose 1.0\n"
