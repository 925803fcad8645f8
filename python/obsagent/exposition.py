"""Exposition: ``generate_latest``, the HTTP server, WSGI/ASGI apps, text files and the
Pushgateway client.

Encoding runs in Rust with the GIL released; so does the server, on a thread of its own that
starts only when asked (never at import, so it is safe to import before a fork).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from . import _native
from ._scrape import ALLOWUTF8, CONTENT_TYPE_PLAIN_0_0_4, as_registry, generate_latest
from ._scrape import CONTENT_TYPE_LATEST as CONTENT_TYPE_LATEST  # `X as X`: re-exported
from ._scrape import CONTENT_TYPE_PLAIN_1_0_0 as CONTENT_TYPE_PLAIN_1_0_0
from ._scrape import bake_output as _bake_output  # prometheus_client's name, which tests patch
from ._scrape import choose_encoder as choose_encoder
from .config import ServeSettings
from .registry import REGISTRY, CollectorRegistry, created_metrics_enabled

if TYPE_CHECKING:
    import ssl


class _ServingThread:
    """What stands for prometheus_client's server thread in ``server, thread = start_http_server()``:
    the native server runs on a thread of its own; ``join()`` waits until it is stopped."""

    daemon = True

    def __init__(self) -> None:
        self._stopped = threading.Event()

    def is_alive(self) -> bool:
        return not self._stopped.is_set()

    def join(self, timeout: float | None = None) -> None:
        self._stopped.wait(timeout)


class MetricsServer:
    """A running metrics server: ``.port``, ``.address``, ``.stop()``; also a context manager.

    As prometheus_client's ``start_http_server`` returns ``(server, thread)``, it also unpacks
    into itself and a thread-like object (``server, thread = start_http_server(0)``), and has
    the ``server_address``, ``shutdown()`` and ``server_close()`` of its server.

    It serves until stopped, even when the caller keeps no reference to it (as
    ``start_http_server(8000)`` does with prometheus_client)."""

    def __init__(self, server: _native.Server, cleanup: Callable[[], None] | None = None) -> None:
        self._server = server
        self._thread = _ServingThread()
        self._cleanup = cleanup
        _RUNNING.add(self)

    def __iter__(self) -> Iterator[Any]:
        return iter((self, self._thread))

    @property
    def server_address(self) -> tuple[str, int]:
        host = self.address.rsplit(":", 1)[0].strip("[]")
        return host, self.port

    def server_close(self) -> None:
        """Nothing to do: ``stop()`` (or ``shutdown()``) closes the socket."""

    @classmethod
    def from_settings(cls, settings: ServeSettings, registry: CollectorRegistry = REGISTRY) -> MetricsServer:
        """Serves ``registry`` as ``settings`` say (the daemon's way to start a server)."""
        return cls(_native.start_http_server(registry._native, settings))

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
        self._thread._stopped.set()
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None

    shutdown = stop

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


#: Servers not stopped yet: dropping the last reference to a native server stops it.
_RUNNING: set[MetricsServer] = set()


def start_http_server(
    port: int,
    addr: str = ServeSettings.host,
    registry: CollectorRegistry = REGISTRY,
    certfile: str | None = None,
    keyfile: str | None = None,
    client_cafile: str | None = None,
    client_capath: str | None = None,
    protocol: int | None = None,
    client_auth_required: bool = False,
    tls_min_version: ssl.TLSVersion | None = None,
    tls_max_version: ssl.TLSVersion | None = None,
    *,
    max_requests: int = ServeSettings.max_requests,
    header_read_timeout: float = ServeSettings.header_read_timeout,
    web_config_file: str | None = None,
) -> MetricsServer:
    """Serves ``registry`` on ``http://addr:port/metrics`` from a background thread.

    Routes: ``/metrics`` (text or OpenMetrics by ``Accept``, gzip by ``Accept-Encoding``),
    ``/`` (a landing page), ``/health`` (JSON), ``/-/healthy`` and ``/-/ready``. Port 0
    picks a free port; read it back from ``.port``. At most ``max_requests`` scrapes run at
    once (0: no limit), more get 503; a client has ``header_read_timeout`` seconds to send its
    request headers (and a kept-alive connection to start its next request).

    TLS as prometheus_client takes it: ``certfile`` and ``keyfile``; ``client_cafile`` to verify
    client certificates (required with ``client_auth_required``); ``tls_min_version`` and
    ``tls_max_version`` (TLS 1.2 and 1.3). Or ``web_config_file``, a web configuration in the
    format node_exporter and Prometheus read (``tls_server_config``, ``basic_auth_users`` with
    bcrypt hashes, ``http_server_config.headers``); a bad one is a ``ValueError`` naming the field.
    Both are served by the same rustls code.
    """
    cleanup = None
    if certfile and keyfile:
        if web_config_file is not None:
            raise ValueError("give either certfile/keyfile or web_config_file, not both")
        if client_capath is not None:
            raise ValueError("client_capath is not supported: give the CA certificates in client_cafile")
        web_config_file = _tls_web_config(
            certfile, keyfile, client_cafile, client_auth_required, tls_min_version, tls_max_version
        )
        cleanup = functools.partial(os.remove, web_config_file)
    settings = ServeSettings(
        host=addr,
        port=port,
        max_requests=max_requests,
        header_read_timeout=header_read_timeout,
        web_config_file=web_config_file,
        created=created_metrics_enabled(),
    )
    try:
        return MetricsServer(_native.start_http_server(registry._native, settings), cleanup)
    except BaseException:
        if cleanup is not None:
            cleanup()
        raise


def _tls_web_config(
    certfile: str,
    keyfile: str,
    client_cafile: str | None,
    client_auth_required: bool,
    min_version: ssl.TLSVersion | None,
    max_version: ssl.TLSVersion | None,
) -> str:
    """A web configuration file saying what prometheus_client's TLS arguments say (its path)."""
    lines = ["tls_server_config:", f"  cert_file: {json.dumps(os.path.abspath(certfile))}"]
    lines.append(f"  key_file: {json.dumps(os.path.abspath(keyfile))}")
    if client_cafile is not None:
        lines.append(f"  client_ca_file: {json.dumps(os.path.abspath(client_cafile))}")
        auth = "RequireAndVerifyClientCert" if client_auth_required else "VerifyClientCertIfGiven"
        lines.append(f"  client_auth_type: {auth}")
    elif client_auth_required:
        raise ValueError("client_auth_required needs client_cafile to verify client certificates with")
    import ssl

    tls_versions = {ssl.TLSVersion.TLSv1_2: "TLS12", ssl.TLSVersion.TLSv1_3: "TLS13"}
    for key, version in (("min_version", min_version), ("max_version", max_version)):
        if version is not None:
            if version not in tls_versions:
                raise ValueError(f"{key}: {version!r} is not supported (TLS 1.2 and 1.3 are)")
            lines.append(f"  {key}: {tls_versions[version]}")
    fd, path = tempfile.mkstemp(prefix="obsagent-web-", suffix=".yml")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


start_wsgi_server = start_http_server


def make_wsgi_app(registry: CollectorRegistry = REGISTRY, disable_compression: bool = False) -> Any:
    """A WSGI app (mount it at ``/metrics``) answering every GET/HEAD with the registry's
    metrics (only the samples named by ``name[]`` query parameters when there are some; never
    gzipped with ``disable_compression``); ``/favicon.ico`` is an empty 200, as in
    prometheus_client. A scrape calls this module's ``_bake_output`` as prometheus_client's does,
    so a test that patches it sees the calls."""
    from urllib.parse import parse_qs

    from ._http_metrics import UNMEASURED

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b"Method Not Allowed: use GET or HEAD\n"]
        if environ.get("PATH_INFO") == "/favicon.ico":
            start_response("200 OK", [])
            return [b""]
        params = parse_qs(environ.get("QUERY_STRING", ""))
        status, headers, body = _bake_output(
            registry, environ.get("HTTP_ACCEPT"), environ.get("HTTP_ACCEPT_ENCODING"), params, disable_compression
        )
        start_response(status, headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]

    setattr(app, UNMEASURED, True)
    return app


