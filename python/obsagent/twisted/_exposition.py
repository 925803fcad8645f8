"""``MetricsResource(registry=REGISTRY)``: ``root.putChild(b"metrics", MetricsResource())``. It is
the WSGI app of ``exposition.make_wsgi_app`` run on the reactor's thread pool (Twisted's
``WSGIResource``), as prometheus_client's is, so the scrape never blocks the reactor."""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.web.wsgi import WSGIResource

from .. import exposition
from ..registry import REGISTRY


def MetricsResource(registry: Any = REGISTRY) -> WSGIResource:  # noqa: N802 (prometheus_client's name, a class there)
    """A Twisted resource answering with ``registry``'s metrics."""
    return WSGIResource(reactor, reactor.getThreadPool(), exposition.make_wsgi_app(registry))
