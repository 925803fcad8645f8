"""SLOs and rules files (``obsagent rules --slo`` / ``--config``): promtool checks every variant
of the rules file; promtool's unit tests fire each burn-rate alert at its burn rate and keep it
quiet below it and once the burning has stopped (the short window), and check each configured
label, ``for`` and runbook URL; bad input is a usage error that names the key."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_rules import concrete

from conftest import (
    OBSAGENT,
    check_rules,
    order_traffic,
    prometheus_over_app_and_node,
    promtool,
    query,
    wait_for,
)
from obsagent import slo
from obsagent.dashboard import expressions
from obsagent.rules import gpu_health_alerts, parse_config, rules, slug, to_yaml

APP = {"job": "app", "instance": "host:8000", "method": "GET", "endpoint": "/orders/{id}"}
#: Requests a minute in the synthetic series: enough that 0.1% of them is a round number.
PER_MINUTE = 100_000


def generate(tmp_path: Path, *args: str, name: str = "rules.yml") -> tuple[Path, dict]:
    """`obsagent rules ARGS` written to `tmp_path/name`, and the file as YAML reads it."""
    result = subprocess.run([*OBSAGENT, "rules", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    path = tmp_path / name
    path.write_text(result.stdout)
    return path, yaml.safe_load(result.stdout)


def alert_rules(data: dict) -> dict[str, dict]:
    return {rule["alert"]: rule for group in data["groups"] for rule in group["rules"] if "alert" in rule}


def counter(labels: dict[str, str], phases: list[tuple[float, int]], name: str = "http_requests_total") -> dict:
    """A counter rising by `per_step` for `steps` samples in each phase, in promtool's notation."""
    rendered = ",".join(f'{k}="{v}"' for k, v in labels.items())
    value, parts = 0.0, []
    for per_step, steps in phases:
        parts.append(f"{value:g}+{per_step:g}x{steps}")
        value += per_step * steps
    return {"series": f"{name}{{{rendered}}}", "values": " ".join(parts)}


def traffic(objective: slo.Objective, phases: list[tuple[float, int]], step_minutes: int) -> list[dict]:
    """`PER_MINUTE` requests a minute; in each `(bad ratio, steps)` phase that share of them is
    bad: a 5xx for availability, slower than the threshold for latency."""
    total = PER_MINUTE * step_minutes
    if objective.kind == "availability":
        return [
            counter({**APP, "status": "500"}, [(total * bad, steps) for bad, steps in phases]),
            counter({**APP, "status": "200"}, [(total * (1 - bad), steps) for bad, steps in phases]),
        ]
    le = {**APP, "le": f"{objective.threshold:.1f}"}  # as the Python clients write it: le="1.0"
    return [
        counter(le, [(total * (1 - bad), steps) for bad, steps in phases], "http_request_duration_seconds_bucket"),
        counter(APP, [(total, steps) for _, steps in phases], "http_request_duration_seconds_count"),
    ]


def rendered(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], template)


def expected(rule: dict, labels: dict[str, str]) -> dict:
    return {
        "exp_labels": {**labels, **rule["labels"]},
        "exp_annotations": {key: rendered(value, labels) for key, value in rule["annotations"].items()},
    }


def run_unit_tests(tmp_path: Path, rules_file: Path, files: dict[str, tuple[str, list[dict]]]) -> str:
    """promtool test rules on one unit-test file per `{name: (evaluation interval, tests)}`."""
    paths = []
    for name, (interval, tests) in files.items():
        path = tmp_path / f"{name}.test.yml"
        unit = {"rule_files": [rules_file.name], "evaluation_interval": interval, "tests": tests}
        # Recording groups before the alerts that read them: promtool's order is otherwise random,
        # and at 10-minute evaluations a series recorded the step before is past the 5m lookback.
        unit["group_eval_order"] = [g["name"] for g in yaml.safe_load(rules_file.read_text())["groups"]]
        path.write_text(to_yaml(unit))
        paths.append(str(path))
    result = promtool("test", "rules", *paths)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(paths), result.stdout
    return result.stdout


