"""The RED metrics both web middlewares record, and what they share: the metric set (obsagent's,
with its options, or prometheus-fastapi-instrumentator's), one bound child per (method, endpoint)
so that a request costs no label lookup, path exclusion and the extra labels.

Options cost only where used: the default request runs the same code as without them (label
names are chosen once; grouped statuses are cached per status like the plain ones)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from .metrics import Counter, Gauge, Histogram, Summary
from .registry import REGISTRY, CollectorRegistry

#: What requests that match no route are labelled with, so that cardinality stays bounded.
UNMATCHED = "<unmatched>"
#: Paths not measured unless told otherwise: the metrics and health endpoints.
DEFAULT_EXCLUDED_PATHS = ("/metrics", "/health", "/healthz", "/livez", "/readyz", "/-/healthy", "/-/ready")
#: Request and response sizes, bytes: 100 B to 10 MB.
SIZE_BUCKETS = (100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0)
#: Most endpoints answer within a few ms to a few s.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)

#: Methods kept as they are; any other is labelled OTHER, so a client can't mint label values.
METHODS = frozenset(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"])
#: Past this many paths the path -> endpoint cache is emptied (paths hold ids; templates don't).
MAX_PATHS = 10_000

#: The preset with prometheus-fastapi-instrumentator's default metrics (its `metrics.default()`).
INSTRUMENTATOR = "instrumentator"
#: Its high-resolution histogram's buckets, and those of its labelled one.
INSTRUMENTATOR_HIGHR_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 7.5, 10, 30, 60,
)  # fmt: skip
INSTRUMENTATOR_LOWR_BUCKETS = (0.1, 0.5, 1)
#: Its handler label for requests that match no route.
INSTRUMENTATOR_UNMATCHED = "none"

#: An attribute set on obsagent's own metrics and health apps: wherever they are mounted, the
#: ASGI middleware doesn't measure the requests they answer.
UNMEASURED = "_obsagent_unmeasured"


def method_label(method: str) -> str:
    return method if method in METHODS else "OTHER"


def grouped(status: int) -> str:
    """``2xx`` for 200..299, and so on."""
    return f"{status // 100}xx"


def _exemplars_supported() -> bool:
    """Whether this build's counters and histograms take ``exemplar=`` (prometheus_client's API)."""
    try:
        Counter("obsagent_exemplar_probe", "", registry=None).inc(0, exemplar={"trace_id": "0"})  # type: ignore[call-arg]
        Histogram("obsagent_exemplar_probe", "", registry=None).observe(0, exemplar={"trace_id": "0"})  # type: ignore[call-arg]
    except TypeError:
        return False
    return True


def trace_exemplar() -> Callable[[], dict[str, str] | None] | None:
    """A function giving the current OpenTelemetry span's ``{"trace_id", "span_id"}`` (None when no
    valid span is current); None when opentelemetry-api is not installed."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    current_span = trace.get_current_span

    def current() -> dict[str, str] | None:
        context = current_span().get_span_context()
        if not context.is_valid:
            return None
        return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}

    return current


class ExtraLabel:
    """A label added to ``http_requests_total`` and the duration histogram, read from the request
    when it is over: a request header, ``request.state`` (ASGI: ``scope["state"]``; WSGI: an
    ``environ`` key), or ``source(scope)`` / ``source(environ)``. Its values are bounded: those in
    `values` when given, else the first `max_values` seen; any other is `other`; a request without
    one gets `default`."""

    def __init__(
        self,
        name: str,
        *,
        header: str | None = None,
        state: str | None = None,
        source: Callable[[dict[str, Any]], str | None] | None = None,
        values: Iterable[str] | None = None,
        max_values: int = 20,
        default: str = "",
        other: str = "other",
    ) -> None:
        if sum(x is not None for x in (header, state, source)) != 1:
            raise ValueError(f"extra label {name!r}: give exactly one of header=, state= or source=")
        if max_values < 1:
            raise ValueError(f"extra label {name!r}: max_values must be at least 1, not {max_values}")
        self.name, self.state, self.source = name, state, source
        self.header = header.lower().encode("latin-1") if header else None
        self.environ_key = "HTTP_" + header.upper().replace("-", "_") if header else None
        self.values = frozenset(values) if values is not None else None
        self.max_values, self.default, self.other = max_values, default, other
        self._seen: set[str] = set()

    def bounded(self, raw: Any) -> str:
        if raw is None or raw == "":
            return self.default
        value = raw if isinstance(raw, str) else str(raw)
        if self.values is not None:
            return value if value in self.values else self.other
        if value in self._seen:
            return value
        if len(self._seen) < self.max_values:
            self._seen.add(value)
            return value
        return self.other

    def from_scope(self, scope: dict[str, Any]) -> str:
        if self.header is not None:
            for name, value in scope.get("headers", ()):
                if name == self.header:
                    return self.bounded(value.decode("latin-1"))
            return self.default
        if self.state is not None:
            return self.bounded((scope.get("state") or {}).get(self.state))
        return self.bounded(self.source(scope))  # type: ignore[misc]

    def from_environ(self, environ: dict[str, Any]) -> str:
        if self.environ_key is not None:
            return self.bounded(environ.get(self.environ_key))
        if self.state is not None:
            return self.bounded(environ.get(self.state))
        return self.bounded(self.source(environ))  # type: ignore[misc]


