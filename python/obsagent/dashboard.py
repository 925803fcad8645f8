"""A Grafana dashboard for obsagent's metrics (``obsagent dashboard``): an overview of stat and
gauge panels coloured green, amber and red by the alerts' thresholds and the SLOs, an SLO row
(what each objective measures, its error budget remaining, its burn rate), HTTP (rate by status
class, errors, p50/p95/p99), system (CPU, memory, disk, network, load) and GPU (utilization,
memory, temperature, power) rows; ``job``, ``instance``, ``environment`` and ``gpu``
variables; firing alerts as annotations. The thresholds are those of ``obsagent rules`` given
the same flags and ``--config`` file."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from . import slo
from .rules import HEALTH_ALERTS, AlertConfig, RulesConfig, Thresholds

TARGET = 'job=~"$job", instance=~"$instance", environment=~"$environment"'
HTTP = TARGET
NODE = TARGET
GPU = f'{TARGET}, gpu=~"$gpu"'
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
#: Where an alert has one threshold (red), its panel turns amber at this share of it: CPU busy
#: is amber from 64% when HighCPUUsage fires above 80% (disk free: amber below 0.15 / 0.8).
AMBER = 0.8
#: An SLO's budget-remaining stat is amber below this share of the budget, red once spent.
BUDGET_AMBER = 0.25

#: `(row, [(panel title, unit, [(expression, legend)])])`.
PANELS: list[tuple[str, list[tuple[str, str, list[tuple[str, str]]]]]] = [
    (
        "HTTP",
        [
            (
                "Requests per second",
                "reqps",
                [
                    (
                        f"sum by (method, endpoint) (rate(http_requests_total{{{HTTP}}}[$__rate_interval]))",
                        "{{method}} {{endpoint}}",
                    )
                ],
            ),
            (
                "Requests per second by status class",
                "reqps",
                [
                    (
                        "sum by (status_class) (label_replace(rate(http_requests_total{"
                        + HTTP
                        + '}[$__rate_interval]), "status_class", "${1}xx", "status", "([0-9])..")) ',
                        "{{status_class}}",
                    )
                ],
            ),
            (
                "5xx ratio",
                "percentunit",
                [
                    (
                        f'sum(rate(http_requests_total{{{HTTP}, status=~"5.."}}[$__rate_interval]))'
                        f" / sum(rate(http_requests_total{{{HTTP}}}[$__rate_interval]))",
                        "5xx",
                    )
                ],
            ),
            (
                "Latency",
                "s",
                [
                    (
                        f"histogram_quantile({q}, sum by (le)"
                        f" (rate(http_request_duration_seconds_bucket{{{HTTP}}}[$__rate_interval])))",
                        f"p{round(q * 100)}",
                    )
                    for q in (0.5, 0.95, 0.99)
                ],
            ),
            (
                "Requests in progress",
                "short",
                [(f"sum by (endpoint) (http_requests_in_progress{{{HTTP}}})", "{{endpoint}}")],
            ),
        ],
    ),
    (
        "System",
        [
            (
                "CPU busy",
                "percent",
                [
                    (
                        "100 - avg by (instance)"
                        f' (rate(node_cpu_seconds_total{{{NODE}, mode="idle"}}[$__rate_interval])) * 100',
                        "{{instance}}",
                    )
                ],
            ),
            (
                "Memory used",
                "percent",
                [
                    (
                        f"(1 - node_memory_MemAvailable_bytes{{{NODE}}} / node_memory_MemTotal_bytes{{{NODE}}}) * 100",
                        "{{instance}}",
                    )
                ],
            ),
            (
                "Disk used",
                "percent",
                [
                    (
                        f'(1 - node_filesystem_avail_bytes{{{NODE}, fstype!~"tmpfs|ramfs"}}'
                        f' / node_filesystem_size_bytes{{{NODE}, fstype!~"tmpfs|ramfs"}}) * 100',
                        "{{mountpoint}}",
                    )
                ],
            ),
            (
                "Network",
                "Bps",
                [
                    (f"rate(node_network_receive_bytes_total{{{NODE}}}[$__rate_interval])", "{{device}} in"),
                    (f"rate(node_network_transmit_bytes_total{{{NODE}}}[$__rate_interval])", "{{device}} out"),
                ],
            ),
            ("Load", "short", [(f"node_load{m}{{{NODE}}}", f"{m}m") for m in (1, 5, 15)]),
        ],
    ),
    (
        "GPU",
        [
            ("GPU utilization", "percent", [(f"nvidia_gpu_utilization_percent{{{GPU}}}", "GPU {{gpu}}")]),
            (
                "GPU memory used",
                "percent",
                [
                    (
                        f"nvidia_gpu_memory_used_bytes{{{GPU}}} / nvidia_gpu_memory_total_bytes{{{GPU}}} * 100",
                        "{{gpu}} {{uuid}}",
                    )
                ],
            ),
            ("GPU temperature", "celsius", [(f"nvidia_gpu_temperature_celsius{{{GPU}}}", "GPU {{gpu}}")]),
            ("GPU power", "watt", [(f"nvidia_gpu_power_watts{{{GPU}}}", "GPU {{gpu}}")]),
        ],
    ),
]


def _steps(*steps: tuple[str, float | None]) -> dict[str, Any]:
    rounded = [(color, None if value is None else round(value, 9)) for color, value in steps]
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for color, value in rounded]}


def rising(amber: float, red: float) -> dict[str, Any]:
    """Green, amber from `amber`, red from `red`: for what is worse the higher it is."""
    return _steps(("green", None), ("orange", amber), ("red", red))


def falling(red: float, amber: float) -> dict[str, Any]:
    """Red below `red`, amber below `amber`, green above: for what is better the higher it is."""
    return _steps(("red", None), ("orange", red), ("green", amber))


def _panel(kind: str, title: str, unit: str, targets: list[tuple[str, str]], **defaults: Any) -> dict[str, Any]:
    options: dict[str, Any]
    if kind == "timeseries":
        options = {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}}
    else:
        reduce = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
        options = {**reduce, "colorMode": "background"} if kind == "stat" else {**reduce, "showThresholdMarkers": True}
    return {
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit, **defaults}, "overrides": []},
        "options": options,
        "targets": [
            {"expr": expr, "legendFormat": legend, "refId": chr(ord("A") + n)}
            for n, (expr, legend) in enumerate(targets)
        ],
    }


def _objective(config: RulesConfig, kind: str) -> slo.Objective | None:
    """The file's (or flags') first objective of `kind` over all of a job's requests."""
    return next((o for o in config.objectives if o.kind == kind and not o.matchers), None)


