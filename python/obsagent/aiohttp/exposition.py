"""``make_aiohttp_handler``: ``app.router.add_get("/metrics", make_aiohttp_handler())``. The
body is the scrape ``exposition`` makes for the request's ``Accept`` and ``name[]``; gzip, when
the client asks for it, is aiohttp's own (``disable_compression=True`` turns it off)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import hdrs, web

from .. import exposition
from ..registry import REGISTRY


def make_aiohttp_handler(
    registry: Any = REGISTRY,
    disable_compression: bool = False,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler answering with ``registry``'s metrics."""

    async def prometheus_handler(request: web.Request) -> web.Response:
        params = {key: request.query.getall(key) for key in request.query.keys()}
        accept = ",".join(request.headers.getall(hdrs.ACCEPT, []))
        # Rendered uncompressed: aiohttp compresses the response itself.
        status, headers, output = exposition._bake_output(registry, accept, "", params, True)
        response = web.Response(status=int(status.split(" ")[0]), headers=headers, body=output)
        if not disable_compression:
            response.enable_compression()
        return response

    return prometheus_handler