def make_asgi_app(registry: CollectorRegistry = REGISTRY, disable_compression: bool = False) -> Any:
    """An ASGI app serving the registry (mount it at ``/metrics``)."""
    from .asgi import make_asgi_app as make

    return make(registry, disable_compression)


def write_to_textfile(
    path: str, registry: CollectorRegistry = REGISTRY, escaping: str = ALLOWUTF8, tmpdir: str | None = None
) -> None:
    """Writes the registry to ``path`` atomically, for node_exporter's textfile collector: names
    outside the classic charset as ``escaping`` says (quoted by default, as prometheus_client
    writes them); the temporary file in ``tmpdir`` (same filesystem) or next to ``path``."""
    generated = generate_latest(registry, escaping)  # before any file exists: a bad scheme leaves none
    base = os.path.join(tmpdir, os.path.basename(path)) if tmpdir is not None else path
    tmp = f"{base}.{os.getpid()}.{threading.get_ident()}"
    try:
        with open(tmp, "wb") as f:
            f.write(generated)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def instance_ip_grouping_key() -> dict[str, str]:
    """``{"instance": <this host's IP>}`` for a Pushgateway grouping key: the address the host
    would send from (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("localhost", 0))
        return {"instance": probe.getsockname()[0]}


# Pushgateway: the group URL, the body and the request are made in Rust (detached from the
# interpreter); a `handler` given by the caller is called as prometheus_client calls it, with
# `(url, method, timeout, headers, data)`, so existing auth handlers keep working.


def default_handler(
    url: str, method: str, timeout: float | None, headers: list[tuple[str, Any]], data: bytes
) -> Callable[[], None]:
    """The handler that sends the request (from Rust, without the GIL); ``OSError`` on failure
    or an answer of 400 or more. Other handlers may call it after adding headers."""

    def handle() -> None:
        pairs = [(str(name), value.decode() if isinstance(value, bytes) else str(value)) for name, value in headers]
        if not data and not any(name.lower() == "content-length" for name, _ in pairs):
            pairs.append(("Content-Length", "0"))  # as urllib sends an empty body (gateways read it)
        _native.pushgateway_request(url, method, timeout, pairs, data)

    return handle


def basic_auth_handler(
    url: str,
    method: str,
    timeout: float | None,
    headers: list[tuple[str, Any]],
    data: bytes,
    username: str | None = None,
    password: str | None = None,
) -> Callable[[], None]:
    """``default_handler`` with HTTP basic auth, when both ``username`` and ``password`` are set
    (bind them with ``functools.partial`` or a small function, as with prometheus_client)."""

    def handle() -> None:
        if username is not None and password is not None:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            headers.append(("Authorization", f"Basic {token}"))
        default_handler(url, method, timeout, headers, data)()

    return handle


def tls_auth_handler(
    url: str,
    method: str,
    timeout: float | None,
    headers: list[tuple[str, Any]],
    data: bytes,
    certfile: str,
    keyfile: str,
    cafile: str | None = None,
    protocol: int | None = None,
    insecure_skip_verify: bool = False,
) -> Callable[[], None]:
    """A handler presenting a client certificate (``certfile``, ``keyfile``) to a gateway
    served over TLS; ``cafile`` verifies the gateway, ``insecure_skip_verify`` skips that;
    ``protocol`` is an ``ssl.PROTOCOL_*`` (``PROTOCOL_TLS_CLIENT`` when ``None``)."""
    from ._urllib_push import tls_handler

    return tls_handler(url, method, timeout, headers, data, certfile, keyfile, cafile, protocol, insecure_skip_verify)


def passthrough_redirect_handler(
    url: str, method: str, timeout: float | None, headers: list[tuple[str, Any]], data: bytes
) -> Callable[[], None]:
    """A handler that follows the gateway's redirects, keeping the method, headers and body."""
    from ._urllib_push import redirect_handler

    return redirect_handler(url, method, timeout, headers, data)


