"""Prometheus recording and alerting rules for obsagent's metrics (``obsagent rules``).

Recording rules give each endpoint's request rate, error ratio and p50/p95/p99 latency;
alerts cover latency, errors, disk, CPU, memory, GPUs (XID errors, row remapping and NVLink
too), targets that are down, collectors that fail and remote_write that can't deliver. Every
threshold is a parameter. Annotations name labels only (no ``$value``), so ``promtool test
rules`` can state them exactly.

With objectives (``--slo``, `slo.py`) come their error ratios, error budget remaining and
burn-rate alerts; a rules file (``--config``, `parse_config`) sets any alert's ``for``,
severity, labels, annotations, threshold and runbook URL, prefixes the names and disables
alerts. Without either the output is what it always was (with the GPU health alerts of
`gpu_health_alerts` in a group of their own)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any

from . import slo
from .slo import ConfigError

#: Labels the HTTP recording rules keep.
HTTP_BY = "job, instance, method, endpoint"
#: Where an alert's runbook is; ``{alert}`` is its name in lower case (see RUNBOOK_PLACEHOLDERS).
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
    #: LowRequestRate, which a rules file must enable (`optional_alerts`).
    min_requests_per_second: float = 1.0
    #: DatabasePoolSaturated (optional): checked-out share of the most connections the pool opens.
    db_pool_saturation_ratio: float = 0.9
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
    """One alerting rule; `summary` and `description` may name `{{ $labels.x }}`. `threshold`
    names the field of `Thresholds` it compares with, if any (``burn_rate``: an SLO's tier); `duration` ``0s`` writes no
    ``for``; `labels` and `annotations` are added to (or replace) the generated ones; a
    `runbook_url` template of its own replaces the file's."""

    name: str
    expr: str
    duration: str
    severity: str
    summary: str
    description: str
    threshold: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    runbook_url: str | None = None

    def rule(self, runbook_url: str) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.duration != "0s":
            rule["for"] = self.duration
        rule["labels"] = {"severity": self.severity, **self.labels}
        rule["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": runbook(self.runbook_url or runbook_url, self.name),
            **self.annotations,
        }
        return rule


#: What a runbook URL template may name: the alert in lower case (``highapilatency``), as
#: written (``HighAPILatency``) and as a snake_case slug (``high_api_latency``).
RUNBOOK_PLACEHOLDERS = ("alert", "name", "slug")


def slug(name: str) -> str:
    """``HighAPILatency`` -> ``high_api_latency``, ``AvailabilityBudgetBurn1h`` ->
    ``availability_budget_burn_1h``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[a-zA-Z])(?=[0-9])", "_", name).lower()


def runbook(template: str, name: str) -> str:
    return template.format(alert=name.lower(), name=name, slug=slug(name))


def check_runbook_url(template: str, where: str) -> str:
    """`template` if it names only known placeholders, else a ConfigError saying which."""
    try:
        runbook(template, "Alert")
    except (KeyError, IndexError, ValueError) as err:
        known = ", ".join(f"{{{p}}}" for p in RUNBOOK_PLACEHOLDERS)
        raise ConfigError(f"{where}: {template!r} is not a runbook URL template ({err}; it may name {known})") from None
    return template


def optional_alerts(t: Thresholds) -> list[Alert]:
    """Alerts only a rules file's ``enabled: true`` adds: a service's traffic is not a problem
    everywhere it is low."""
    return [
        Alert(
            "LowRequestRate",
            f"sum by (job) (rate(http_requests_total[5m])) < {t.min_requests_per_second}",
            "10m",
            "warning",
            f"Fewer than {t.min_requests_per_second:g} requests a second",
            f"{{{{ $labels.job }}}} has answered fewer than {t.min_requests_per_second:g} requests a second "
            "for 10 minutes.",
            threshold="min_requests_per_second",
        ),
        *health_alerts(t),
    ]


#: The optional alerts over obsagent.health's and obsagent.sqlalchemy's metrics (issue 16):
#: optional because only services using them have these series.
HEALTH_ALERTS = ("HealthCheckFailing", "DatabasePoolSaturated")


def health_alerts(t: Thresholds) -> list[Alert]:
    """A failing health check; a database pool nearly exhausted or with checkouts waiting."""
    saturation = (
        f"database_connections_active / database_connections_max > {t.db_pool_saturation_ratio}"
        " or database_connections_waiting > 0"
    )
    return [
        Alert(
            "HealthCheckFailing",
            "health_check_status == 0",
            "2m",
            "critical",
            "A health check fails",
            "The {{ $labels.check }} check of {{ $labels.job }} on {{ $labels.instance }} has failed for 2 minutes "
            "(its /health body says why).",
        ),
        Alert(
            "DatabasePoolSaturated",
            saturation,
            "5m",
            "warning",
            f"Database pool more than {t.db_pool_saturation_ratio:.0%} used, or checkouts waiting",
            f"{{{{ $labels.job }}}} on {{{{ $labels.instance }}}} has had more than {t.db_pool_saturation_ratio:.0%} "
            "of its pool's connections checked out, or checkouts waiting for one, for 5 minutes.",
            threshold="db_pool_saturation_ratio",
        ),
    ]


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
            threshold="api_latency_warning_seconds",
        ),
        Alert(
            "CriticalAPILatency",
            f"{p95} > {t.api_latency_critical_seconds}",
            "5m",
            "critical",
            f"p95 latency above {t.api_latency_critical_seconds} s",
            f"{where}: 95% of requests take longer than {t.api_latency_critical_seconds} s over 5 minutes.",
            threshold="api_latency_critical_seconds",
        ),
        Alert(
            "HighErrorRate",
            f"endpoint:http_request_errors:ratio_rate5m > {t.error_ratio}",
            "5m",
            "critical",
            f"More than {t.error_ratio:.0%} of requests fail with 5xx",
            f"{where}: more than {t.error_ratio:.0%} of responses are 5xx over 5 minutes.",
            threshold="error_ratio",
        ),
        Alert(
            "DiskSpaceLow",
            f"{disk} < {t.disk_free_ratio}",
            "10m",
            "warning",
            f"Less than {t.disk_free_ratio:.0%} disk space left",
            f"{{{{ $labels.mountpoint }}}} ({{{{ $labels.device }}}}) on {{{{ $labels.instance }}}} "
            f"has less than {t.disk_free_ratio:.0%} of its space free.",
            threshold="disk_free_ratio",
        ),
        Alert(
            "HighCPUUsage",
            f'100 - avg by (job, instance) (rate(node_cpu_seconds_total{{mode="idle"}}[5m])) * 100 > {t.cpu_percent}',
            "10m",
            "warning",
            f"CPU busier than {t.cpu_percent:g}%",
            f"{{{{ $labels.instance }}}} has used more than {t.cpu_percent:g}% of its CPU for 10 minutes.",
            threshold="cpu_percent",
        ),
        Alert(
            "HighMemoryUsage",
            f"(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) * 100 > {t.memory_percent}",
            "10m",
            "warning",
            f"Memory more than {t.memory_percent:g}% used",
            f"{{{{ $labels.instance }}}} has less than {100 - t.memory_percent:g}% of its memory available.",
            threshold="memory_percent",
        ),
        Alert(
            "GPUMemoryExhaustion",
            f"nvidia_gpu_memory_used_bytes / nvidia_gpu_memory_total_bytes * 100 > {t.gpu_memory_percent}",
            "5m",
            "warning",
            f"GPU memory more than {t.gpu_memory_percent:g}% used",
            f"GPU {{{{ $labels.gpu }}}} ({{{{ $labels.name }}}}) on {{{{ $labels.instance }}}} "
            f"has used more than {t.gpu_memory_percent:g}% of its memory for 5 minutes.",
            threshold="gpu_memory_percent",
        ),
        Alert(
            "GPUHighTemperature",
            f"nvidia_gpu_temperature_celsius > {t.gpu_temperature_celsius}",
            "5m",
            "warning",
            f"GPU hotter than {t.gpu_temperature_celsius:g} °C",
            f"GPU {{{{ $labels.gpu }}}} ({{{{ $labels.name }}}}) on {{{{ $labels.instance }}}} "
            f"is above {t.gpu_temperature_celsius:g} °C.",
            threshold="gpu_temperature_celsius",
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


@dataclass(frozen=True)
class AlertConfig:
    """What a rules file changes in one alert (``alerts: {HighCPUUsage: {...}}``)."""

    duration: str | None = None
    severity: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    #: A burn-rate alert's burn rate; other alerts' thresholds go to `RulesConfig.thresholds`.
    threshold: float | None = None
    runbook_url: str | None = None
    #: False drops the alert, True adds an optional one (`optional_alerts`), None: as by default.
    enabled: bool | None = None


@dataclass(frozen=True)
class RulesConfig:
    """A rules file (``obsagent rules --config rules.yml``); the defaults change nothing."""

    prefix: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    #: `Thresholds` fields to replace (``runbook_url`` included).
    thresholds: dict[str, Any] = field(default_factory=dict)
    alerts: dict[str, AlertConfig] = field(default_factory=dict)
    objectives: tuple[slo.Objective, ...] = ()
    period: str = slo.PERIOD
    latency_buckets: tuple[float, ...] = slo.DEFAULT_BUCKETS


def gpu_health_alerts() -> list[Alert]:
    """What GPU operators page on beyond temperature and memory: XID errors (NVML events),
    memory rows the GPU could not remap or that wait for a reset, and NVLink links that are down
    or erring. Over the default ``nvidia_gpu_*`` names."""
    gpu = "GPU {{ $labels.gpu }} ({{ $labels.uuid }}) on {{ $labels.instance }}"
    return [
        Alert(
            "GPUXidError",
            # `unless ... offset`: the first event of an XID starts its series at 1, which
            # increase() alone, with no sample before it, would miss.
            "increase(nvidia_gpu_xid_errors_total[10m]) > 0"
            " or (nvidia_gpu_xid_errors_total unless nvidia_gpu_xid_errors_total offset 10m)",
            "0s",
            "warning",
            "GPU reported an XID error",
            f"{gpu} reported XID {{{{ $labels.xid }}}} in the last 10 minutes (see NVIDIA's XID catalogue).",
        ),
        Alert(
            "GPURowRemapFailed",
            "nvidia_gpu_remapped_rows_failed == 1",
            "0s",
            "critical",
            "GPU memory row remapping failed",
            f"{gpu} could not remap a failing memory row: the GPU needs service.",
        ),
        Alert(
            "GPURowRemapPending",
            "nvidia_gpu_remapped_rows_pending == 1",
            "15m",
            "warning",
            "GPU needs a reset to remap a memory row",
            f"{gpu} has a memory row remapping that waits for a GPU reset.",
        ),
        Alert(
            "GPUNVLinkDown",
            "nvidia_gpu_nvlink_active == 0",
            "2m",
            "critical",
            "NVLink link down",
            f"NVLink link {{{{ $labels.link }}}} of {gpu} is down.",
        ),
        Alert(
            "GPUNVLinkErrors",
            "increase(nvidia_gpu_nvlink_errors_total[10m]) > 0",
            "0s",
            "warning",
            "NVLink errors",
            f"NVLink link {{{{ $labels.link }}}} of {gpu} had {{{{ $labels.type }}}} errors in the last 10 minutes.",
        ),
    ]


def slo_alerts(
    objective: slo.Objective, period: str = slo.PERIOD, burn_rates: dict[str, float] | None = None
) -> list[Alert]:
    """One multiwindow burn-rate alert per tier of `slo.TIERS` (`burn_rates` by alert name
    replaces a tier's)."""
    where = "{{ $labels.job }}"
    if objective.per_endpoint:
        where += " {{ $labels.method }} {{ $labels.endpoint }}"
    selector = f'{{slo="{objective.name}"}}'
    budget = slo.format_number(objective.budget)
    out = []
    for tier in slo.TIERS:
        name = f"{slo.pascal(objective.name)}BudgetBurn{tier.long}"
        rate = (burn_rates or {}).get(name, tier.burn_rate)
        limit = f"({slo.format_number(rate)} * {budget})"
        long, short = objective.ratio_series(tier.long), objective.ratio_series(tier.short)
        spent = rate * slo.duration_seconds(tier.long) / slo.duration_seconds(period)
        out.append(
            Alert(
                name,
                f"{long}{selector} > {limit} and {short}{selector} > {limit}",
                "0s",
                tier.severity,
                f"{objective.name} SLO: error budget burning {slo.format_number(rate)}x too fast",
                f"{where} is spending the {period} error budget of its {objective.name} objective "
                f"({objective.describe()}) {slo.format_number(rate)} times too fast over {tier.long} and {tier.short}:"
                f" {spent * 100:.3g}% of the budget in {tier.long}.",
                threshold="burn_rate",
            )
        )
    return out


def rules(thresholds: Thresholds = Thresholds(), config: RulesConfig = RulesConfig()) -> dict[str, Any]:
    """The rules file as data: `thresholds`, then what `config` sets over them."""
    thresholds = replace(thresholds, **config.thresholds)
    check_runbook_url(thresholds.runbook_url, "runbook_url")
    burn_rates = {name: c.threshold for name, c in config.alerts.items() if c.threshold is not None}
    wanted = [a for a in optional_alerts(thresholds) if config.alerts.get(a.name, AlertConfig()).enabled]
    groups = [("obsagent-alerts", alerts(thresholds) + wanted), ("obsagent-gpu-health-alerts", gpu_health_alerts())]
    recording: list[dict[str, Any]] = []
    burning: list[Alert] = []
    for objective in config.objectives:
        slo.check_objective(objective, config.latency_buckets, f"slo {objective.name}")
        recording += slo.recording_rules(objective, config.period)
        burning += slo_alerts(objective, config.period, burn_rates)
    if burning:
        groups.append(("obsagent-slo-alerts", burning))
    known = {alert.name: alert for _, group in groups for alert in group}
    known.update((alert.name, alert) for alert in optional_alerts(thresholds))
    for name, settings in config.alerts.items():
        if name not in known:
            raise ConfigError(f"alerts.{name}: no such alert (there are {', '.join(known)})")
        if settings.threshold is not None and known[name].threshold != "burn_rate":
            raise ConfigError(f"alerts.{name}.threshold: {name} has no threshold")
        if settings.threshold is not None and settings.threshold <= 0:
            raise ConfigError(f"alerts.{name}.threshold: a burn rate must be more than 0, not {settings.threshold:g}")
    out = [{"name": "obsagent-http-recording", "rules": recording_rules()}]
    for group, members in groups:
        if group == "obsagent-slo-alerts":
            out.append({"name": "obsagent-slo-recording", "rules": recording})
        configured = [
            configure(a, config) for a in members if config.alerts.get(a.name, AlertConfig()).enabled is not False
        ]
        out.append({"name": group, "rules": [a.rule(thresholds.runbook_url) for a in configured]})
    return {"groups": out}


def configure(alert: Alert, config: RulesConfig) -> Alert:
    """`alert` with the file's prefix, labels and annotations and its own settings."""
    own = config.alerts.get(alert.name, AlertConfig())
    return replace(
        alert,
        name=config.prefix + alert.name,
        duration=own.duration or alert.duration,
        severity=own.severity or alert.severity,
        labels={**alert.labels, **config.labels, **own.labels},
        annotations={**alert.annotations, **config.annotations, **own.annotations},
        runbook_url=own.runbook_url or alert.runbook_url,
    )


_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ALERT_KEYS = {f.name for f in fields(AlertConfig)} - {"duration"} | {"for"}
_SLO_KEYS = ("objective", "threshold", "per_endpoint", "matchers")


def _mapping(value: Any, path: str, known: Any) -> dict[str, Any]:
    """`value` as a mapping whose keys are all in `known` (any key when `known` is None)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path or 'the file'}: must be a mapping, not {type(value).__name__}")
    for key in value:
        if known is not None and key not in known:
            raise ConfigError(f"{path + '.' if path else ''}{key}: unknown key (known: {', '.join(sorted(known))})")
    return value


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: must be a non-empty string, not {value!r}")
    return value


def _labels(value: Any, path: str, annotations: bool = False) -> dict[str, str]:
    """Label (or annotation) names to strings; ``severity`` and ``alertname`` are set otherwise."""
    out = {}
    for key, text in _mapping(value, path, None).items():
        if not isinstance(key, str) or not _LABEL.fullmatch(key) or key.startswith("__"):
            raise ConfigError(f"{path}.{key}: not a label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)")
        if not annotations and key in ("severity", "alertname"):
            raise ConfigError(f"{path}.{key}: set by obsagent (an alert's `severity:` sets its severity)")
        out[key] = _string(text, f"{path}.{key}")
    return out


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{path}: must be a number, not {value!r}")
    return float(value)


def parse_config(data: Any) -> RulesConfig:
    """A rules file's contents (as YAML reads it) checked key by key; see README.md."""
    top = _mapping(data, "", ("prefix", "runbook_url", "labels", "annotations", "thresholds", "alerts", "slo"))
    by_threshold = {a.name: a.threshold for a in alerts(Thresholds()) + optional_alerts(Thresholds())}
    settable = dict(threshold_fields())
    thresholds: dict[str, Any] = {}
    for key, value in _mapping(top.get("thresholds"), "thresholds", set(settable) - {"runbook_url"}).items():
        thresholds[key] = _number(value, f"thresholds.{key}")
    if "runbook_url" in top:
        thresholds["runbook_url"] = check_runbook_url(_string(top["runbook_url"], "runbook_url"), "runbook_url")
    prefix = top.get("prefix", "")
    if prefix and (not isinstance(prefix, str) or not _LABEL.fullmatch(prefix)):
        raise ConfigError(f"prefix: {prefix!r} can't begin an alert name ([a-zA-Z_][a-zA-Z0-9_]*)")
    configs = {}
    for name, value in _mapping(top.get("alerts"), "alerts", None).items():
        path = f"alerts.{name}"
        own = _mapping(value, path, _ALERT_KEYS)
        threshold = None
        if "threshold" in own:
            number = _number(own["threshold"], f"{path}.threshold")
            settles = by_threshold.get(name)
            if settles:
                thresholds[settles] = number
            else:  # a burn rate, or an alert with no threshold (told when the alerts are known)
                threshold = number
        enabled = own.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise ConfigError(f"{path}.enabled: must be true or false, not {enabled!r}")
        configs[name] = AlertConfig(
            duration=slo.check_duration(own["for"], f"{path}.for") if "for" in own else None,
            severity=_string(own["severity"], f"{path}.severity") if "severity" in own else None,
            labels=_labels(own.get("labels"), f"{path}.labels"),
            annotations=_labels(own.get("annotations"), f"{path}.annotations", annotations=True),
            threshold=threshold,
            runbook_url=(
                check_runbook_url(_string(own["runbook_url"], f"{path}.runbook_url"), f"{path}.runbook_url")
                if "runbook_url" in own
                else None
            ),
            enabled=enabled,
        )
    section = _mapping(top.get("slo"), "slo", ("period", "latency_buckets", "per_endpoint", "objectives"))
    period = slo.check_duration(section.get("period", slo.PERIOD), "slo.period")
    buckets = section.get("latency_buckets", slo.DEFAULT_BUCKETS)
    if not isinstance(buckets, (list, tuple)) or not buckets:
        raise ConfigError(f"slo.latency_buckets: must be a list of bucket bounds in seconds, not {buckets!r}")
    buckets = tuple(_number(b, f"slo.latency_buckets[{n}]") for n, b in enumerate(buckets))
    per_endpoint = section.get("per_endpoint", False)
    if not isinstance(per_endpoint, bool):
        raise ConfigError(f"slo.per_endpoint: must be true or false, not {per_endpoint!r}")
    objectives = []
    for name, spec in _mapping(section.get("objectives"), "slo.objectives", None).items():
        path = f"slo.objectives.{name}"
        if isinstance(spec, (str, int, float)) and not isinstance(spec, bool):
            objective = replace(slo.parse_spec(name, str(spec), path), per_endpoint=per_endpoint)
        else:
            own = _mapping(spec, path, _SLO_KEYS)
            if "objective" not in own:
                raise ConfigError(f"{path}.objective: missing (a percentage, for example 99.9)")
            given = own.get("threshold")
            if isinstance(given, (int, float)) and not isinstance(given, bool):
                given = f"{given}s"  # seconds
            where = f"{path}.threshold"
            objective = slo.Objective(
                slo.check_name(name, path),
                slo.parse_target(own["objective"], f"{path}.objective"),
                None if given is None else slo.parse_seconds(_string(given, where), where),
                own.get("per_endpoint", per_endpoint),
                own.get("matchers", ""),
            )
            if not isinstance(objective.per_endpoint, bool):
                raise ConfigError(f"{path}.per_endpoint: must be true or false, not {objective.per_endpoint!r}")
            if not isinstance(objective.matchers, str):
                raise ConfigError(f"{path}.matchers: must be a string of label matchers, not {objective.matchers!r}")
        objectives.append(slo.check_objective(objective, buckets, path))
    return RulesConfig(
        prefix=prefix,
        labels=_labels(top.get("labels"), "labels"),
        annotations=_labels(top.get("annotations"), "annotations", annotations=True),
        thresholds=thresholds,
        alerts=configs,
        objectives=tuple(objectives),
        period=period,
        latency_buckets=buckets,
    )


def load_config(path: str) -> RulesConfig:
    """The rules file at `path` (YAML); a ConfigError names the file and the key."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigError(f"{path}: reading a rules file needs PyYAML (pip install 'obsagent[rules]')") from None
    try:
        with open(path, encoding="utf-8") as file:
            data = yaml.safe_load(file)
    except OSError as err:
        raise ConfigError(f"{path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from None
    try:
        return parse_config(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


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
