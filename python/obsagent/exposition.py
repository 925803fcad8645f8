"""Exposition: ``generate_latest``, the HTTP server, WSGI/ASGI apps and text files.

Encoding runs in Rust with the GIL released; so does the server, on a thread of its own that
starts only when asked (never at import, so it is safe to import before a fork).
"""

from __future__ import annotations

import os
from typing import Any

from . import _native
from .registry import REGISTRY, CollectorRegistry, created_metrics_enabled

CONTENT_TYPE_PLAIN_0_0_4 = "text/plain; version=0.0.4; charset=utf-8"
CONTENT_TYPE_LATEST = CONTENT_TYPE_PLAIN_0_0_4


def _as_registry(registry: Any) -> CollectorRegistry:
    if isinstance(registry, CollectorRegistry):
        return registry
    wrapper = CollectorRegistry()
    wrapper.register(registry)
    return wrapper


def generate_latest(registry: Any = REGISTRY) -> bytes:
    """The registry's metrics in the Prometheus text format 0.0.4."""
    return _as_registry(registry)._native.encode(False, created_metrics_enabled())


def _openmetrics(registry: Any) -> bytes:
    return _as_registry(registry)._native.encode(True, created_metrics_enabled())


def choose_encoder(accept_header: str | None) -> tuple[Any, str]:
    """``(encoder, content_type)`` for an ``Accept`` header, as prometheus_client offers it."""
    openmetrics, content_type = _native.choose_format(accept_header)
    return (_openmetrics if openmetrics else generate_latest), content_type


def _render(registry: Any, accept: str | None, accept_encoding: str | None) -> tuple[bytes, list[tuple[str, str]]]:
    """Body and headers for a scrape, negotiated as the native server does it."""
    encoder, content_type = choose_encoder(accept)
    body = encoder(registry)
    headers = [("Content-Type", content_type), ("Vary", "Accept, Accept-Encoding")]
    if _native.accepts_gzip(accept_encoding):
        body = _native.gzip(body)
        headers.append(("Content-Encoding", "gzip"))
    return body, headers


class MetricsServer:
    """A running metrics server: ``.port``, ``.address``, ``.stop()``; also a context manager.

    It serves until stopped, even when the caller keeps no reference to it (as
    ``start_http_server(8000)`` does with prometheus_client)."""

    def __init__(self, server: _native.Server) -> None:
        self._server = server
        _RUNNING.add(self)

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def address(self) -> str:
        return self._server.address

    def stop(self) -> None:
        """Stops serving and joins the server thread."""
        _RUNNING.discard(self)
        self._server.stop()

    shutdown = stop

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


#: Servers not stopped yet: dropping the last reference to a native server stops it.
_RUNNING: set[MetricsServer] = set()


def start_http_server(
    port: int,
    addr: str = "0.0.0.0",
    registry: CollectorRegistry = REGISTRY,
    *,
    max_requests: int = 40,
    header_read_timeout: float = 10.0,
    web_config_file: str | None = None,
) -> MetricsServer:
    """Serves ``registry`` on ``http://addr:port/metrics`` from a background thread.

    Routes: ``/metrics`` (text or OpenMetrics by ``Accept``, gzip by ``Accept-Encoding``),
    ``/`` (a landing page), ``/health`` (JSON), ``/-/healthy`` and ``/-/ready``. Port 0
    picks a free port; read it back from ``.port``. At most ``max_requests`` scrapes run at
    once (0: no limit), more get 503; a client has ``header_read_timeout`` seconds to send its
    request headers (and a kept-alive connection to start its next request).
    ``web_config_file`` is a web configuration in the format node_exporter and Prometheus
    read (``tls_server_config``, ``basic_auth_users`` with bcrypt hashes,
    ``http_server_config.headers``); a bad one is a ``ValueError`` naming the field.
    """
    native = _native.start_http_server(
        registry._native, addr, port, created_metrics_enabled(), max_requests, header_read_timeout, web_config_file
    )
    return MetricsServer(native)


start_wsgi_server = start_http_server


def make_wsgi_app(registry: CollectorRegistry = REGISTRY) -> Any:
    """A WSGI app serving the registry (mount it at ``/metrics``)."""
    from .wsgi import make_wsgi_app as make

    return make(registry)


def make_asgi_app(registry: CollectorRegistry = REGISTRY) -> Any:
    """An ASGI app serving the registry (mount it at ``/metrics``)."""
    from .asgi import make_asgi_app as make

    return make(registry)


def write_to_textfile(path: str, registry: CollectorRegistry = REGISTRY) -> None:
    """Writes the registry to ``path`` atomically, for node_exporter's textfile collector."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(generate_latest(registry))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
