"""An ASGI app serving a registry, for mounting ``/metrics`` in FastAPI or Starlette."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .exposition import _render
from .registry import REGISTRY, CollectorRegistry

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def make_asgi_app(registry: CollectorRegistry = REGISTRY) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI app answering every GET/HEAD with the registry's metrics."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        if scope.get("method", "GET") not in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 405, "headers": [(b"allow", b"GET, HEAD")]})
            await send({"type": "http.response.body", "body": b"Method Not Allowed: use GET or HEAD\n"})
            return
        request_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        body, headers = _render(registry, request_headers.get("accept"), request_headers.get("accept-encoding"))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
            }
        )
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})

    return app
