"""`obsagent rules` and `obsagent dashboard`: promtool checks the rules file, promtool's unit
tests fire every alert on synthetic series above its threshold and keep it quiet below, and the
dashboard is well-formed Grafana JSON whose every query names metrics obsagent exports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import (
    OBSAGENT,
    alert_unit_tests,
    check_rules,
    firing,
    order_traffic,
    prometheus_over_app_and_node,
    query,
    run_alert_unit_tests,
)
from conftest import input_series as series
from obsagent.dashboard import expressions
from obsagent.rules import Thresholds, alerts, gpu_health_alerts, rules

TARGET = {"job": "app", "instance": "host:9100"}
ENDPOINT = {**TARGET, "method": "GET", "endpoint": "/orders/{id}"}
GPU = {**TARGET, "gpu": "0", "uuid": "GPU-1", "name": "NVIDIA H100"}
DISK = {**TARGET, "device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/"}


def latency(seconds_bucket: str) -> list[dict[str, str]]:
    """Ten requests a minute, all in the bucket ending at `seconds_bucket`."""
    bounds = ["0.25", "0.5", "1.0", "2.5", "+Inf"]
    return [
        series(
            "http_request_duration_seconds_bucket",
            {**ENDPOINT, "le": le},
            "0+10x40" if float(le) >= float(seconds_bucket) else "0x40",
        )
        for le in bounds
    ]


# alert -> (series that fire it, series that keep it quiet, labels of the alert)
CASES = {
    "HighAPILatency": (latency("1.0"), latency("0.25"), ENDPOINT),
    "CriticalAPILatency": (latency("2.5"), latency("1.0"), ENDPOINT),
    "HighErrorRate": (
        [
            series("http_requests_total", {**ENDPOINT, "status": "500"}, "0+5x40"),
            series("http_requests_total", {**ENDPOINT, "status": "200"}, "0+95x40"),
        ],
        [
            series("http_requests_total", {**ENDPOINT, "status": "500"}, "0x40"),
            series("http_requests_total", {**ENDPOINT, "status": "200"}, "0+95x40"),
        ],
        ENDPOINT,
    ),
    "DiskSpaceLow": (
        [series("node_filesystem_avail_bytes", DISK, "10x40"), series("node_filesystem_size_bytes", DISK, "100x40")],
        [series("node_filesystem_avail_bytes", DISK, "50x40"), series("node_filesystem_size_bytes", DISK, "100x40")],
        DISK,
    ),
    "HighCPUUsage": (
        [series("node_cpu_seconds_total", {**TARGET, "cpu": "0", "mode": "idle"}, "0+6x40")],
        [series("node_cpu_seconds_total", {**TARGET, "cpu": "0", "mode": "idle"}, "0+54x40")],
        TARGET,
    ),
    "HighMemoryUsage": (
        [
            series("node_memory_MemAvailable_bytes", TARGET, "5x40"),
            series("node_memory_MemTotal_bytes", TARGET, "100x40"),
        ],
        [
            series("node_memory_MemAvailable_bytes", TARGET, "50x40"),
            series("node_memory_MemTotal_bytes", TARGET, "100x40"),
        ],
        TARGET,
    ),
    "GPUMemoryExhaustion": (
        [series("nvidia_gpu_memory_used_bytes", GPU, "97x40"), series("nvidia_gpu_memory_total_bytes", GPU, "100x40")],
        [series("nvidia_gpu_memory_used_bytes", GPU, "50x40"), series("nvidia_gpu_memory_total_bytes", GPU, "100x40")],
        GPU,
    ),
    "GPUHighTemperature": (
        [series("nvidia_gpu_temperature_celsius", GPU, "90x40")],
        [series("nvidia_gpu_temperature_celsius", GPU, "60x40")],
        GPU,
    ),
    "GPULost": ([series("nvidia_gpu_lost", GPU, "1x40")], [series("nvidia_gpu_lost", GPU, "0x40")], GPU),
    "InstanceDown": ([series("up", TARGET, "0x40")], [series("up", TARGET, "1x40")], TARGET),
    "CollectorFailing": (
        [series("node_scrape_collector_success", {**TARGET, "collector": "filesystem"}, "0x40")],
        [series("node_scrape_collector_success", {**TARGET, "collector": "filesystem"}, "1x40")],
        {**TARGET, "collector": "filesystem"},
    ),
    "RemoteWriteFailing": (
        [series("obsagent_remote_write_samples_failed_total", TARGET, "0+10x40")],
        [series("obsagent_remote_write_samples_failed_total", TARGET, "0x40")],
        TARGET,
    ),
}


@pytest.fixture
def rules_file(tmp_path) -> Path:
    result = subprocess.run([*OBSAGENT, "rules"], capture_output=True, text=True, check=True)
    path = tmp_path / "obsagent-rules.yml"
    path.write_text(result.stdout)
    return path


def test_promtool_checks_the_rules_file(rules_file):
    assert f"SUCCESS: {17 + len(gpu_health_alerts())} rules found" in check_rules(rules_file)


def test_every_alert_has_a_unit_test():
    assert set(CASES) == {alert.name for alert in alerts(Thresholds())}


def test_promtool_unit_tests_fire_each_alert_above_its_threshold_only(rules_file):
    tests = []
    for alert in alerts(Thresholds()):
        fires, quiet, labels = CASES[alert.name]
        expected = firing(alert.rule(Thresholds().runbook_url), labels)
        tests += alert_unit_tests(alert.name, [(fires, [expected]), (quiet, [])])
    run_alert_unit_tests(rules_file, tests)


def test_thresholds_are_flags(tmp_path):
    result = subprocess.run(
        [*OBSAGENT, "rules", "--cpu-percent", "95", "--runbook-url", "https://wiki/{alert}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "[5m])) * 100 > 95.0" in result.stdout
    assert '"https://wiki/highcpuusage"' in result.stdout
    assert rules(Thresholds(cpu_percent=95.0))["groups"][1]["rules"][4]["expr"].endswith("> 95.0")
    bad = subprocess.run([*OBSAGENT, "rules", "--cpu-percent", "lots"], capture_output=True, text=True)
    assert bad.returncode == 2 and "lots" in bad.stderr


def test_dashboard_is_grafana_json_over_obsagent_metrics():
    result = subprocess.run([*OBSAGENT, "dashboard"], capture_output=True, text=True, check=True)
    board = json.loads(result.stdout)
    assert board["schemaVersion"] >= 39
    variables = [v["name"] for v in board["templating"]["list"]]
    assert variables == ["datasource", "job", "instance", "environment", "gpu"]
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == ["Overview", "HTTP", "System", "GPU"]  # an SLOs row only with objectives
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for metric in ["http_requests_total", "node_cpu_seconds_total", "nvidia_gpu_temperature_celsius"]:
        assert any(metric in e for e in exprs), metric


def concrete(expr: str) -> str:
    """A dashboard query as Grafana sends it with every variable on All (and a minute's range)."""
    for variable, value in [("$__rate_interval", "1m"), ("$__range", "1m"), ("$environment", ".*")]:
        expr = expr.replace(variable, value)
    return expr.replace("$job", ".*").replace("$instance", ".*").replace("$gpu", ".*")


def test_prometheus_evaluates_every_recording_rule_and_dashboard_query(rules_file, tmp_path):
    """obsagent (system collectors, the stand-in GPUs) and an instrumented app with 5xx, both
    scraped by a real Prometheus evaluating the rules: no query fails or comes back empty."""
    with prometheus_over_app_and_node(tmp_path, rules_file) as (base, app_port):
        order_traffic(base, app_port, until="endpoint:http_request_errors:ratio_rate5m > 0")
        for rule in rules()["groups"][0]["rules"]:
            assert query(base, rule["record"]), rule["record"]
        for expr in expressions():
            assert query(base, concrete(expr)), concrete(expr)
        ratio = query(base, 'endpoint:http_request_errors:ratio_rate5m{endpoint="/orders/{order_id}"}')
        assert 0.1 < float(ratio[0]["value"][1]) < 0.4, ratio
