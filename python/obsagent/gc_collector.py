"""``python_gc_*``: garbage collector statistics per generation, as in prometheus_client."""

from __future__ import annotations

import gc

from .metrics_core import CounterMetricFamily, Metric
from .registry import REGISTRY, CollectorRegistry


class GCCollector:
    """Exposes collections, collected and uncollectable objects per GC generation."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        if registry is not None:
            registry.register(self)

    def collect(self) -> list[Metric]:
        """The GC counters now."""
        families = {
            "collected": CounterMetricFamily(
                "python_gc_objects_collected", "Objects collected during gc", labels=["generation"]
            ),
            "uncollectable": CounterMetricFamily(
                "python_gc_objects_uncollectable", "Uncollectable objects found during GC", labels=["generation"]
            ),
            "collections": CounterMetricFamily(
                "python_gc_collections", "Number of times this generation was collected", labels=["generation"]
            ),
        }
        for generation, stats in enumerate(gc.get_stats()):
            for key, family in families.items():
                family.add_metric([str(generation)], stats[key])
        return list(families.values())


GC_COLLECTOR = GCCollector()
