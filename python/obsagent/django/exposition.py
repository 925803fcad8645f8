"""``PrometheusDjangoView``: mount it in ``urls.py``
(``path("metrics", PrometheusDjangoView.as_view())``) to serve the default registry, or
``as_view(registry=...)`` for another. In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set)
it serves every process' metrics, merged, as prometheus_client's does. The answer is the scrape
``exposition`` makes for the request's ``Accept``, ``Accept-Encoding`` and ``name[]``."""

from __future__ import annotations

import os
from typing import Any

from django.http import HttpResponse
from django.views import View

from .. import exposition, multiprocess
from ..registry import REGISTRY, CollectorRegistry


class PrometheusDjangoView(View):
    """GET: the registry's metrics; OPTIONS: the methods allowed."""

    multiprocess_mode: bool = "PROMETHEUS_MULTIPROC_DIR" in os.environ or "prometheus_multiproc_dir" in os.environ
    registry: CollectorRegistry | None = None

    def get(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.registry is None:
            if self.multiprocess_mode:
                self.registry = CollectorRegistry()
                multiprocess.MultiProcessCollector(self.registry)
            else:
                self.registry = REGISTRY
        status, headers, output = exposition._bake_output(
            self.registry,
            request.headers.get("Accept"),
            request.headers.get("Accept-Encoding"),
            {key: request.GET.getlist(key) for key in request.GET},
            False,
        )
        return HttpResponse(output, status=int(status.split(" ")[0]), headers=dict(headers))

    def options(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponse(status=200, headers={"Allow": "OPTIONS,GET"})
