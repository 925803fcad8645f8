"""What a scrape answers: a registry encoded as text (0.0.4, or 1.0.0 with an escaping),
OpenMetrics or delimited protobuf, chosen by ``Accept`` (``encode::negotiate`` in the core, the
native server's own choice) and gzipped by ``Accept-Encoding``.

Below ``exposition``, ``asgi``, ``wsgi`` and ``openmetrics.exposition``, which all serve it;
``exposition`` re-exports the public names (prometheus_client's).
"""

from __future__ import annotations

import functools
from typing import Any

from . import _native
from .registry import REGISTRY, CollectorRegistry, created_metrics_enabled

CONTENT_TYPE_PLAIN_0_0_4 = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_PLAIN_1_0_0 = "text/plain; version=1.0.0; charset=utf-8"
#: As in prometheus_client 0.26, the latest text format is 1.0.0 (0.0.4 plus quoted UTF-8 names).
CONTENT_TYPE_LATEST = CONTENT_TYPE_PLAIN_1_0_0


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


def generate_latest(registry: Any = REGISTRY, escaping: str = UNDERSCORES) -> bytes:
    """The registry's metrics in the Prometheus text format (0.0.4, and 1.0.0's quoted names
    under ``allow-utf-8``); names outside the classic charset written as ``escaping`` says
    (``ValueError`` for an unknown scheme)."""
    return as_registry(registry)._native.encode(False, created_metrics_enabled(), escaping)


def generate_openmetrics(registry: Any = REGISTRY, escaping: str = UNDERSCORES, version: str = "1.0.0") -> bytes:
    """The registry's metrics in the OpenMetrics text format; from ``version`` 2.0.0 on, with
    native histogram samples (left out before, as prometheus_client does)."""
    openmetrics_2 = _version_parts(version) >= (2, 0, 0)
    return as_registry(registry)._native.encode(True, created_metrics_enabled(), escaping, False, openmetrics_2)


def _version_parts(version: str) -> tuple[int, ...]:
    """``"2.0.0"`` as ``(2, 0, 0)``, as prometheus_client compares versions (a part that is not a
    number ends the comparison there)."""
    parts = []
    for part in version.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def generate_protobuf(registry: Any = REGISTRY) -> bytes:
    """The registry's metrics as delimited ``io.prometheus.client.MetricFamily`` messages."""
    return as_registry(registry)._native.encode(False, created_metrics_enabled(), UNDERSCORES, True)


def choose_encoder(accept_header: str | None) -> tuple[Any, str]:
    """``(encoder, content_type)`` for an ``Accept`` header, as prometheus_client 0.26 chooses
    them (text 0.0.4 unless the header asks for OpenMetrics, text 1.0.0 or, as Prometheus does
    for native histograms, delimited protobuf; the ``escaping`` it names), ``q`` honoured."""
    fmt, escaping, content_type = _native.choose_format(accept_header)
    if fmt == "protobuf":
        return generate_protobuf, content_type
    if fmt == "openmetrics":
        version = "2.0.0" if "version=2.0.0" in content_type else "1.0.0"
        return functools.partial(generate_openmetrics, escaping=escaping, version=version), content_type
    if escaping == UNDERSCORES:
        return generate_latest, content_type
    return functools.partial(generate_latest, escaping=escaping), content_type


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
