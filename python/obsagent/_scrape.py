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


#: Escaping schemes for names outside the classic charset, as prometheus_client names them.
ALLOWUTF8 = "allow-utf-8"
UNDERSCORES = "underscores"
DOTS = "dots"
VALUES = "values"


def check_escaping(escaping: str) -> None:
    """obsagent's names are all in the classic charset, which ``underscores`` and ``allow-utf-8``
    leave as they are; ``dots`` and ``values`` (which rewrite ``_`` too) are not offered."""
    if escaping not in (UNDERSCORES, ALLOWUTF8):
        raise ValueError(f"Unsupported escaping scheme: {escaping!r} (obsagent writes underscores or allow-utf-8)")


def generate_latest(registry: Any = REGISTRY, escaping: str = UNDERSCORES) -> bytes:
    """The registry's metrics in the Prometheus text format 0.0.4."""
    check_escaping(escaping)
    return as_registry(registry)._native.encode(False, created_metrics_enabled())


def generate_openmetrics(registry: Any = REGISTRY, escaping: str = UNDERSCORES, version: str = "1.0.0") -> bytes:
    """The registry's metrics in the OpenMetrics 1.0.0 text format."""
    check_escaping(escaping)
    return as_registry(registry)._native.encode(True, created_metrics_enabled())


def choose_encoder(accept_header: str | None) -> tuple[Any, str]:
    """``(encoder, content_type)`` for an ``Accept`` header, as prometheus_client offers it."""
    openmetrics, content_type = _native.choose_format(accept_header)
    return (generate_openmetrics if openmetrics else generate_latest), content_type


def render(
    registry: Any,
    accept: str | None,
    accept_encoding: str | None,
    names: list[str] | None = None,
    disable_compression: bool = False,
) -> tuple[bytes, list[tuple[str, str]]]:
    """Body and headers for a scrape, negotiated as the native server does it, with the headers
    prometheus_client's apps send (``Content-Type``, and ``Content-Encoding`` when gzipped).
    ``names`` (the ``name[]`` query parameters) restricts the scrape to those samples."""
    encoder, content_type = choose_encoder(accept)
    if names:
        registry = as_registry(registry).restricted_registry(names)
    body = encoder(registry)
    headers = [("Content-Type", content_type)]
    if not disable_compression and _native.accepts_gzip(accept_encoding):
        body = _native.gzip(body)
        headers.append(("Content-Encoding", "gzip"))
    return body, headers


def bake_output(
    registry: Any,
    accept: str | None,
    accept_encoding: str | None,
    params: dict[str, list[str]],
    disable_compression: bool,
) -> tuple[str, list[tuple[str, str]], bytes]:
    """``(status, headers, body)`` of a scrape, as prometheus_client's ``_bake_output`` answers."""
    body, headers = render(registry, accept, accept_encoding, params.get("name[]"), disable_compression)
    return "200 OK", headers, body