def push_to_gateway(
    gateway: str,
    job: str,
    registry: Any,
    grouping_key: dict[str, Any] | None = None,
    timeout: float | None = 30,
    handler: Callable[..., Callable[[], None]] = default_handler,
    compression: str | None = None,
    *,
    protobuf: bool = False,
) -> None:
    """Replaces the group ``job`` + ``grouping_key`` on the Pushgateway with ``registry``'s
    metrics (HTTP PUT). ``gateway`` is ``http(s)://host:port`` or ``host:port``; a grouping
    value with ``/`` or a space, or an empty one, goes base64-encoded (``name@base64``) as the
    gateway requires; ``compression`` is None, ``"gzip"`` or ``"snappy"``. The body is text
    0.0.4, as prometheus_client sends it, or with ``protobuf=True`` delimited protobuf, as
    client_golang sends it."""
    _use_gateway("PUT", gateway, job, registry, grouping_key, timeout, handler, compression, protobuf)


def pushadd_to_gateway(
    gateway: str,
    job: str,
    registry: Any,
    grouping_key: dict[str, Any] | None = None,
    timeout: float | None = 30,
    handler: Callable[..., Callable[[], None]] = default_handler,
    compression: str | None = None,
    *,
    protobuf: bool = False,
) -> None:
    """Like ``push_to_gateway``, but replaces only the metric names pushed (HTTP POST)."""
    _use_gateway("POST", gateway, job, registry, grouping_key, timeout, handler, compression, protobuf)


def delete_from_gateway(
    gateway: str,
    job: str,
    grouping_key: dict[str, Any] | None = None,
    timeout: float | None = 30,
    handler: Callable[..., Callable[[], None]] = default_handler,
) -> None:
    """Deletes the group ``job`` + ``grouping_key`` from the Pushgateway (HTTP DELETE)."""
    _use_gateway("DELETE", gateway, job, None, grouping_key, timeout, handler)


def _use_gateway(
    method: str,
    gateway: str,
    job: str,
    registry: Any,
    grouping_key: dict[str, Any] | None,
    timeout: float | None,
    handler: Callable[..., Callable[[], None]],
    compression: str | None = None,
    protobuf: bool = False,
) -> None:
    key = [(str(name), str(value)) for name, value in (grouping_key or {}).items()]
    url = _native.pushgateway_url(gateway, str(job), key)
    if method == "DELETE":
        if compression is not None:
            raise ValueError("Compression is not supported for DELETE requests.")
        data, headers = b"", [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)]
    elif protobuf:
        data, headers = _native.pushgateway_protobuf(as_registry(registry or REGISTRY)._native, compression)
    else:
        data, headers = _native.pushgateway_body(
            generate_latest(REGISTRY if registry is None else registry), compression
        )
    handler(url=url, method=method, timeout=timeout, headers=list(headers), data=data)()


def __getattr__(name: str) -> Any:
    """``MetricsHandler`` and ``urllib`` (prometheus_client's exposition imports it, and code
    reaches it through the module), loaded when first asked for."""
    if name == "MetricsHandler":
        from ._metrics_handler import MetricsHandler

        return MetricsHandler
    if name == "urllib":
        import urllib.error
        import urllib.request

        return urllib
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
