"""WSGI: an app serving a registry, for mounting ``/metrics`` in an existing app, and
``MetricsMiddleware``, the standard HTTP metrics of any WSGI app."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from time import perf_counter
from typing import Any

from ._http_metrics import DEFAULT_EXCLUDED_PATHS, MAX_PATHS, Endpoint, HttpMetrics, method_label
from .context import DEFAULT_HEADER, _current, accepted, new_request_id
from .exposition import make_wsgi_app as make_wsgi_app  # `X as X`: re-exported
from .registry import REGISTRY, CollectorRegistry

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class MetricsMiddleware:
    """RED metrics for any WSGI app (Flask, Django, ...): see ``obsagent._http_metrics``
    (``HttpMetrics`` lists the options after `endpoint`).

    ``endpoint`` is the route template: Flask's URL rule (``/items/<int:item_id>``), found with
    the app's own URL map, or what ``endpoint(environ)`` returns (by path) for other frameworks (for
    Django: ``lambda environ: django.urls.resolve(environ["PATH_INFO"]).route``); requests
    nothing matches share ``<unmatched>``. The request ID (the `request_id_header` the caller
    sent, or a new UUID4) is current in ``obsagent.context`` until the response is closed, in
    ``environ`` (``HTTP_X_REQUEST_ID`` when the caller sent none, and
    ``environ["obsagent.request_id"]``), and once on the response (unless the app put one there).
    Time runs until the server closes the response, so streamed bodies are counted whole; an
    exception that escapes the app counts as status 500 and is re-raised."""

    def __init__(
        self,
        app: WSGIApp,
        registry: CollectorRegistry | None = REGISTRY,
        excluded_paths: Iterable[str] = DEFAULT_EXCLUDED_PATHS,
        buckets: Iterable[float] | None = None,
        endpoint: Callable[[dict[str, Any]], str | None] | None = None,
        *,
        request_id_header: str = DEFAULT_HEADER,
        **options: Any,
    ) -> None:
        self.app = app
        self.metrics = HttpMetrics(registry, excluded_paths, buckets, **options)
        self._resolve = endpoint or _flask_resolver(app)
        self._templates: dict[str, str] = {}
        self._header = request_id_header
        self._header_lower = request_id_header.lower()
        self._environ_key = "HTTP_" + request_id_header.upper().replace("-", "_")
        #: Neither extra labels nor exemplars: the request's end is the shortest path.
        self.plain = not self.metrics.extra_labels and self.metrics.exemplar is None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if self.metrics.excluded(path):
            return self.app(environ, start_response)
        started = perf_counter()
        method = method_label(environ.get("REQUEST_METHOD", "GET"))
        endpoint = self.metrics.endpoint(method, self._template(path, environ))
        rid = environ.get(self._environ_key)
        if rid is None or not accepted(rid):
            rid = environ[self._environ_key] = new_request_id()
        environ["obsagent.request_id"] = rid
        length = environ.get("CONTENT_LENGTH", "")
        request_bytes = int(length) if length.isdigit() else 0
        response = _Response(self, endpoint, started, request_bytes, environ, _current.set(rid))
        header, lower, length = self._header, self._header_lower, len(self._header)

        exemplar_of = self.metrics.exemplar

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            response.status = int(status.split(" ", 1)[0])
            if exemplar_of is not None:  # the span of the view's context: tracing inside or outside us
                response.response_started = True
                response.exemplar = exemplar_of()
            for name, _ in headers:
                if len(name) == length and name.lower() == lower:
                    return start_response(status, headers, exc_info)
            return start_response(status, [*headers, (header, rid)], exc_info)

        try:
            response.body = self.app(environ, start)
        except BaseException as error:
            if self.metrics.exceptions is not None:
                endpoint.failed(error)
            response.close()
            raise
        return response

    def _template(self, path: str, environ: dict[str, Any]) -> str:
        template = self._templates.get(path)
        if template is None:
            template = (self._resolve(environ) if self._resolve else None) or self.metrics.unmatched
            if len(self._templates) >= MAX_PATHS:
                self._templates.clear()
            self._templates[path] = template
        return template


class _Response:
    """The app's response iterable, counted as the server iterates it; recorded once, when the
    last chunk is out or when the server closes it (a client gone mid-stream)."""

    def __init__(
        self,
        middleware: MetricsMiddleware,
        endpoint: Endpoint,
        started: float,
        request_bytes: int,
        environ: dict[str, Any],
        token: Any,
    ) -> None:
        self.middleware, self.endpoint, self.started, self.request_bytes = middleware, endpoint, started, request_bytes
        self.environ, self.token = environ, token
        self.status, self.size, self.body = 500, 0, None
        self.exemplar: dict[str, str] | None = None
        self.response_started = False
        self._recorded = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body or ():
            self.size += len(chunk)
            yield chunk
        self._record()

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self._record()

    def _record(self) -> None:
        if self._recorded:
            return
        self._recorded = True
        try:
            _current.reset(self.token)
        except ValueError:  # closed in another context than the one the request began in
            _current.set(None)
        seconds = perf_counter() - self.started
        middleware = self.middleware
        if middleware.plain:
            self.endpoint.finished(self.status, seconds, self.request_bytes, self.size)
        else:
            metrics = middleware.metrics
            extras = metrics.extra_labels
            values = tuple(label.from_environ(self.environ) for label in extras)
            exemplar = self.exemplar
            if metrics.exemplar is not None and not self.response_started:  # no response started: an exception
                exemplar = metrics.exemplar()
            self.endpoint.finished_with(values, self.status, seconds, self.request_bytes, self.size, exemplar)


def _flask_resolver(app: Any) -> Callable[[dict[str, Any]], str | None] | None:
    """Flask's URL rule for a request, from the app's URL map (`app` or `app.wsgi_app`)."""
    url_map = getattr(app, "url_map", None) or getattr(getattr(app, "__self__", None), "url_map", None)
    if url_map is None:
        return None

    def resolve(environ: dict[str, Any]) -> str | None:
        adapter = url_map.bind_to_environ(environ)
        try:
            rule, _ = adapter.match(return_rule=True)
        except Exception as err:  # NotFound and RequestRedirect have no rule of their own
            # A 405's path has a rule, for other methods: the template is the same for all.
            methods = getattr(err, "valid_methods", None)
            if not methods:
                return None
            try:
                rule, _ = adapter.match(method=methods[0], return_rule=True)
            except Exception:
                return None
        return rule.rule

    return resolve