class Endpoint:
    """The metric children of one (method, endpoint), bound once."""

    __slots__ = ("method", "name", "duration", "in_progress", "request_size", "response_size", "_metrics", "_counts")

    def __init__(self, metrics: HttpMetrics, method: str, name: str) -> None:
        self.method, self.name = method, name
        # With extra labels the duration child is looked up per request (finished_with).
        self.duration = None if metrics.extra_labels else metrics.duration.labels(method, name)
        self.in_progress = metrics.in_progress.labels(method, name)
        self.request_size = metrics.request_size.labels(method, name)
        self.response_size = metrics.response_size.labels(method, name)
        self._metrics = metrics
        self._counts: dict[int, Any] = {}

    def finished(self, status: int, seconds: float, request_bytes: int, response_bytes: int) -> None:
        """Records one request that is over."""
        count = self._counts.get(status)
        if count is None:
            count = self._counts[status] = self._metrics.requests.labels(
                self.method, self.name, self._metrics.status_text(status)
            )
        count.inc()
        self.duration.observe(seconds)  # type: ignore[union-attr]
        self.request_size.observe(request_bytes)
        self.response_size.observe(response_bytes)
        self.in_progress.dec()

    def finished_with(
        self,
        extras: tuple[str, ...],
        status: int,
        seconds: float,
        request_bytes: int,
        response_bytes: int,
        exemplar: dict[str, str] | None = None,
    ) -> None:
        """Records one request that is over, with the values of the extra labels (and the trace's
        exemplar on the counter and the duration, when there is one)."""
        metrics = self._metrics
        key = (status, *extras)
        count = self._counts.get(key)  # type: ignore[call-overload]
        if count is None:
            count = self._counts[key] = metrics.requests.labels(  # type: ignore[index]
                self.method, self.name, metrics.status_text(status), *extras
            )
        duration = self._counts.get(extras) if extras else self.duration  # type: ignore[call-overload]
        if duration is None:
            duration = self._counts[extras] = metrics.duration.labels(self.method, self.name, *extras)  # type: ignore[index]
        if exemplar is None:
            count.inc()
            duration.observe(seconds)
        else:
            count.inc(1, exemplar=exemplar)
            duration.observe(seconds, exemplar=exemplar)
        self.request_size.observe(request_bytes)
        self.response_size.observe(response_bytes)
        self.in_progress.dec()

    def failed(self, error: BaseException) -> None:
        """Counts an exception that escaped the app (with ``count_exceptions``)."""
        exceptions = self._metrics.exceptions
        if exceptions is not None:
            exceptions.labels(self.method, self.name, type(error).__name__).inc()


class _NoGauge:
    """Stands for the in-progress child where the metric set has none (the instrumentator's)."""

    __slots__ = ()

    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass


class InstrumentatorEndpoint:
    """The children of one (method, handler) in prometheus-fastapi-instrumentator's metric set."""

    __slots__ = ("method", "name", "duration", "highr", "request_size", "response_size", "_metrics", "_counts")

    in_progress = _NoGauge()

    def __init__(self, metrics: HttpMetrics, method: str, name: str) -> None:
        self.method, self.name = method, name
        self.duration = None if metrics.extra_labels else metrics.duration.labels(method, name)
        self.highr = metrics.highr
        self.request_size = metrics.request_size.labels(name)
        self.response_size = metrics.response_size.labels(name)
        self._metrics = metrics
        self._counts: dict[int, Any] = {}

    def finished(self, status: int, seconds: float, request_bytes: int, response_bytes: int) -> None:
        count = self._counts.get(status)
        if count is None:
            count = self._counts[status] = self._metrics.requests.labels(
                self.method, self._metrics.status_text(status), self.name
            )
        count.inc()
        self.request_size.observe(request_bytes)
        self.response_size.observe(response_bytes)
        self.highr.observe(seconds)
        self.duration.observe(seconds)  # type: ignore[union-attr]

    def finished_with(
        self,
        extras: tuple[str, ...],
        status: int,
        seconds: float,
        request_bytes: int,
        response_bytes: int,
        exemplar: dict[str, str] | None = None,
    ) -> None:
        metrics = self._metrics
        key = (status, *extras)
        count = self._counts.get(key)  # type: ignore[call-overload]
        if count is None:
            count = self._counts[key] = metrics.requests.labels(  # type: ignore[index]
                self.method, metrics.status_text(status), self.name, *extras
            )
        duration = self._counts.get(extras) if extras else self.duration  # type: ignore[call-overload]
        if duration is None:
            duration = self._counts[extras] = metrics.duration.labels(self.method, self.name, *extras)  # type: ignore[index]
        self.request_size.observe(request_bytes)
        self.response_size.observe(response_bytes)
        if exemplar is None:
            count.inc()
            self.highr.observe(seconds)
            duration.observe(seconds)
        else:
            count.inc(1, exemplar=exemplar)
            self.highr.observe(seconds, exemplar=exemplar)
            duration.observe(seconds, exemplar=exemplar)

    def failed(self, error: BaseException) -> None:
        Endpoint.failed(self, error)  # type: ignore[arg-type]


