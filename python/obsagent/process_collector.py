"""``process_*`` metrics (CPU, memory, file descriptors, start time), read natively from /proc."""

from __future__ import annotations

import os
from typing import Any

from . import _native
from .metrics_core import Metric, native_metrics
from .registry import REGISTRY, CollectorRegistry


class ProcessCollector:
    """prometheus_client's process metrics, with its names and help texts.

    ``pid`` is a callable returning the pid to describe (default: this process), ``proc`` the
    procfs mount point, ``namespace`` a prefix for the names (``n`` makes
    ``n_process_cpu_seconds_total``). A process that has gone (its ``/proc/<pid>/stat`` can't be
    read) reports nothing, as in prometheus_client.
    """

    def __init__(
        self,
        namespace: str = "",
        pid: Any = lambda: "self",
        proc: str = "/proc",
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        target = pid()
        collector = _native.Collector.process(proc, None if target == "self" else int(target))
        self._prefix = f"{namespace}_" if namespace else ""
        if self._prefix or target != "self":
            self._collector = collector  # collected in Python: renamed, or a process that may go
        else:
            self._native_collector = collector  # served natively, no callback into Python
        if os.path.isdir(proc) and registry is not None:
            registry.register(self)

    def collect(self) -> list[Metric]:
        """The process metrics now (their names prefixed with ``namespace_`` when given)."""
        if hasattr(self, "_native_collector"):
            return native_metrics(self._native_collector)
        try:
            metrics = native_metrics(self._collector)
        except OSError:
            return []  # the process is gone
        for metric in metrics:
            metric.name = self._prefix + metric.name
            metric.samples = [sample._replace(name=self._prefix + sample.name) for sample in metric.samples]
        return metrics


PROCESS_COLLECTOR = ProcessCollector()