def overview(t: Thresholds, config: RulesConfig) -> list[dict[str, Any]]:
    """Stats and gauges over the dashboard's time range, coloured by the alerts' thresholds
    (and the availability objective, if there is one)."""
    total = f"sum(rate(http_requests_total{{{HTTP}}}[$__range]))"
    good = f'sum(rate(http_requests_total{{{HTTP}, status!~"5.."}}[$__range]))'
    availability = _objective(config, "availability")
    allowed = availability.budget if availability else t.error_ratio  # the share that may fail
    buckets = f"sum by (le) (rate(http_request_duration_seconds_bucket{{{HTTP}}}[$__range]))"
    disk = f'node_filesystem_avail_bytes{{{NODE}, fstype!~"tmpfs|ramfs"}}'
    disk_size = f'node_filesystem_size_bytes{{{NODE}, fstype!~"tmpfs|ramfs"}}'
    cpu_idle = f'rate(node_cpu_seconds_total{{{NODE}, mode="idle"}}[$__range])'
    memory = f"node_memory_MemAvailable_bytes{{{NODE}}} / node_memory_MemTotal_bytes{{{NODE}}}"
    gpu_memory = f"nvidia_gpu_memory_used_bytes{{{GPU}}} / nvidia_gpu_memory_total_bytes{{{GPU}}} * 100"
    percent = {"min": 0, "max": 100}
    objective = f" (objective {slo.format_number(availability.target)}%)" if availability else ""
    return [
        _panel(
            "stat",
            f"Requests without a 5xx{objective}",
            "percentunit",
            [(f"{good} / {total}", "available")],
            thresholds=falling(1 - allowed, 1 - allowed * BUDGET_AMBER),
            decimals=3,
        ),
        _panel(
            "gauge",
            "p95 latency",
            "s",
            [(f"histogram_quantile(0.95, {buckets})", "p95")],
            thresholds=rising(t.api_latency_warning_seconds, t.api_latency_critical_seconds),
            min=0,
            max=2 * t.api_latency_critical_seconds,
        ),
        _panel(
            "gauge",
            "CPU busy",
            "percent",
            [(f"100 - avg({cpu_idle}) * 100", "busy")],
            thresholds=rising(AMBER * t.cpu_percent, t.cpu_percent),
            **percent,
        ),
        _panel(
            "gauge",
            "Memory used",
            "percent",
            [(f"max((1 - {memory}) * 100)", "used")],
            thresholds=rising(AMBER * t.memory_percent, t.memory_percent),
            **percent,
        ),
        _panel(
            "stat",
            "Least disk space free",
            "percentunit",
            [(f"min({disk} / {disk_size})", "free")],
            thresholds=falling(t.disk_free_ratio, t.disk_free_ratio / AMBER),
        ),
        _panel(
            "gauge",
            "Hottest GPU",
            "celsius",
            [(f"max(nvidia_gpu_temperature_celsius{{{GPU}}})", "hottest")],
            thresholds=rising(AMBER * t.gpu_temperature_celsius, t.gpu_temperature_celsius),
            min=0,
            max=110,
        ),
        _panel(
            "gauge",
            "Fullest GPU memory",
            "percent",
            [(f"max({gpu_memory})", "used")],
            thresholds=rising(AMBER * t.gpu_memory_percent, t.gpu_memory_percent),
            **percent,
        ),
    ]


