"""The optional alerts over obsagent.health's and obsagent.sqlalchemy's series, and the dashboard's
Health row: absent by default, there when a rules file enables them; promtool checks the file
and its unit tests fire each alert above its threshold only."""

from __future__ import annotations

from conftest import alert_unit_tests, check_rules, firing, run_alert_unit_tests
from conftest import input_series as series
from obsagent.dashboard import dashboard
from obsagent.rules import HEALTH_ALERTS, parse_config, rules, to_yaml

TARGET = {"job": "api", "instance": "10.0.0.1:8000"}


def alert_names(data: dict) -> set[str]:
    return {rule["alert"] for group in data["groups"] for rule in group["rules"] if "alert" in rule}


def enabled(**settings) -> dict:
    config = {"alerts": {name: {"enabled": True} for name in HEALTH_ALERTS}, **settings}
    return rules(config=parse_config(config))


def test_absent_by_default_present_when_enabled():
    assert not alert_names(rules()) & set(HEALTH_ALERTS)
    assert set(HEALTH_ALERTS) <= alert_names(enabled())
    assert "Health" not in [panel["title"] for panel in dashboard()["panels"] if panel["type"] == "row"]
    board = dashboard(config=parse_config({"alerts": {"HealthCheckFailing": {"enabled": True}}}))
    rows = [panel["title"] for panel in board["panels"] if panel["type"] == "row"]
    assert rows[-1] == "Health"
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for metric in ("health_check_status", "database_connections_waiting", "database_query_duration_seconds_bucket"):
        assert any(metric in e for e in exprs), metric


def test_promtool_fires_each_health_alert_above_its_threshold_only(tmp_path):
    data = enabled(thresholds={"db_pool_saturation_ratio": 0.8})
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(to_yaml(data) + "\n")
    check_rules(rules_file)
    by_name = {rule["alert"]: rule for group in data["groups"] for rule in group["rules"] if "alert" in rule}
    check_labels = {**TARGET, "check": "database"}
    pool = {**TARGET, "engine": "main"}
    cases = {
        "HealthCheckFailing": (
            [series("health_check_status", check_labels, "0x40")],
            [series("health_check_status", check_labels, "1x40")],
            check_labels,
        ),
        "DatabasePoolSaturated": (  # 9 of 10 checked out is above the file's 0.8
            [
                series("database_connections_active", pool, "9x40"),
                series("database_connections_max", pool, "10x40"),
                series("database_connections_waiting", pool, "0x40"),
            ],
            [  # 7 of 10, nobody waiting
                series("database_connections_active", pool, "7x40"),
                series("database_connections_max", pool, "10x40"),
                series("database_connections_waiting", pool, "0x40"),
            ],
            pool,
        ),
    }
    waiting = [
        series("database_connections_active", pool, "2x40"),
        series("database_connections_max", pool, "10x40"),
        series("database_connections_waiting", pool, "3x40"),
    ]
    tests = []
    for name, (fires, quiet, labels) in cases.items():
        expected = firing(by_name[name], labels)
        runs = [(fires, [expected]), (quiet, [])]
        if name == "DatabasePoolSaturated":
            runs.append((waiting, [expected]))
        tests += alert_unit_tests(name, runs)
    run_alert_unit_tests(rules_file, tests)
