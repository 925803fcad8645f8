"""Service level objectives over the middleware's series (``obsagent rules --slo``).

An objective says which share of a service's requests must be good: answered without a 5xx
(availability, ``availability=99.9``) or within a latency threshold (``latency=1s@99``: 99% of
requests within 1 s, read from the histogram's ``le="1"`` bucket). Its error budget is the rest
(0.1%, 1%); the burn rate is the error ratio over a window divided by that budget, so a burn
rate of 1 spends the budget in exactly the SLO period.

Alerts follow the SRE workbook's "multiwindow, multi-burn-rate" alerts (chapter 5, "Alerting
on SLOs"): each tier fires when the error ratio over a long window *and* over a short one (a
twelfth of it, so that the alert resets soon after the burning stops) are both above
``burn rate x budget``. The workbook's recommended table for a 30-day budget is the two pages
(14.4x over 1h/5m, 2% of the budget spent; 6x over 6h/30m, 5%) and one ticket (1x over 3d/6h,
10%); we add a ticket at 3x over 1d/2h (10% in a day) between the 6x page and the 1x ticket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._http_metrics import DURATION_BUCKETS


class ConfigError(ValueError):
    """An objective or a rules file that can't be used; the message names what and where."""


#: The windows ratios are recorded over (every tier's long and short window).
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
#: The period an error budget is counted over, and the one "budget remaining" is recorded for.
PERIOD = "30d"


@dataclass(frozen=True)
class Tier:
    """One burn-rate alert of an objective: its name's suffix is the long window."""

    severity: str
    long: str
    short: str
    burn_rate: float


#: The SRE workbook's table (page 14.4x and 6x, ticket 1x) and a 3x ticket over a day.
TIERS = (
    Tier("critical", "1h", "5m", 14.4),
    Tier("critical", "6h", "30m", 6.0),
    Tier("warning", "1d", "2h", 3.0),
    Tier("warning", "3d", "6h", 1.0),
)

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_SECONDS = re.compile(r"(\d+(?:\.\d+)?)(ms|s)?")
_DURATION = re.compile(r"(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?")
_MATCHER = r'\s*[a-zA-Z_]\w*\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*'
_MATCHERS = re.compile(rf"{_MATCHER}(,{_MATCHER})*,?\s*")


def check_duration(text: str, where: str) -> str:
    """`text` if it is a Prometheus duration (``5m``, ``1h30m``), else an ConfigError."""
    if not isinstance(text, str) or not text or not _DURATION.fullmatch(text):
        raise ConfigError(f"{where}: {text!r} is not a Prometheus duration (for example 30s, 5m, 1h)")
    return text


def duration_seconds(text: str) -> float:
    """A Prometheus duration in seconds."""
    units = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|[ywdhms])", check_duration(text, "duration")))


def pascal(name: str) -> str:
    """``llm_latency`` -> ``LlmLatency``: an objective's name in an alert's."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def format_number(value: float) -> str:
    """A threshold as PromQL and people read it: ``0.001``, ``14.4``, ``1``."""
    return f"{value:.10g}"


def le_matcher(bound: float) -> str:
    """The `le` label of the bucket ending at `bound`, in either form it is exposed in: Python's
    clients write ``1.0``, Prometheus 3 normalizes it to ``1``."""
    text = format_number(bound)
    if "." in text or "e" in text:
        return f'le="{text}"'
    return f'le=~"{text}(\\\\.0)?"'


@dataclass(frozen=True)
class Objective:
    """One SLO: `target` percent of requests good; a latency objective has a `threshold`."""

    name: str
    target: float
    threshold: float | None = None
    per_endpoint: bool = False
    #: Extra label matchers of the requests it counts (``endpoint=~"/v1/chat.*"``).
    matchers: str = ""

    @property
    def kind(self) -> str:
        return "availability" if self.threshold is None else "latency"

    @property
    def budget(self) -> float:
        """The error budget, as a ratio: 0.001 for 99.9%."""
        return round(1 - self.target / 100, 12)

    @property
    def by(self) -> str:
        return "job, method, endpoint" if self.per_endpoint else "job"

    @property
    def level(self) -> str:
        """The aggregation level in the recorded series' names."""
        return "job_endpoint" if self.per_endpoint else "job"

    def ratio_series(self, window: str) -> str:
        return f"{self.level}:slo_errors:ratio_rate{window}"

    @property
    def budget_series(self) -> str:
        return f"{self.level}:slo_error_budget_remaining:ratio"

    def selector(self, *extra: str) -> str:
        parts = [part for part in (self.matchers.strip().rstrip(","), *extra) if part]
        return "{" + ", ".join(parts) + "}" if parts else ""

    def error_ratio(self, window: str, scope: str = "") -> str:
        """Bad requests over all requests in `window`, per `by`: the SLI's complement; `scope`
        adds label matchers (the dashboard's variables)."""
        if self.threshold is None:
            failed = self.selector(scope, 'status=~"5.."')
            total = f"sum by ({self.by}) (rate(http_requests_total{self.selector(scope)}[{window}]))"
            errors = f"sum by ({self.by}) (rate(http_requests_total{failed}[{window}]))"
            # `or ... * 0`: a service with no 5xx has ratio 0, not no series.
            return f"({errors} or {total} * 0) / {total}"
        fast = self.selector(scope, le_matcher(self.threshold))
        good = f"sum by ({self.by}) (rate(http_request_duration_seconds_bucket{fast}[{window}]))"
        total = f"sum by ({self.by}) (rate(http_request_duration_seconds_count{self.selector(scope)}[{window}]))"
        return f"1 - {good} / {total}"

    def describe(self) -> str:
        """``99.9% of requests without a 5xx`` / ``99% of requests within 1 s``."""
        good = "without a 5xx" if self.threshold is None else f"within {format_number(self.threshold)} s"
        return f"{format_number(self.target)}% of requests {good}"