def slo_panels(objective: slo.Objective, config: RulesConfig) -> list[dict[str, Any]]:
    """What the objective measures over the time range, its budget left, its burn rates
    (with the page tiers' burn rates, as the rules file sets them, as amber and red lines)."""
    selector = f'{{job=~"$job", slo="{objective.name}"}}'
    budget = slo.format_number(objective.budget)
    title = objective.name.replace("_", " ")
    legend = "{{job}} {{method}} {{endpoint}}" if objective.per_endpoint else "{{job}}"
    pages = [
        config.alerts.get(f"{slo.pascal(objective.name)}BudgetBurn{tier.long}", AlertConfig()).threshold
        or tier.burn_rate
        for tier in slo.TIERS
        if tier.severity == "critical"
    ]
    panels = [
        _panel(
            "stat",
            f"{title}: {objective.describe()}",
            "percentunit",
            [(f"1 - ({objective.error_ratio('$__range', HTTP)})", legend)],
            thresholds=falling(objective.target / 100, 1 - objective.budget * BUDGET_AMBER),
            decimals=3,
        ),
        _panel(
            "stat",
            f"{title}: error budget remaining ({config.period})",
            "percentunit",
            [(f"{objective.budget_series}{selector}", legend)],
            thresholds=falling(0, BUDGET_AMBER),
        ),
        _panel(
            "timeseries",
            f"{title}: burn rate",
            "short",
            [
                (f"{objective.ratio_series(tier.long)}{selector} / {budget}", f"{legend} {tier.long}")
                for tier in slo.TIERS
            ],
            thresholds=rising(min(pages), max(pages)),
            custom={"thresholdsStyle": {"mode": "line"}},
        ),
    ]
    return [{**panel, "size": size} for panel, size in zip(panels, SLO_SIZES, strict=True)]