#: long window -> (short window, burn rate, severity): the SRE workbook's table (chapter 5, "Alerting
#: on SLOs", for a 30-day budget: 14.4x over 1h/5m and 6x over 6h/30m page, 1x over 3d/6h is a
#: ticket) and a 3x ticket over 1d/2h between them. Written out here, not read from obsagent.slo.
WORKBOOK = {
    "1h": ("5m", 14.4, "critical"),
    "6h": ("30m", 6.0, "critical"),
    "1d": ("2h", 3.0, "warning"),
    "3d": ("6h", 1.0, "warning"),
}

OBJECTIVES = [slo.Objective("availability", 99.9), slo.Objective("latency", 99.0, 1.0)]
SLO_FLAGS = ["--slo", "availability=99.9", "--slo", "latency=1s@99"]


def burn_tests(objective: slo.Objective, tier: slo.Tier, rule: dict, burn_rate: float) -> tuple[str, list[dict]]:
    """Three cases: 1.25x the tier's burn rate fires it; 0.8x keeps it quiet; 2x over the long
    window that stopped two short windows ago keeps it quiet too (the short window resets it)."""
    long, short = slo.duration_seconds(tier.long) // 60, slo.duration_seconds(tier.short) // 60
    step = 1 if long <= 360 else 10  # minutes between samples (and evaluations)
    span = int(long / step) + 2 * int(short / step)  # a full long window, and some
    at = f"{span * step}m"
    labels = {"job": "app", "slo": objective.name}
    if objective.per_endpoint:
        labels.update(method=APP["method"], endpoint=APP["endpoint"])
    budget = objective.budget
    cases = [
        (burn_rate * 1.25 * budget, [(burn_rate * 1.25 * budget, span)], [expected(rule, labels)]),
        (burn_rate * 0.8 * budget, [(burn_rate * 0.8 * budget, span)], []),
        (None, [(burn_rate * 2 * budget, span - 2 * int(short / step)), (0.0, 2 * int(short / step))], []),
    ]
    tests = [
        {
            "interval": f"{step}m",
            "input_series": traffic(objective, phases, step),
            "alert_rule_test": [{"eval_time": at, "alertname": rule["alert"], "exp_alerts": alerts}],
        }
        for _, phases, alerts in cases
    ]
    return f"{step}m", tests


def test_promtool_checks_every_variant(tmp_path):
    (tmp_path / "full.yml").write_text(FULL_CONFIG)
    (tmp_path / "buckets.yml").write_text("slo: {latency_buckets: [0.1, 0.3, 1.5], objectives: {latency: 0.3s@99}}\n")
    variants = {
        "default": [],
        "slos": SLO_FLAGS,
        "per-endpoint": [*SLO_FLAGS, "--slo-per-endpoint"],
        "availability-only": ["--slo", "checkout=99.95"],
        "latency-ms": ["--slo", "fast=250ms@95"],
        "custom-buckets": ["--latency-buckets", "0.1,0.3,1.5", "--slo", "latency=300ms@99"],
        "config": ["--config", str(tmp_path / "full.yml")],
        "config-and-flags": ["--config", str(tmp_path / "full.yml"), *SLO_FLAGS, "--cpu-percent", "70"],
        "config-buckets": ["--config", str(tmp_path / "buckets.yml")],
    }
    counts = {}
    for name, args in variants.items():
        path, data = generate(tmp_path, *args, name=f"{name}.yml")
        counts[name] = int(re.search(r"SUCCESS: (\d+) rules found", check_rules(path)).group(1))
    per_objective = len(slo.WINDOWS) + 2 + len(slo.TIERS)  # ratios, period's ratio, budget left; alerts
    default = 17 + len(gpu_health_alerts())
    assert counts["default"] == default
    assert counts["slos"] == counts["per-endpoint"] == default + 2 * per_objective
    assert counts["availability-only"] == counts["latency-ms"] == counts["custom-buckets"] == default + per_objective