class HttpMetrics:
    """By default ``http_requests_total``, ``http_request_duration_seconds``,
    ``http_requests_in_progress``, ``http_request_size_bytes`` and ``http_response_size_bytes``,
    labelled by method and endpoint (the route template) and, for the counter, status.

    Options: `status_label` (``status`` or ``status_code``) and `endpoint_label` (``endpoint``
    or ``handler``) name those labels; `group_status` labels statuses ``2xx``, ``4xx``...;
    `extra_labels` (``ExtraLabel``) are added to the counter and the duration histogram;
    `count_exceptions` adds ``http_exceptions_total{method,endpoint,exception_type}``;
    `exemplars` puts the current OpenTelemetry span's ``trace_id``/``span_id`` on the counter and
    duration as exemplars (off by default: a span lookup per request is paid only when asked for);
    ``preset="instrumentator"`` records prometheus-fastapi-instrumentator's default metrics
    instead, with its names, labels, types and buckets (statuses grouped unless told
    ``group_status=False``; unmatched requests under handler ``none``). Paths in
    `excluded_paths`, under one of `excluded_prefixes` or matching `excluded_pattern` (a regex
    searched in the path) are not measured."""

    #: Past this many (method, endpoint) pairs the cache is emptied: endpoints are route
    #: templates, so only an app with that many routes gets there.
    MAX_ENDPOINTS = 10_000

    def __init__(
        self,
        registry: CollectorRegistry | None = REGISTRY,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED_PATHS,
        buckets: Iterable[float] | None = None,
        *,
        status_label: str = "status",
        endpoint_label: str = "endpoint",
        group_status: bool | None = None,
        extra_labels: Iterable[ExtraLabel] = (),
        excluded_prefixes: Iterable[str] = (),
        excluded_pattern: str | re.Pattern[str] | None = None,
        count_exceptions: bool = False,
        preset: str | None = None,
        exemplars: bool = False,
    ) -> None:
        if status_label not in ("status", "status_code"):
            raise ValueError(f"status_label must be 'status' or 'status_code', not {status_label!r}")
        if endpoint_label not in ("endpoint", "handler"):
            raise ValueError(f"endpoint_label must be 'endpoint' or 'handler', not {endpoint_label!r}")
        if preset not in (None, INSTRUMENTATOR):
            raise ValueError(f"preset must be None or {INSTRUMENTATOR!r}, not {preset!r}")
        self.extra_labels = tuple(extra_labels)
        extra = [label.name for label in self.extra_labels]
        if len(set(extra)) != len(extra) or set(extra) & {"method", status_label, endpoint_label}:
            raise ValueError(f"extra label names must be unique and not method/status/endpoint: {extra}")
        self.preset = preset
        if preset == INSTRUMENTATOR and (status_label, endpoint_label) != ("status", "endpoint"):
            raise ValueError(
                "preset='instrumentator' has its own label names (status, handler): drop the *_label options"
            )
        if preset == INSTRUMENTATOR:
            self._make_instrumentator(registry, buckets, extra)
            group_status = True if group_status is None else group_status
            endpoint_label = "handler"
            self.unmatched = INSTRUMENTATOR_UNMATCHED
        else:
            self._make_default(registry, buckets, extra, status_label, endpoint_label)
            self.unmatched = UNMATCHED
        self.status_text: Callable[[int], str] = grouped if group_status else str
        self.exceptions = (
            Counter(
                "http_exceptions_total",
                "Exceptions that escaped the app, by type.",
                ["method", endpoint_label, "exception_type"],
                registry=registry,
            )
            if count_exceptions
            else None
        )
        self._excluded = frozenset(excluded_paths)
        self._prefixes = tuple(excluded_prefixes)
        self._pattern = re.compile(excluded_pattern) if isinstance(excluded_pattern, str) else excluded_pattern
        if self._prefixes or self._pattern is not None:
            self.excluded = self._excluded_by_rules  # type: ignore[method-assign]
            self._verdicts: dict[str, bool] = {}
        self._endpoints: dict[tuple[str, str], Endpoint | InstrumentatorEndpoint] = {}
        self._endpoint_type = InstrumentatorEndpoint if preset == INSTRUMENTATOR else Endpoint
        #: The current trace's exemplar, for the counter and the duration histogram(s); None
        #: (nothing asked per request) unless ``exemplars=True``.
        self.exemplar: Callable[[], dict[str, str] | None] | None = None
        if exemplars:
            current = trace_exemplar()
            if current is not None and _exemplars_supported():
                self.exemplar = current
            else:
                raise ValueError("exemplars=True needs opentelemetry-api and exemplar support (inc(exemplar=))")

    def _make_default(
        self,
        registry: CollectorRegistry | None,
        buckets: Iterable[float] | None,
        extra: list[str],
        status_label: str,
        endpoint_label: str,
    ) -> None:
        labels = ["method", endpoint_label]
        self.requests = Counter(
            "http_requests_total", "HTTP requests answered.", [*labels, status_label, *extra], registry=registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from receiving the request to sending the last byte of the response.",
            [*labels, *extra],
            buckets=tuple(buckets or DURATION_BUCKETS),
            registry=registry,
        )
        # Summed over the live workers in multiprocess mode; an exited worker answers nothing.
        self.in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being answered.",
            labels,
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.request_size = Histogram(
            "http_request_size_bytes",
            "Request body size (Content-Length).",
            labels,
            buckets=SIZE_BUCKETS,
            registry=registry,
        )
        self.response_size = Histogram(
            "http_response_size_bytes", "Response body size.", labels, buckets=SIZE_BUCKETS, registry=registry
        )

    def _make_instrumentator(
        self, registry: CollectorRegistry | None, buckets: Iterable[float] | None, extra: list[str]
    ) -> None:
        # Names, help, types, labels and buckets as prometheus-fastapi-instrumentator 7/8's default().
        self.requests = Counter(
            "http_requests_total",
            "Total number of requests by method, status and handler.",
            ["method", "status", "handler", *extra],
            registry=registry,
        )
        size_help = "Only value of header is respected. Otherwise ignored. No percentile calculated. "
        self.request_size = Summary(
            "http_request_size_bytes",
            "Content length of incoming requests by handler. " + size_help,
            ["handler"],
            registry=registry,
        )
        self.response_size = Summary(
            "http_response_size_bytes",
            "Content length of outgoing responses by handler. " + size_help,
            ["handler"],
            registry=registry,
        )
        self.highr = Histogram(
            "http_request_duration_highr_seconds",
            "Latency with many buckets but no API specific labels. Made for more accurate percentile calculations. ",
            buckets=INSTRUMENTATOR_HIGHR_BUCKETS,
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Latency with only few buckets by handler. Made to be only used if aggregation by handler is important. ",
            ["method", "handler", *extra],
            buckets=tuple(buckets or INSTRUMENTATOR_LOWR_BUCKETS),
            registry=registry,
        )

    def excluded(self, path: str) -> bool:
        """Whether `path` (with or without a trailing slash) is not measured."""
        return path in self._excluded or (path[-1:] == "/" and path.rstrip("/") in self._excluded)

    def _excluded_by_rules(self, path: str) -> bool:
        verdict = self._verdicts.get(path)
        if verdict is None:
            verdict = (
                HttpMetrics.excluded(self, path)
                or path.startswith(self._prefixes)
                or (self._pattern is not None and self._pattern.search(path) is not None)
            )
            if len(self._verdicts) >= MAX_PATHS:
                self._verdicts.clear()
            self._verdicts[path] = verdict
        return verdict

    def endpoint(self, method: str, name: str) -> Endpoint | InstrumentatorEndpoint:
        """The children of (method, endpoint), with its in-progress count raised by one."""
        endpoint = self._endpoints.get((method, name))
        if endpoint is None:
            if len(self._endpoints) >= self.MAX_ENDPOINTS:
                self._endpoints.clear()
            endpoint = self._endpoints[(method, name)] = self._endpoint_type(self, method, name)  # type: ignore[arg-type]
        endpoint.in_progress.inc()
        return endpoint
