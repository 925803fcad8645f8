"""``python_info``: the interpreter's version and implementation, as in prometheus_client."""

from __future__ import annotations

import platform as pf

from . import _native
from .metrics_core import GaugeMetricFamily, Metric
from .registry import REGISTRY, CollectorRegistry


class PlatformCollector:
    """Exposes ``python_info{implementation,major,minor,patchlevel,version}``."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        labels = {
            "implementation": pf.python_implementation(),
            "major": pf.python_version_tuple()[0],
            "minor": pf.python_version_tuple()[1],
            "patchlevel": pf.python_version_tuple()[2],
            "version": pf.python_version(),
        }
        self._metric = GaugeMetricFamily("python_info", "Python platform information", labels=list(labels))
        self._metric.add_metric(list(labels.values()), 1)
        # Constant for the life of the process: served natively, no callback into Python.
        self._native_collector = _native.Collector.constant([self._metric])
        if registry is not None:
            registry.register(self)

    def collect(self) -> list[Metric]:
        """The platform metric."""
        return [self._metric]


PLATFORM_COLLECTOR = PlatformCollector()