def test_recorded_windows_and_tiers_are_the_workbooks():
    assert slo.WINDOWS == ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    assert {t.long: (t.short, t.burn_rate, t.severity) for t in slo.TIERS} == WORKBOOK
    for tier in slo.TIERS:  # the short window is a twelfth of the long one
        assert slo.duration_seconds(tier.long) == 12 * slo.duration_seconds(tier.short)
    # budget spent when the tier fires at its burn rate over its long window: 2%, 5%, 10%, 10%
    spent = [round(t.burn_rate * slo.duration_seconds(t.long) / slo.duration_seconds(slo.PERIOD), 3) for t in slo.TIERS]
    assert spent == [0.02, 0.05, 0.1, 0.1]


PER_ENDPOINT = [slo.Objective(o.name, o.target, o.threshold, per_endpoint=True) for o in OBJECTIVES]


@pytest.mark.parametrize(
    "objective", OBJECTIVES + PER_ENDPOINT, ids=lambda o: o.name + (" per endpoint" if o.per_endpoint else "")
)
def test_each_burn_rate_alert_fires_at_its_burn_rate_only(tmp_path, objective):
    rules_file, data = generate(tmp_path, *SLO_FLAGS, *(["--slo-per-endpoint"] if objective.per_endpoint else []))
    by_name = alert_rules(data)
    files: dict[str, tuple[str, list[dict]]] = {}
    for long, (short, burn_rate, severity) in WORKBOOK.items():
        name = f"{slo.pascal(objective.name)}BudgetBurn{long}"
        assert by_name[name]["labels"]["severity"] == severity
        interval, tests = burn_tests(objective, slo.Tier(severity, long, short, burn_rate), by_name[name], burn_rate)
        files[name] = (interval, tests)
    run_unit_tests(tmp_path, rules_file, files)


def test_error_budget_remaining_is_recorded(tmp_path):
    """0.05% of requests failing for a day against a 99.9% objective spends half of the budget
    that a day's data (the whole period so far) allows: half of it remains."""
    rules_file, _ = generate(tmp_path, *SLO_FLAGS)
    objective = OBJECTIVES[0]
    tests = [
        {
            "interval": "10m",
            "input_series": traffic(objective, [(0.0005, 144)], 10),
            "promql_expr_test": [
                {
                    "eval_time": "1d",
                    "expr": 'job:slo_error_budget_remaining:ratio{slo="availability"}',
                    "exp_samples": [
                        {"labels": 'job:slo_error_budget_remaining:ratio{job="app",slo="availability"}', "value": 0.5}
                    ],
                },
                {
                    "eval_time": "1d",
                    "expr": 'round(job:slo_errors:ratio_rate1h{slo="availability"} * 100000)',
                    "exp_samples": [{"labels": '{job="app",slo="availability"}', "value": 50}],
                },
            ],
        }
    ]
    run_unit_tests(tmp_path, rules_file, {"budget": ("10m", tests)})


FULL_CONFIG = """
prefix: Obsagent
runbook_url: "https://wiki.example.com/runbooks/{slug}"
labels: {team: payments}
annotations: {dashboard: "https://grafana.example.com/d/obsagent"}
thresholds: {memory_percent: 80}
alerts:
  HighCPUUsage:
    for: 15m
    severity: page
    labels: {category: infrastructure, compliance: sox}
    annotations: {summary: "CPU is hot"}
    threshold: 70
  InstanceDown: {runbook_url: "https://other.example.com/{name}/{alert}"}
  GPULost: {enabled: false}
  AvailabilityBudgetBurn1h: {threshold: 10, for: 2m, labels: {category: slo}}
slo:
  objectives:
    availability: 99.9
    latency: {objective: 99, threshold: 1s}
    chat_latency: {objective: 95, threshold: 5, per_endpoint: true, matchers: 'endpoint=~"/v1/chat.*"'}
"""


