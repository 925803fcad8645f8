"""ASGI: an app serving a registry, for mounting ``/metrics`` in FastAPI or Starlette, and
``MetricsMiddleware``, the standard HTTP metrics of any ASGI app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from time import perf_counter
from typing import Any
from urllib.parse import parse_qs

from ._http_metrics import DEFAULT_EXCLUDED_PATHS, MAX_PATHS, METHODS, UNMEASURED, HttpMetrics
from ._scrape import render
from .context import DEFAULT_HEADER, _current, accepted, new_request_id
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

    setattr(app, UNMEASURED, True)
    return app


class MetricsMiddleware:
    """RED metrics for any ASGI app (FastAPI, Starlette, ...): see ``obsagent._http_metrics``
    (``HttpMetrics`` lists the options after `buckets`).

    ``endpoint`` is the route template (``/items/{item_id}``), found with the app's own router
    for Starlette and FastAPI; requests no route matches share ``<unmatched>``. Paths in
    ``excluded_paths`` are not measured, nor obsagent's own metrics and health apps wherever they
    are mounted. The request ID (the `request_id_header` the caller sent, or a new UUID4) is
    current in ``obsagent.context`` while the request is answered, in the request's headers
    when the caller sent none, in ``scope["state"]["request_id"]``, and once on the response
    (unless the app put one there itself). An exception that escapes the app counts as status
    500 and is re-raised."""

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        registry: CollectorRegistry | None = REGISTRY,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED_PATHS,
        buckets: Iterable[float] | None = None,
        *,
        request_id_header: str = DEFAULT_HEADER,
        **options: Any,
    ) -> None:
        self.app = app
        self.metrics = HttpMetrics(registry, excluded_paths, buckets, **options)
        self._extras = self.metrics.extra_labels
        self._plain = not self._extras and self.metrics.exemplar is None  # neither extra labels nor exemplars
        self._header = request_id_header.lower().encode("latin-1")
        self._templates: dict[str, str | None] = {}
        self._endpoints = self.metrics._endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # One lookup per request: the path's template, None when it is not measured.
        template = self._templates.get(scope["path"], _UNKNOWN)
        if template is _UNKNOWN:
            template = self._template(scope)
        if template is None:
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        method = scope["method"]
        if method not in METHODS:
            method = "OTHER"
        endpoint = self._endpoints.get((method, template))  # type: ignore[call-overload]
        if endpoint is None:
            endpoint = self.metrics.endpoint(method, template)
        else:
            endpoint.in_progress.inc()
        header = self._header
        given = request_bytes = None
        headers = scope.get("headers", ())
        for name, value in headers:
            if name == header:
                given = value
            elif name == b"content-length":
                request_bytes = value
        if given is not None and len(given) <= 200 and accepted(given.decode("latin-1")):
            rid = given.decode("latin-1")
            rid_bytes = given
        else:
            rid = new_request_id()
            rid_bytes = rid.encode()
            if given is None:
                scope["headers"] = [*headers, (header, rid_bytes)]
            else:  # replaces the caller's unusable one
                scope["headers"] = [(n, v) for n, v in headers if n != header] + [(header, rid_bytes)]
        scope.setdefault("state", {})["request_id"] = rid
        token = _current.set(rid)
        status: int | None = None  # until the response starts
        response_bytes = 0
        exemplar_of = self.metrics.exemplar
        exemplar = None

        async def send_counted(message: dict[str, Any]) -> None:
            nonlocal status, response_bytes, exemplar
            if message["type"] == "http.response.start":
                status = message["status"]
                if exemplar_of is not None:  # the span of the app's context: tracing inside or outside us
                    exemplar = exemplar_of()
                sent = message.get("headers", ())
                for name, _ in sent:
                    if name == header:  # ASGI: "header names must be lowercased"
                        break
                else:
                    message = {**message, "headers": [*sent, (header, rid_bytes)]}
            elif message["type"] == "http.response.body":
                response_bytes += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        except BaseException as error:
            if self.metrics.exceptions is not None:
                endpoint.failed(error)
            if status is None and isinstance(error, Exception) and _default_500(scope):
                # The 500 Starlette's ServerErrorMiddleware (outside every middleware) would send,
                # sent here so that it carries the request ID; it sends nothing once one started.
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"), (header, rid_bytes)],
                    }
                )
                await send({"type": "http.response.body", "body": b"Internal Server Error"})
            raise
        finally:
            _current.reset(token)
            size = int(request_bytes) if request_bytes and request_bytes.isdigit() else 0
            if self._plain:
                endpoint.finished(status or 500, perf_counter() - started, size, response_bytes)
            else:
                extras = tuple(label.from_scope(scope) for label in self._extras)
                if exemplar_of is not None and status is None:
                    exemplar = exemplar_of()  # no response sent (an exception): the span around us
                seconds = perf_counter() - started
                endpoint.finished_with(extras, status or 500, seconds, size, response_bytes, exemplar)

    def _template(self, scope: Scope) -> str | None:
        """The route template of the request's path (cached); None for a path not measured:
        excluded, or answered by obsagent's own apps."""
        path = scope["path"]
        if self.metrics.excluded(path):
            self._remember(path, None)
            return None
        routes = getattr(scope.get("app"), "routes", None) or getattr(self.app, "routes", None)
        template = (_route_template(routes, scope, "") if routes else None) or self.metrics.unmatched
        if template == self.metrics.unmatched and routes and not path.endswith("/"):
            # Starlette redirects /metrics to /metrics/ where an app is mounted at /metrics.
            slashed = {**scope, "path": path + "/"}
            if _route_template(routes, slashed, "") is _UNMEASURED:
                template = _UNMEASURED
        if template is _UNMEASURED:
            template = None
        self._remember(path, template)
        return template

    def _remember(self, path: str, template: str | None) -> None:
        if len(self._templates) >= MAX_PATHS:
            self._templates.clear()
        self._templates[path] = template


_UNMEASURED = "\0unmeasured"
_UNKNOWN = object()


def _default_500(scope: Scope) -> bool:
    """Whether an exception escaping the app gets the server's or Starlette's plain 500: not
    in debug mode (a traceback page) nor with an app's own handler for exceptions or 500."""
    app = scope.get("app")
    if getattr(app, "debug", False):
        return False
    handlers = getattr(app, "exception_handlers", None) or {}
    return 500 not in handlers and Exception not in handlers


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
        if getattr(getattr(route, "app", None), UNMEASURED, False):
            if match is Match.FULL:
                return _UNMEASURED
            continue
        found = prefix + getattr(route, "path", "")
        if isinstance(route, Mount) and getattr(route, "routes", None):
            found = _route_template(route.routes, {**scope, **child}, found) or found
        if match is Match.FULL:
            return found
        partial = partial or found
    return partial
