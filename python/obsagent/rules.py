"""Prometheus recording and alerting rules for obsagent's metrics (``obsagent rules``).

Recording rules give each endpoint's request rate, error ratio and p50/p95/p99 latency;
alerts cover latency, errors, disk, CPU, memory, GPUs, targets that are down, collectors
that fail and remote_write that can't deliver. Every threshold is a parameter. Annotations
name labels only (no ``$value``), so ``promtool test rules`` can state them exactly."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

#: Labels the HTTP recording rules keep.
HTTP_BY = "job, instance, method, endpoint"
#: Where an alert's runbook is; ``{alert}`` is its name in lower case.
DEFAULT_RUNBOOK_URL = "https://runbooks.example.com/obsagent/{alert}"


@dataclass(frozen=True)
class Thresholds:
    """When each alert fires."""

    api_latency_warning_seconds: float = 0.5
    api_latency_critical_seconds: float = 1.0
    error_ratio: float = 0.01
    disk_free_ratio: float = 0.15
    cpu_percent: float = 80.0
    memory_percent: float = 90.0
    gpu_memory_percent: float = 95.0
    gpu_temperature_celsius: float = 85.0
    runbook_url: str = DEFAULT_RUNBOOK_URL


def recording_rules() -> list[dict[str, str]]:
    """Rate, error ratio and latency quantiles per endpoint, over 5 minutes."""
    rate = f"sum by ({HTTP_BY}) (rate(http_requests_total[5m]))"
    errors = f'sum by ({HTTP_BY}) (rate(http_requests_total{{status=~"5.."}}[5m]))'
    rules = [
        {"record": "endpoint:http_requests:rate5m", "expr": rate},
        # `or ... * 0`: an endpoint with no 5xx has ratio 0, not no series.
        {"record": "endpoint:http_request_errors:ratio_rate5m", "expr": f"({errors} or {rate} * 0) / {rate}"},
    ]
    for quantile in (50, 95, 99):
        buckets = f"sum by ({HTTP_BY}, le) (rate(http_request_duration_seconds_bucket[5m]))"
        rules.append(
            {
                "record": f"endpoint:http_request_duration_seconds:p{quantile}_5m",
                "expr": f"histogram_quantile({quantile / 100}, {buckets})",
            }
        )
    return rules


@dataclass(frozen=True)
class Alert:
    """One alerting rule; `summary` and `description` may name `{{ $labels.x }}`."""

    name: str
    expr: str
    duration: str
    severity: str
    summary: str
    description: str

    def rule(self, runbook_url: str) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.duration,
            "labels": {"severity": self.severity},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": runbook_url.format(alert=self.name.lower()),
            },
        }


def alerts(t: Thresholds) -> list[Alert]:
    """The alerts, with `t`'s thresholds."""
    p95 = "endpoint:http_request_duration_seconds:p95_5m"
    where = "{{ $labels.method }} {{ $labels.endpoint }} on {{ $labels.instance }}"
    disk = 'node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs"} / node_filesystem_size_bytes{fstype!~"tmpfs|ramfs"}'
    return [
        Alert(
            "HighAPILatency",
            f"{p95} > {t.api_latency_warning_seconds}",
            "5m",
            "warning",
            f"p95 latency above {t.api_latency_warning_seconds} s",
            f"{where}: 95% of requests take longer than {t.api_latency_warning_seconds} s over 5 minutes.",
        ),
        Alert(
            "CriticalAPILatency",
            f"{p95} > {t.api_latency_critical_seconds}",
            "5m",
            "critical",
            f"p95 latency above {t.api_latency_critical_seconds} s",
            f"{where}: 95% of requests take longer than {t.api_latency_critical_seconds} s over 5 minutes.",
        ),
        Alert(
            "HighErrorRate",
            f"endpoint:http_request_errors:ratio_rate5m > {t.error_ratio}",
            "5m",
            "critical",
            f"More than {t.error_ratio:.0%} of requests fail with 5xx",
            f"{where}: more than {t.error_ratio:.0%} of responses are 5xx over 5 minutes.",
        ),
        Alert(
            "DiskSpaceLow",
            f"{disk} < {t.disk_free_ratio}",
            "10m",
            "warning",
            f"Less than {t.disk_free_ratio:.0%} disk space left",
            f"{{{{ $labels.mountpoint }}}} ({{{{ $labels.device }}}}) on {{{{ $labels.instance }}}} "
            f"has less than {t.disk_free_ratio:.0%} of its space free.",
        ),
        Alert(
            "HighCPUUsage",
            f'100 - avg by (job, instance) (rate(node_cpu_seconds_total{{mode="idle"}}[5m])) * 100 > {t.cpu_percent}',
            "10m",
            "warning",
            f"CPU busier than {t.cpu_percent:g}%",
            f"{{{{ $labels.instance }}}} has used more than {t.cpu_percent:g}% of its CPU for 10 minutes.",
        ),
        Alert(
            "HighMemoryUsage",
            f"(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) * 100 > {t.memory_percent}",
            "10m",
            "warning",
            f"Memory more than {t.memory_percent:g}% used",
            f"{{{{ $labels.instance }}}} has less than {100 - t.memory_percent:g}% of its memory available.",
        ),
        Alert(
            "GPUMemoryExhaustion",
            f"nvidia_gpu_memory_used_bytes / nvidia_gpu_memory_total_bytes * 100 > {t.gpu_memory_percent}",
            "5m",
            "warning",
            f"GPU memory more than {t.gpu_memory_percent:g}% used",
            f"GPU {{{{ $labels.gpu }}}} ({{{{ $labels.name }}}}) on {{{{ $labels.instance }}}} "
            f"has used more than {t.gpu_memory_percent:g}% of its memory for 5 minutes.",
        ),
        Alert(
            "GPUHighTemperature",
            f"nvidia_gpu_temperature_celsius > {t.gpu_temperature_celsius}",
            "5m",
            "warning",
            f"GPU hotter than {t.gpu_temperature_celsius:g} °C",
            f"GPU {{{{ $labels.gpu }}}} ({{{{ $labels.name }}}}) on {{{{ $labels.instance }}}} "
            f"is above {t.gpu_temperature_celsius:g} °C.",
        ),
        Alert(
            "GPULost",
            "nvidia_gpu_lost == 1",
            "1m",
            "critical",
            "GPU fell off the bus",
            "GPU {{ $labels.gpu }} ({{ $labels.uuid }}) on {{ $labels.instance }} no longer answers NVML.",
        ),
        Alert(
            "InstanceDown",
            "up == 0",
            "2m",
            "critical",
            "Target down",
            "{{ $labels.job }} target {{ $labels.instance }} has not answered scrapes for 2 minutes.",
        ),
        Alert(
            "CollectorFailing",
            "node_scrape_collector_success == 0",
            "10m",
            "warning",
            "A system collector fails",
            "The {{ $labels.collector }} collector of {{ $labels.instance }} has failed for 10 minutes "
            "(the agent's log says why).",
        ),
        Alert(
            "RemoteWriteFailing",
            "rate(obsagent_remote_write_samples_failed_total[5m]) > 0"
            " or rate(obsagent_remote_write_samples_dropped_total[5m]) > 0",
            "10m",
            "warning",
            "remote_write is losing samples",
            "{{ $labels.instance }} has failed or dropped remote_write samples for 10 minutes.",
        ),
    ]