def test_a_rules_file_sets_for_severity_labels_annotations_thresholds_and_runbooks(tmp_path):
    config = tmp_path / "rules.yml"
    config.write_text(FULL_CONFIG)
    rules_file, data = generate(tmp_path, "--config", str(config), name="generated.yml")
    by_name = alert_rules(data)
    assert all(name.startswith("Obsagent") for name in by_name)
    assert "ObsagentGPULost" not in by_name and "ObsagentInstanceDown" in by_name
    assert {"ObsagentChatLatencyBudgetBurn1h", "ObsagentLatencyBudgetBurn3d"} <= set(by_name)
    cpu, down = by_name["ObsagentHighCPUUsage"], by_name["ObsagentInstanceDown"]
    assert cpu["annotations"]["runbook_url"] == "https://wiki.example.com/runbooks/obsagent_high_cpu_usage"
    assert down["annotations"]["runbook_url"] == "https://other.example.com/ObsagentInstanceDown/obsagentinstancedown"
    assert by_name["ObsagentHighMemoryUsage"]["expr"].endswith("> 80.0")
    target = {"job": "app", "instance": "host:9100"}
    cpu_labels = {"severity": "page", "team": "payments", "category": "infrastructure", "compliance": "sox"}
    cpu_annotations = {
        "summary": "CPU is hot",
        "description": "host:9100 has used more than 70% of its CPU for 10 minutes.",
        "runbook_url": "https://wiki.example.com/runbooks/obsagent_high_cpu_usage",
        "dashboard": "https://grafana.example.com/d/obsagent",
    }
    busy = {"series": 'node_cpu_seconds_total{job="app",instance="host:9100",cpu="0",mode="idle"}', "values": "0+15x40"}
    cpu_test = {  # 75% busy: above the file's 70, below the default 80; `for: 15m`, not 10m
        "interval": "1m",
        "input_series": [busy],
        "alert_rule_test": [
            {"eval_time": "14m", "alertname": "ObsagentHighCPUUsage", "exp_alerts": []},
            {
                "eval_time": "25m",
                "alertname": "ObsagentHighCPUUsage",
                "exp_alerts": [{"exp_labels": {**target, **cpu_labels}, "exp_annotations": cpu_annotations}],
            },
        ],
    }
    down_test = {
        "interval": "1m",
        "input_series": [{"series": 'up{job="app",instance="host:9100"}', "values": "0x10"}],
        "alert_rule_test": [
            {"eval_time": "5m", "alertname": "ObsagentInstanceDown", "exp_alerts": [expected(down, target)]},
            {"eval_time": "5m", "alertname": "ObsagentGPULost", "exp_alerts": []},
        ],
    }
    burn = by_name["ObsagentAvailabilityBudgetBurn1h"]
    assert burn["for"] == "2m" and burn["labels"] == {"severity": "critical", "team": "payments", "category": "slo"}
    assert (
        burn["annotations"]["runbook_url"] == "https://wiki.example.com/runbooks/obsagent_availability_budget_burn_1h"
    )
    tier = slo.TIERS[0]
    interval, burn_cases = burn_tests(slo.Objective("availability", 99.9), tier, burn, 10.0)  # the file's 10x
    # `for: 2m`: the ratios exist from 1m on, so the alert is pending at 2m and fires from 3m.
    early = burn_cases[0]["alert_rule_test"][0] | {"eval_time": "2m", "exp_alerts": []}
    burn_cases[0]["alert_rule_test"].append(early)
    run_unit_tests(
        tmp_path,
        rules_file,
        {"configured": ("1m", [cpu_test, down_test]), "burn": (interval, burn_cases)},
    )