def parse_seconds(text: str, where: str) -> float:
    match = _SECONDS.fullmatch(text.strip())
    if not match:
        raise ConfigError(f"{where}: {text!r} is not a latency threshold (for example 250ms, 1s, 2.5s)")
    number, unit = match.groups()
    return float(number) / (1000 if unit == "ms" else 1)


def parse_target(value: object, where: str) -> float:
    try:
        target = float(str(value).strip().rstrip("%"))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a percentage (for example 99.9)") from None
    if not 0 < target < 100:
        raise ConfigError(f"{where}: the objective must be between 0 and 100 (exclusive), not {value!r}")
    return target


def check_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: {name!r} is not an objective name (lower case letters, digits and _)")
    return name


def parse_spec(name: str, spec: str, where: str) -> Objective:
    """``99.9`` (availability) or ``1s@99`` (latency) for objective `name`."""
    check_name(name, where)
    threshold, at, target = str(spec).rpartition("@")
    if not at:
        return Objective(name, parse_target(target, where))
    return Objective(name, parse_target(target, where), parse_seconds(threshold, where))


def parse_flag(text: str) -> Objective:
    """``--slo availability=99.9`` or ``--slo latency=1s@99``."""
    name, eq, spec = text.partition("=")
    if not eq:
        raise ConfigError(f"{text!r} is not NAME=OBJECTIVE (for example availability=99.9 or latency=1s@99)")
    return parse_spec(name.strip(), spec.strip(), f"--slo {text}")


def check_objective(objective: Objective, buckets: tuple[float, ...], where: str) -> Objective:
    """`objective` if its threshold is a bound of `buckets` and its matchers parse."""
    if objective.threshold is not None and objective.threshold not in buckets:
        bounds = ", ".join(format_number(b) for b in buckets)
        raise ConfigError(
            f"{where}: a latency threshold must be a bucket bound of http_request_duration_seconds, "
            f"and {format_number(objective.threshold)} s is not one of {bounds} "
            "(set the buckets your middleware uses with --latency-buckets or slo.latency_buckets)"
        )
    if objective.matchers and not _MATCHERS.fullmatch(objective.matchers):
        raise ConfigError(f'{where}: {objective.matchers!r} is not a list of label matchers (endpoint=~"/v1/.*")')
    return objective


def parse_buckets(text: str) -> tuple[float, ...]:
    """``--latency-buckets 0.1,0.5,1,5``."""
    try:
        buckets = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{text!r} is not a comma-separated list of bucket bounds in seconds") from None
    if not buckets:
        raise ConfigError("no bucket bounds given")
    return buckets


#: The middleware's own buckets, which a latency threshold must be one of unless told otherwise.
DEFAULT_BUCKETS = DURATION_BUCKETS


def recording_rules(objective: Objective, period: str = PERIOD) -> list[dict[str, object]]:
    """The error ratio over every window and the period, and the error budget left."""
    labels = {"slo": objective.name}
    rules: list[dict[str, object]] = [
        {"record": objective.ratio_series(window), "expr": objective.error_ratio(window), "labels": labels}
        for window in dict.fromkeys((*WINDOWS, period))
    ]
    spent = f'{objective.ratio_series(period)}{{slo="{objective.name}"}} / {format_number(objective.budget)}'
    rules.append({"record": objective.budget_series, "expr": f"1 - {spent}", "labels": labels})
    return rules
