"""A WSGI app serving a registry, for mounting ``/metrics`` in an existing app."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .exposition import _render
from .registry import REGISTRY, CollectorRegistry


def make_wsgi_app(registry: CollectorRegistry = REGISTRY) -> Callable[..., Iterable[bytes]]:
    """A WSGI app answering every GET/HEAD with the registry's metrics."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b"Method Not Allowed: use GET or HEAD\n"]
        body, headers = _render(registry, environ.get("HTTP_ACCEPT"), environ.get("HTTP_ACCEPT_ENCODING"))
        start_response("200 OK", headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]

    return app
