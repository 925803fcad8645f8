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
    procfs mount point.
    """

    def __init__(
        self,
        namespace: str = "",
        pid: Any = lambda: "self",
        proc: str = "/proc",
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        if namespace:
            raise ValueError("obsagent's ProcessCollector does not support a namespace prefix")
        target = pid()
        self._native_collector = _native.Collector.process(proc, None if target == "self" else int(target))
        if os.path.isdir(proc) and registry is not None:
            registry.register(self)

    def collect(self) -> list[Metric]:
        """The process metrics now."""
        return native_metrics(self._native_collector)


PROCESS_COLLECTOR = ProcessCollector()
