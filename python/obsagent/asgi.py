"""ASGI: an app serving a registry, for mounting ``/metrics`` in FastAPI or Starlette, and
``MetricsMiddleware``, the standard HTTP metrics of any ASGI app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from time import perf_counter
from typing import Any
from urllib.parse import parse_qs

from ._http_metrics import (
    DEFAULT_EXCLUDED_PATHS,
    DURATION_BUCKETS,
    MAX_PATHS,
    UNMATCHED,
    HttpMetrics,
    method_label,
    request_id,
)
from ._scrape import render
from .registry import REGISTRY, CollectorRegistry

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def make_asgi_app(
    registry: CollectorRegistry = REGISTRY, disable_compression: bool = False
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI app answering every GET/HEAD with the registry's metrics (only the samples named
    by ``name[]`` query parameters when there are some; never gzipped with
    ``disable_compression``)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        if scope.get("method", "GET") not in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 405, "headers": [(b"allow", b"GET, HEAD")]})
            await send({"type": "http.response.body", "body": b"Method Not Allowed: use GET or HEAD\n"})
            return
        request_headers: dict[str, list[str]] = {}
        for name, value in scope.get("headers", []):
            request_headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        params = parse_qs(scope.get("query_string", b"").decode("utf-8"))
        body, headers = render(
            registry,
            ",".join(request_headers.get("accept", [])) or None,
            ",".join(request_headers.get("accept-encoding", [])) or None,
            params.get("name[]"),
            disable_compression,
        )
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(k.encode(), v.encode()) for k, v in headers]}
        )
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})

    return app


class MetricsMiddleware:
    """RED metrics for any ASGI app (FastAPI, Starlette, ...): see ``obsagent._http_metrics``.

    ``endpoint`` is the route template (``/items/{item_id}``), found with the app's own router
    for Starlette and FastAPI; requests no route matches share ``<unmatched>``. Paths in
    ``excluded_paths`` are not measured. The request's ``X-Request-ID`` (or a new random one)
    is returned on the response and put in ``scope["state"]["request_id"]``. An exception
    that escapes the app counts as status 500 and is re-raised."""

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        registry: CollectorRegistry | None = REGISTRY,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED_PATHS,
        buckets: Iterable[float] = DURATION_BUCKETS,
    ) -> None:
        self.app = app
        self.metrics = HttpMetrics(registry, excluded_paths, buckets)
        self._templates: dict[str, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.metrics.excluded(scope["path"]):
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        endpoint = self.metrics.endpoint(method_label(scope["method"]), self._template(scope))
        given = request_bytes = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                given = value
            elif name == b"content-length":
                request_bytes = value
        rid = request_id(given)
        scope.setdefault("state", {})["request_id"] = rid.decode()
        status, response_bytes = 500, 0

        async def send_counted(message: dict[str, Any]) -> None:
            nonlocal status, response_bytes
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", rid)]}
            elif message["type"] == "http.response.body":
                response_bytes += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            size = int(request_bytes) if request_bytes and request_bytes.isdigit() else 0
            endpoint.finished(status, perf_counter() - started, size, response_bytes)

    def _template(self, scope: Scope) -> str:
        path = scope["path"]
        template = self._templates.get(path)
        if template is None:
            routes = getattr(scope.get("app"), "routes", None) or getattr(self.app, "routes", None)
            template = (_route_template(routes, scope, "") if routes else None) or UNMATCHED
            if len(self._templates) >= MAX_PATHS:
                self._templates.clear()
            self._templates[path] = template
        return template


def _route_template(routes: Iterable[Any], scope: Scope, prefix: str) -> str | None:
    """The template of the route a Starlette router would pick for `scope` (a full match, else
    the first partial one, as for a 405), descending into mounted routers."""
    try:
        from starlette.routing import Match, Mount
    except ImportError:
        return None
    partial = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        found = prefix + getattr(route, "path", "")
        if isinstance(route, Mount) and getattr(route, "routes", None):
            found = _route_template(route.routes, {**scope, **child}, found) or found
        if match is Match.FULL:
            return found
        partial = partial or found
    return partial