def rules(thresholds: Thresholds = Thresholds()) -> dict[str, Any]:
    """The rules file as data."""
    return {
        "groups": [
            {"name": "obsagent-http-recording", "rules": recording_rules()},
            {"name": "obsagent-alerts", "rules": [a.rule(thresholds.runbook_url) for a in alerts(thresholds)]},
        ]
    }


def to_yaml(data: Any, indent: int = 0) -> str:
    """YAML for nested dicts, lists and scalars; strings are double-quoted (JSON's escapes,
    which YAML reads the same), so no expression or template needs further quoting."""
    pad = " " * indent
    if isinstance(data, dict):
        lines = []
        for key, value in data.items():
            if isinstance(value, (dict, list)) and value:
                lines.append(f"{pad}{key}:\n{to_yaml(value, indent + 2)}")
            else:
                lines.append(f"{pad}{key}: {_scalar(value)}")
        return "\n".join(lines)
    if isinstance(data, list):
        items = []
        for value in data:
            text = to_yaml(value, indent + 2) if isinstance(value, (dict, list)) else f"{pad}  {_scalar(value)}"
            items.append(f"{pad}- {text.lstrip()}")
        return "\n".join(items)
    return pad + _scalar(data)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(value)


def threshold_fields() -> list[tuple[str, Any]]:
    """`(name, default)` of every threshold, for the CLI's flags."""
    return [(f.name, f.default) for f in fields(Thresholds)]