def test_slug():
    assert slug("HighAPILatency") == "high_api_latency"
    assert slug("GPUMemoryExhaustion") == "gpu_memory_exhaustion"
    assert slug("AvailabilityBudgetBurn1h") == "availability_budget_burn_1h"


def test_without_slos_or_a_file_the_output_is_todays():
    assert [g["name"] for g in rules()["groups"]] == [
        "obsagent-http-recording",
        "obsagent-alerts",
        "obsagent-gpu-health-alerts",
    ]
    assert rules() == rules(config=parse_config({}))
    assert rules() == rules(config=parse_config(None))


def test_latency_objective_reads_the_thresholds_bucket():
    ratio = slo.Objective("latency", 99.0, 1.0).error_ratio("5m")
    assert 'http_request_duration_seconds_bucket{le=~"1(\\\\.0)?"}[5m]' in ratio
    assert 'le="0.25"' in slo.Objective("latency", 99.0, 0.25).error_ratio("5m")


BAD_FLAGS = [
    (["--slo", "availability"], "'availability' is not NAME=OBJECTIVE"),
    (["--slo", "availability=lots"], "'lots' is not a percentage"),
    (["--slo", "availability=100"], "between 0 and 100"),
    (["--slo", "latency=1x@99"], "'1x' is not a latency threshold"),
    (["--slo", "latency=300ms@99"], "0.3 s is not one of 0.005, 0.01"),
    (["--slo", "Latency=1s@99"], "'Latency' is not an objective name"),
    (["--latency-buckets", "0.1,fast"], "'0.1,fast' is not a comma-separated list"),
    (["--runbook-url", "https://wiki/{alert_name}"], "'alert_name'; it may name {alert}, {name}, {slug}"),
]


