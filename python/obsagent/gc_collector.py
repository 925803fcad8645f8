"""``python_gc_*``: garbage collector statistics per generation, as in prometheus_client."""

from __future__ import annotations

from . import _native
from .metrics_core import Metric, native_metrics
from .registry import REGISTRY, CollectorRegistry


class GCCollector:
    """Exposes collections, collected and uncollectable objects per GC generation.

    The core reads ``gc.get_stats()`` itself at each scrape: no metric objects are built in
    Python unless ``collect()`` is called."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        self._native_collector = _native.Collector.gc()
        if registry is not None:
            registry.register(self)

    def collect(self) -> list[Metric]:
        """The GC counters now."""
        return native_metrics(self._native_collector)


GC_COLLECTOR = GCCollector()
