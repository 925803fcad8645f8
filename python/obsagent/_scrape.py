"""What a scrape answers: a registry encoded as text 0.0.4 or OpenMetrics, chosen by ``Accept``
and gzipped by ``Accept-Encoding``, as the native server does it.

Below ``exposition``, ``asgi``, ``wsgi`` and ``openmetrics.exposition``, which all serve it;
``exposition`` re-exports the public names (prometheus_client's).
"""

from __future__ import annotations

from typing import Any

from . import _native
from .registry import REGISTRY, CollectorRegistry, created_metrics_enabled

CONTENT_TYPE_PLAIN_0_0_4 = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_LATEST = CONTENT_TYPE_PLAIN_0_0_4


def as_registry(registry: Any) -> CollectorRegistry:
    """``registry`` itself, or a registry holding it when it is a bare collector."""
    if isinstance(registry, CollectorRegistry):
        return registry
    wrapper = CollectorRegistry()
    wrapper.register(registry)
    return wrapper


def generate_latest(registry: Any = REGISTRY) -> bytes:
    """The registry's metrics in the Prometheus text format 0.0.4."""
    return as_registry(registry)._native.encode(False, created_metrics_enabled())


def generate_openmetrics(registry: Any = REGISTRY) -> bytes:
    """The registry's metrics in the OpenMetrics 1.0.0 text format."""
    return as_registry(registry)._native.encode(True, created_metrics_enabled())


def choose_encoder(accept_header: str | None) -> tuple[Any, str]:
    """``(encoder, content_type)`` for an ``Accept`` header, as prometheus_client offers it."""
    openmetrics, content_type = _native.choose_format(accept_header)
    return (generate_openmetrics if openmetrics else generate_latest), content_type


def render(registry: Any, accept: str | None, accept_encoding: str | None) -> tuple[bytes, list[tuple[str, str]]]:
    """Body and headers for a scrape, negotiated as the native server does it."""
    encoder, content_type = choose_encoder(accept)
    body = encoder(registry)
    headers = [("Content-Type", content_type), ("Vary", "Accept, Accept-Encoding")]
    if _native.accepts_gzip(accept_encoding):
        body = _native.gzip(body)
        headers.append(("Content-Encoding", "gzip"))
    return body, headers
