"""``exposition.MetricsHandler``, apart so that importing obsagent, and the daemon, does not
load ``http.server`` (and with it ``http.client``, ``email`` and ``ssl``) for it."""

from __future__ import annotations

import http.server
from typing import Any
from urllib.parse import parse_qs, urlparse

from ._scrape import bake_output
from .registry import REGISTRY


class MetricsHandler(http.server.BaseHTTPRequestHandler):
    """An ``http.server`` handler answering GET with ``registry``'s metrics (for code that runs
    its own ``HTTPServer``); ``MetricsHandler.factory(registry)`` makes one for a registry."""

    registry: Any = REGISTRY

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        params = parse_qs(urlparse(self.path).query)
        status, headers, body = bake_output(
            self.registry, self.headers.get("Accept"), self.headers.get("Accept-Encoding"), params, False
        )
        self.send_response(int(status.split(" ")[0]))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        """Logs nothing."""

    @classmethod
    def factory(cls, registry: Any) -> type:
        """A subclass of this handler serving ``registry``."""
        return type(cls.__name__, (cls, object), {"registry": registry})
