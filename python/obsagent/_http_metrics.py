"""The RED metrics both web middlewares record, and what they share: the metric set, one bound
child per (method, endpoint) so that a request costs no label lookup, and the request id."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from typing import Any

from .metrics import Counter, Gauge, Histogram
from .registry import REGISTRY, CollectorRegistry

#: What requests that match no route are labelled with, so that cardinality stays bounded.
UNMATCHED = "<unmatched>"
#: Paths not measured unless told otherwise: the metrics and health endpoints.
DEFAULT_EXCLUDED_PATHS = ("/metrics", "/health", "/healthz", "/-/healthy", "/-/ready")
#: Request and response sizes, bytes: 100 B to 10 MB.
SIZE_BUCKETS = (100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0)
#: Most endpoints answer within a few ms to a few s.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)

#: Methods kept as they are; any other is labelled OTHER, so a client can't mint label values.
METHODS = frozenset(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"])
#: Past this many paths the path -> endpoint cache is emptied (paths hold ids; templates don't).
MAX_PATHS = 10_000


def method_label(method: str) -> str:
    return method if method in METHODS else "OTHER"


# A new id is this process's random prefix and a counter: unique like a random one, without
# a getrandom call per request.
_id_prefix = os.urandom(8).hex()
_id_counter = itertools.count()


def request_id(given: bytes | None) -> bytes:
    """The caller's ``X-Request-ID`` when it sent a sane one, else a new unique one."""
    if given and len(given) <= 200 and given.isascii() and given.decode("ascii").isprintable():
        return given
    return f"{_id_prefix}{next(_id_counter):016x}".encode()


def _new_prefix_after_fork() -> None:
    global _id_prefix, _id_counter
    _id_prefix, _id_counter = os.urandom(8).hex(), itertools.count()


os.register_at_fork(after_in_child=_new_prefix_after_fork)  # forked workers must not repeat ids


class Endpoint:
    """The metric children of one (method, endpoint), bound once."""

    __slots__ = ("method", "name", "duration", "in_progress", "request_size", "response_size", "_requests", "_counts")

    def __init__(self, metrics: HttpMetrics, method: str, name: str) -> None:
        self.method, self.name = method, name
        self.duration = metrics.duration.labels(method, name)
        self.in_progress = metrics.in_progress.labels(method, name)
        self.request_size = metrics.request_size.labels(method, name)
        self.response_size = metrics.response_size.labels(method, name)
        self._requests = metrics.requests
        self._counts: dict[int, Any] = {}

    def finished(self, status: int, seconds: float, request_bytes: int, response_bytes: int) -> None:
        """Records one request that is over."""
        count = self._counts.get(status)
        if count is None:
            count = self._counts[status] = self._requests.labels(self.method, self.name, str(status))
        count.inc()
        self.duration.observe(seconds)
        self.request_size.observe(request_bytes)
        self.response_size.observe(response_bytes)
        self.in_progress.dec()


class HttpMetrics:
    """``http_requests_total``, ``http_request_duration_seconds``, ``http_requests_in_progress``,
    ``http_request_size_bytes`` and ``http_response_size_bytes``, labelled by method and
    endpoint (the route template) and, for the counter, status."""

    #: Past this many (method, endpoint) pairs the cache is emptied: endpoints are route
    #: templates, so only an app with that many routes gets there.
    MAX_ENDPOINTS = 10_000

    def __init__(
        self,
        registry: CollectorRegistry | None = REGISTRY,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED_PATHS,
        buckets: Iterable[float] = DURATION_BUCKETS,
    ) -> None:
        labels = ["method", "endpoint"]
        self.requests = Counter(
            "http_requests_total", "HTTP requests answered.", [*labels, "status"], registry=registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from receiving the request to sending the last byte of the response.",
            labels,
            buckets=tuple(buckets),
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
        self._excluded = frozenset(excluded_paths)
        self._endpoints: dict[tuple[str, str], Endpoint] = {}

    def excluded(self, path: str) -> bool:
        """Whether `path` (with or without a trailing slash) is not measured."""
        return path in self._excluded or (path[-1:] == "/" and path.rstrip("/") in self._excluded)

    def endpoint(self, method: str, name: str) -> Endpoint:
        """The children of (method, endpoint), with its in-progress count raised by one."""
        endpoint = self._endpoints.get((method, name))
        if endpoint is None:
            if len(self._endpoints) >= self.MAX_ENDPOINTS:
                self._endpoints.clear()
            endpoint = self._endpoints[(method, name)] = Endpoint(self, method, name)
        endpoint.in_progress.inc()
        return endpoint