@pytest.mark.parametrize(("args", "message"), BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flags_are_usage_errors(args, message):
    result = subprocess.run([*OBSAGENT, "rules", *args], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


BAD_FILES = [
    ("colour: red\n", "colour: unknown key (known: alerts, annotations, labels, prefix, runbook_url, slo, thresholds)"),
    ("alerts: {HighCPUUsage: {fr: 5m}}\n", "alerts.HighCPUUsage.fr: unknown key (known: annotations, enabled, for,"),
    ("alerts: {HighCPUUsage: {for: 5 minutes}}\n", "alerts.HighCPUUsage.for: '5 minutes' is not a Prometheus duration"),
    ("alerts: {HighCPUUsage: {threshold: high}}\n", "alerts.HighCPUUsage.threshold: must be a number"),
    ("alerts: {HighCPUUsage: {labels: {severity: x}}}\n", "alerts.HighCPUUsage.labels.severity: set by obsagent"),
    ("alerts: {HighCPUUsage: {enabled: no way}}\n", "alerts.HighCPUUsage.enabled: must be true or false"),
    ("alerts: {HighCPUUsage: {labels: {team: 7}}}\n", "alerts.HighCPUUsage.labels.team: must be a non-empty string"),
    ("alerts: {HighCpuUsage: {for: 5m}}\n", "alerts.HighCpuUsage: no such alert (there are HighAPILatency,"),
    ("alerts: {GPULost: {threshold: 2}}\n", "alerts.GPULost.threshold: GPULost has no threshold"),
    ("alerts: {LatencyBudgetBurn1h: {for: 1m}}\n", "alerts.LatencyBudgetBurn1h: no such alert"),
    ("thresholds: {cpu: 90}\n", "thresholds.cpu: unknown key (known: api_latency_critical_seconds,"),
    ("runbook_url: 'https://wiki/{slugg}'\n", "runbook_url: 'https://wiki/{slugg}' is not a runbook URL template"),
    ("prefix: 'my-'\n", "prefix: 'my-' can't begin an alert name"),
    ("slo: {objectives: {latency: {objective: 99, thresold: 1s}}}\n", "slo.objectives.latency.thresold: unknown key"),
    ("slo: {objectives: {latency: {threshold: 1s}}}\n", "slo.objectives.latency.objective: missing"),
    ("slo: {objectives: {latency: 0.3s@99}}\n", "slo.objectives.latency: a latency threshold must be a bucket bound"),
    ("slo: {objectives: {a: {objective: 99, matchers: 'endpoint=/x'}}}\n", "'endpoint=/x' is not a list of label"),
    ("slo: {period: a month}\n", "slo.period: 'a month' is not a Prometheus duration"),
    ("slo: {objectives: [availability]}\n", "slo.objectives: must be a mapping, not list"),
    ("alerts: [\n", "not valid YAML"),
    ("- just a list\n", "the file: must be a mapping, not list"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES, ids=[m.split(":")[0] for _, m in BAD_FILES])
def test_bad_rules_files_name_the_key(tmp_path, text, message):
    config = tmp_path / "rules.yml"
    config.write_text(text)
    result = subprocess.run([*OBSAGENT, "rules", "--config", str(config)], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert f"Invalid value for '--config': {config}: " in result.stderr, result.stderr
    assert message in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.stderr
    board = subprocess.run([*OBSAGENT, "dashboard", "--config", str(config)], capture_output=True, text=True)
    assert board.returncode == 2 and message in " ".join(board.stderr.split()), board.stderr


def test_a_flag_on_the_command_line_wins_over_the_file(tmp_path):
    config = tmp_path / "rules.yml"
    config.write_text("thresholds: {cpu_percent: 70, memory_percent: 85}\nslo: {objectives: {availability: 99}}\n")
    _, data = generate(tmp_path, "--config", str(config), "--cpu-percent", "95", "--slo", "availability=99.5")
    by_name = alert_rules(data)
    assert by_name["HighCPUUsage"]["expr"].endswith("> 95.0")
    assert by_name["HighMemoryUsage"]["expr"].endswith("> 85.0")
    assert "(14.4 * 0.005)" in by_name["AvailabilityBudgetBurn1h"]["expr"]


def dashboard_json(*args: str) -> dict:
    result = subprocess.run([*OBSAGENT, "dashboard", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def thresholds_of(board: dict, title: str) -> list[tuple[str, float | None]]:
    (panel,) = [p for p in board["panels"] if p["title"] == title and "thresholds" in p["fieldConfig"]["defaults"]]
    return [(step["color"], step["value"]) for step in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]


def test_the_dashboard_takes_its_thresholds_from_the_objectives_and_the_file(tmp_path):
    config = tmp_path / "rules.yml"
    config.write_text(FULL_CONFIG)
    board = dashboard_json("--config", str(config), "--gpu-temperature-celsius", "90")
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == ["Overview", "SLOs", "HTTP", "System", "GPU"]
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource", "job", "instance", "environment", "gpu"]
    (firing,) = board["annotations"]["list"]
    assert firing["expr"].startswith('ALERTS{alertstate="firing", job=~"$job"') and firing["enable"]
    ids = [p["id"] for p in board["panels"]]
    assert ids == list(range(1, len(ids) + 1))
    cells = set()  # no two panels overlap, none is wider than the grid
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not mine & cells, panel["title"]
        cells |= mine
    kinds = {p["type"] for p in board["panels"]}
    assert {"stat", "gauge", "timeseries", "row"} == kinds
    # availability 99.9%: red below it, amber until 3/4 of the budget is left, green above
    assert thresholds_of(board, "Requests without a 5xx (objective 99.9%)") == [
        ("red", None),
        ("orange", 0.999),
        ("green", 0.99975),
    ]
    assert thresholds_of(board, "latency: 99% of requests within 1 s") == [
        ("red", None),
        ("orange", 0.99),
        ("green", 0.9975),
    ]
    assert thresholds_of(board, "availability: error budget remaining (30d)") == [
        ("red", None),
        ("orange", 0),
        ("green", 0.25),
    ]
    # the file's burn rate for the 1h page (10x) and the workbook's 6x
    assert thresholds_of(board, "availability: burn rate") == [("green", None), ("orange", 6), ("red", 10)]
    assert thresholds_of(board, "latency: burn rate") == [("green", None), ("orange", 6), ("red", 14.4)]
    # the file's HighCPUUsage threshold (70) and memory_percent (80); the flag's GPU temperature
    assert thresholds_of(board, "CPU busy") == [("green", None), ("orange", 56), ("red", 70)]
    assert thresholds_of(board, "Memory used") == [("green", None), ("orange", 64), ("red", 80)]
    assert thresholds_of(board, "Hottest GPU") == [("green", None), ("orange", 72), ("red", 90)]
    assert thresholds_of(board, "p95 latency") == [("green", None), ("orange", 0.5), ("red", 1.0)]
    status = [e for e in expressions(board) if "status_class" in e]
    assert status and '"${1}xx", "status", "([0-9]).."' in status[0]
    plain = dashboard_json()
    assert thresholds_of(plain, "Requests without a 5xx") == [("red", None), ("orange", 0.99), ("green", 0.9975)]
    assert not [p for p in plain["panels"] if p["title"] == "SLOs"]


def test_every_dashboard_query_parses(tmp_path):
    """promtool parses each query (every variable on All) as a recording rule's expression."""
    config = tmp_path / "rules.yml"
    config.write_text(FULL_CONFIG)
    for name, args in {"plain": [], "slos": ["--config", str(config), "--slo-per-endpoint", *SLO_FLAGS]}.items():
        board = dashboard_json(*args)
        exprs = [concrete(e) for e in expressions(board)] + [concrete(board["annotations"]["list"][0]["expr"])]
        assert not [e for e in exprs if "$" in e.replace("${1}", "")], exprs
        group = {
            "name": "dashboard",
            "rules": [{"record": f"dashboard:query{n}", "expr": e} for n, e in enumerate(exprs)],
        }
        path = tmp_path / f"{name}-queries.yml"
        path.write_text(to_yaml({"groups": [group]}) + "\n")
        assert f"SUCCESS: {len(exprs)} rules found" in check_rules(path)


BURN_ALERTS = [f"AvailabilityBudgetBurn{long}" for long in WORKBOOK]
E2E_CONFIG = """
slo:
  objectives:
    availability: 99.9
    latency: 1s@99
    orders_latency: {objective: 95, threshold: 250ms, per_endpoint: true, matchers: 'endpoint="/orders/{order_id}"'}
"""


def test_prometheus_evaluates_every_slo_rule_and_dashboard_query(tmp_path):
    """An instrumented app (1 in 4 requests a 5xx) and the daemon (the stand-in GPUs), scraped by
    a real Prometheus evaluating the rules with SLOs: every recorded series and every query of
    the dashboard made from the same file is there, and the availability ratio is the app's."""
    config = tmp_path / "slo.yml"
    config.write_text(E2E_CONFIG)
    rules_file, data = generate(tmp_path, "--config", str(config))
    board = dashboard_json("--config", str(config))
    recorded = [r for g in data["groups"] for r in g["rules"] if "record" in r]
    with prometheus_over_app_and_node(tmp_path, rules_file) as (base, app_port):
        order_traffic(base, app_port, until='job_endpoint:slo_error_budget_remaining:ratio{slo="orders_latency"}')
        for rule in recorded:
            selector = ",".join(f'{k}="{v}"' for k, v in rule.get("labels", {}).items())
            assert query(base, f"{rule['record']}{{{selector}}}"), (rule["record"], selector)
        for expr in expressions(board):
            assert query(base, concrete(expr)), concrete(expr)
        ratio = query(base, 'job:slo_errors:ratio_rate5m{job="app", slo="availability"}')
        assert 0.1 < float(ratio[0]["value"][1]) < 0.4, ratio
        fast = query(base, 'job:slo_errors:ratio_rate5m{job="app", slo="latency"}')  # all well under 1 s
        assert float(fast[0]["value"][1]) < 0.05, fast
        # 25% failing burns a 99.9% budget 250 times too fast: every availability tier fires
        # (none has a `for`), no latency one does, and the dashboard's annotations show them.
        firing = f'ALERTS{{alertstate="firing", job="app", alertname=~"{"|".join(BURN_ALERTS)}"}}'
        wait_for(lambda: len(query(base, firing)) == len(BURN_ALERTS), timeout=30)
        assert not query(base, 'ALERTS{alertname=~"LatencyBudgetBurn.*"}')
        assert query(base, concrete(board["annotations"]["list"][0]["expr"]))


def test_a_burn_rate_must_be_positive(tmp_path):
    config = tmp_path / "rules.yml"
    config.write_text("alerts: {AvailabilityBudgetBurn1h: {threshold: 0}}\n")
    result = subprocess.run([*OBSAGENT, "rules", "--config", str(config), *SLO_FLAGS], capture_output=True, text=True)
    assert result.returncode == 2
    assert "alerts.AvailabilityBudgetBurn1h.threshold: a burn rate must be more than 0, not 0" in result.stderr


def test_the_readme_example_is_what_obsagent_prints(tmp_path):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("## Alerts and dashboards") :]
    config_text, excerpt = re.findall(r"```yaml\n(.*?)```", section, re.S)[:2]
    config = tmp_path / "rules.yml"
    config.write_text(config_text)
    rules_file, _ = generate(tmp_path, "--config", str(config), name="generated.yml")
    check_rules(rules_file)
    printed = [line.strip() for line in rules_file.read_text().splitlines()]
    for line in excerpt.splitlines():  # each line of the excerpt, in order
        assert line.strip() in printed, line
        printed = printed[printed.index(line.strip()) + 1 :]
    dashboard_json("--config", str(config))


def test_low_request_rate_is_there_only_when_a_file_enables_it(tmp_path):
    assert "LowRequestRate" not in alert_rules(rules())
    config = tmp_path / "rules.yml"
    config.write_text("alerts: {LowRequestRate: {threshold: 2}}\n")  # set, not enabled
    _, data = generate(tmp_path, "--config", str(config), name="set.yml")
    assert "LowRequestRate" not in alert_rules(data)
    config.write_text("alerts: {LowRequestRate: {enabled: true, threshold: 2, labels: {category: traffic}}}\n")
    rules_file, data = generate(tmp_path, "--config", str(config), name="enabled.yml")
    rule = alert_rules(data)["LowRequestRate"]
    assert rule["expr"].endswith("< 2.0") and rule["labels"] == {"severity": "warning", "category": "traffic"}
    labels = {"job": "app"}

    def case(per_minute: float, alerts: list[dict]) -> dict:
        return {
            "interval": "1m",
            "input_series": [counter({**APP, "status": "200"}, [(per_minute, 40)])],
            "alert_rule_test": [{"eval_time": "30m", "alertname": "LowRequestRate", "exp_alerts": alerts}],
        }

    # 1 request a second: below the file's 2 (not the default 1); 3 a second: above it
    run_unit_tests(tmp_path, rules_file, {"low": ("1m", [case(60, [expected(rule, labels)]), case(180, [])])})


def test_without_pyyaml_a_rules_file_is_a_clear_error(tmp_path, monkeypatch):
    from obsagent.rules import load_config

    config = tmp_path / "rules.yml"
    config.write_text("prefix: Obsagent\n")
    assert load_config(str(config)).prefix == "Obsagent"
    monkeypatch.setitem(sys.modules, "yaml", None)  # as if PyYAML weren't installed
    with pytest.raises(
        slo.ConfigError, match=r"rules\.yml: reading a rules file needs PyYAML \(pip install 'obsagent\[rules\]'\)"
    ):
        load_config(str(config))
