"""A Grafana dashboard for obsagent's metrics (``obsagent dashboard``): HTTP (rate, errors,
p50/p95/p99), system (CPU, memory, disk, network, load) and GPU (utilization, memory,
temperature, power) rows, with ``job``, ``instance`` and ``gpu`` variables."""

from __future__ import annotations

from typing import Any

HTTP = 'job=~"$job", instance=~"$instance"'
NODE = 'job=~"$job", instance=~"$instance"'
GPU = 'job=~"$job", instance=~"$instance", gpu=~"$gpu"'

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


def dashboard() -> dict[str, Any]:
    """The dashboard, in Grafana's current JSON model."""
    panels: list[dict[str, Any]] = []
    y = 0
    for row, row_panels in PANELS:
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
        for i, (title, unit, targets) in enumerate(row_panels):
            panels.append(
                {
                    "type": "timeseries",
                    "title": title,
                    "id": len(panels) + 1,
                    "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": y + 8 * (i // 2)},
                    "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                    "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
                    "targets": [
                        {"expr": expr, "legendFormat": legend, "refId": chr(ord("A") + n)}
                        for n, (expr, legend) in enumerate(targets)
                    ],
                }
            )
        y += 8 * ((len(row_panels) + 1) // 2)
    datasource = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
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
        "templating": {
            "list": [
                datasource,
                _variable("job", "label_values(up, job)"),
                _variable("instance", 'label_values(up{job=~"$job"}, instance)'),
                _variable("gpu", 'label_values(nvidia_gpu_info{job=~"$job", instance=~"$instance"}, gpu)'),
            ]
        },
        "panels": panels,
    }


def expressions() -> list[str]:
    """Every panel query, as written in the dashboard."""
    return [expr for _, row_panels in PANELS for _, _, targets in row_panels for expr, _ in targets]