def _variable(name: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": name,
        "type": "query",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "query": {"query": query, "refId": f"{name}-variable"},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def rows(thresholds: Thresholds, config: RulesConfig) -> list[tuple[str, list[dict[str, Any]]]]:
    """`(row title, panels)`, in order."""
    out = [("Overview", overview(thresholds, config))]
    if config.objectives:
        out.append(("SLOs", [panel for objective in config.objectives for panel in slo_panels(objective, config)]))
    for row, row_panels in PANELS:
        out.append((row, [_panel("timeseries", title, unit, targets) for title, unit, targets in row_panels]))
    if any(config.alerts.get(name) and config.alerts[name].enabled for name in HEALTH_ALERTS):
        out.append(("Health", [_panel("timeseries", title, unit, targets) for title, unit, targets in HEALTH_PANELS]))
    return out


#: The Health row (shown when a rules file enables HealthCheckFailing or DatabasePoolSaturated):
#: obsagent.health's checks and obsagent.sqlalchemy's pool and queries.
HEALTH_PANELS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("Health checks passing", "short", [(f"health_check_status{{{TARGET}}}", "{{job}} {{check}}")]),
    ("Health check duration", "s", [(f"health_check_duration_seconds{{{TARGET}}}", "{{job}} {{check}}")]),
    (
        "Database pool",
        "short",
        [
            (f"sum by (job) (database_connections_active{{{TARGET}}})", "{{job}} checked out"),
            (f"sum by (job) (database_connections_max{{{TARGET}}})", "{{job}} max"),
            (f"sum by (job) (database_connections_waiting{{{TARGET}}})", "{{job}} waiting"),
        ],
    ),
    (
        "Query latency p95",
        "s",
        [
            (
                "histogram_quantile(0.95, sum by (le, operation)"
                f" (rate(database_query_duration_seconds_bucket{{{TARGET}}}[$__rate_interval])))",
                "{{operation}}",
            )
        ],
    ),
]


#: Panel sizes (width, height) in grid units, 24 across: stats and gauges small, time series
#: half a row; an SLO's three panels fill one.
SIZES = {"stat": (3, 5), "gauge": (3, 5), "timeseries": (12, 8)}
SLO_SIZES = ((4, 8), (4, 8), (16, 8))


def dashboard(thresholds: Thresholds | None = None, config: RulesConfig | None = None) -> dict[str, Any]:
    """The dashboard, in Grafana's current JSON model: `thresholds` and `config` as
    ``obsagent rules`` reads them (their defaults if None)."""
    thresholds, config = thresholds or Thresholds(), config or RulesConfig()
    thresholds = replace(thresholds, **config.thresholds)
    panels: list[dict[str, Any]] = []
    y = 0
    for row, row_panels in rows(thresholds, config):
        panels.append(
            {
                "type": "row",
                "title": row,
                "collapsed": False,
                "id": len(panels) + 1,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        x = height = 0
        for panel in row_panels:
            w, h = panel.pop("size", SIZES[panel["type"]])
            if x + w > 24:
                x, y, height = 0, y + height, 0
            panels.append({**panel, "id": len(panels) + 1, "gridPos": {"h": h, "w": w, "x": x, "y": y}})
            x, height = x + w, max(height, h)
        y += height
    datasource = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
    }
    firing = {
        "name": "Firing alerts",
        "datasource": DATASOURCE,
        "enable": True,
        "iconColor": "red",
        "expr": f'ALERTS{{alertstate="firing", {TARGET}}}',
        "step": "60s",
        "titleFormat": "{{alertname}}",
        "textFormat": "{{severity}} {{job}} {{instance}}",
        "tagKeys": "severity,job",
        "useValueForTime": False,
    }
    return {
        "title": "obsagent",
        "uid": "obsagent",
        "tags": ["obsagent", "prometheus"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "annotations": {"list": [firing]},
        "templating": {
            "list": [
                datasource,
                _variable("job", "label_values(up, job)"),
                _variable("instance", 'label_values(up{job=~"$job"}, instance)'),
                _variable("environment", 'label_values(up{job=~"$job"}, environment)'),
                _variable("gpu", 'label_values(nvidia_gpu_info{job=~"$job", instance=~"$instance"}, gpu)'),
            ]
        },
        "panels": panels,
    }


def expressions(board: dict[str, Any] | None = None) -> list[str]:
    """Every panel query of `board` (the default dashboard if None), as written in it."""
    board = board or dashboard()
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]
