"""``python_info``: the interpreter's version and implementation, as in prometheus_client."""

from __future__ import annotations

import platform as _platform
from typing import Any

from . import _native
from .metrics_core import GaugeMetricFamily, Metric
from .registry import REGISTRY, CollectorRegistry


class PlatformCollector:
    """Exposes ``python_info{implementation,major,minor,patchlevel,version}``; ``platform`` stands
    for the ``platform`` module (in tests)."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY, platform: Any = None) -> None:
        pf = platform if platform is not None else _platform
        major, minor, patchlevel = pf.python_version_tuple()
        labels = {
            "implementation": pf.python_implementation(),
            "major": major,
            "minor": minor,
            "patchlevel": patchlevel,
            "version": pf.python_version(),
        }
        if pf.system() == "Java":  # Jython: the JVM too, as prometheus_client reports it
            jvm_release, _, (vm_name, vm_release, vm_vendor), _ = pf.java_ver()
            labels.update(jvm_version=jvm_release, jvm_release=vm_release, jvm_vendor=vm_vendor, jvm_name=vm_name)
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
