"""``CollectorRegistry`` and the default ``REGISTRY``, as in prometheus_client.

The registry itself is native: native metrics are encoded straight from their cells, with the
GIL released; collectors written in Python are called back when the registry is collected.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from . import _native
from .metrics_core import Metric
from .samples import Sample

_TYPE_SUFFIXES = {
    "counter": ["_total", "_created"],
    "summary": ["_sum", "_count", "_created"],
    "histogram": ["_bucket", "_sum", "_count", "_created"],
    "gaugehistogram": ["_bucket", "_gsum", "_gcount"],
    "info": ["_info"],
}

#: ``_created`` series are exposed, as in prometheus_client, unless the environment variable
#: ``PROMETHEUS_DISABLE_CREATED_SERIES`` is ``true``, ``1`` or ``t``.
_created_series = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in ("true", "1", "t")

#: Raised when a registration would expose a name the registry already exposes.
DuplicateTimeseries = _native.DuplicateTimeseries


def enable_created_metrics() -> None:
    """Expose ``_created`` series for counters, histograms and summaries (the default)."""
    global _created_series
    _created_series = True


def disable_created_metrics() -> None:
    """Stop exposing ``_created`` series."""
    global _created_series
    _created_series = False


def created_metrics_enabled() -> bool:
    """Whether ``_created`` series are exposed."""
    return _created_series


class Collector(Protocol):
    """Anything with a ``collect()`` yielding metric families."""

    def collect(self) -> Iterable[Metric]: ...


def _native_part(collector: Any) -> Any:
    """What the native registry registers: the metric itself, or a built-in's native half."""
    if isinstance(collector, (_native._Metric, _native.Collector)):
        return collector
    return getattr(collector, "_native_collector", None)


class CollectorRegistry:
    """Metrics and collectors to expose together; ``REGISTRY`` is the default one.

    Example::

        registry = CollectorRegistry()
        c = Counter("jobs", "Jobs run.", registry=registry)
        c.inc()
        registry.get_sample_value("jobs_total")  # 1.0
    """

    def __init__(
        self,
        auto_describe: bool = False,
        target_info: dict[str, str] | None = None,
        support_collectors_without_names: bool = False,
    ) -> None:
        self._native = _native.Registry()
        self._auto_describe = auto_describe
        self._support_collectors_without_names = support_collectors_without_names
        self._lock = threading.Lock()
        # prometheus_client's bookkeeping, which users' test fixtures read (to unregister
        # everything, say); the native registry is what encodes and checks duplicates.
        self._collector_to_names: dict[Any, list[str]] = {}
        self._names_to_collectors: dict[str, Any] = {}
        self._collectors_without_names: list[Any] = []
        self._target_info: dict[str, str] | None = None
        self._target_info_collector: Any = None
        self.set_target_info(target_info)

    def register(self, collector: Any) -> None:
        """Adds a collector; ``DuplicateTimeseries`` (a ``ValueError``) if it would expose a name
        already exposed."""
        with self._lock:
            native = _native_part(collector)
            if native is not None:
                names = self._names(native) if isinstance(native, _native._Metric) else []
                self._native.register(native)
            else:
                names = self._names(collector)
                self._native.register(collector, names)
            self._collector_to_names[collector] = names
            for name in names:
                self._names_to_collectors[name] = collector
            if not names and self._support_collectors_without_names:
                self._collectors_without_names.append(collector)

    def unregister(self, collector: Any) -> None:
        """Removes a collector."""
        with self._lock:
            native = _native_part(collector)
            self._native.unregister(native if native is not None else collector)
            for name in self._collector_to_names.pop(collector, []):
                self._names_to_collectors.pop(name, None)
            if collector in self._collectors_without_names:
                self._collectors_without_names.remove(collector)

    def restricted_registry(self, names: Iterable[str]) -> RestrictedRegistry:
        """A view that collects only the samples named ``names`` (and only calls the collectors
        exposing them)."""
        return RestrictedRegistry(names, self)

    def set_target_info(self, labels: dict[str, str] | None) -> None:
        """Exposes ``target_info`` with these labels (None or empty: no ``target_info``)."""
        with self._lock:
            if labels and not self._target_info and "target_info" in self._names_to_collectors:
                raise ValueError("CollectorRegistry already contains a target_info metric")
            if self._target_info_collector is not None:
                self._native.unregister(self._target_info_collector)
                self._target_info_collector = None
                self._names_to_collectors.pop("target_info", None)
            self._target_info = dict(labels) if labels else None
            if self._target_info:
                self._target_info_collector = _native.Collector.constant([self._target_info_metric()])
                self._native.register(self._target_info_collector)
                self._names_to_collectors["target_info"] = self._target_info_collector

    def get_target_info(self) -> dict[str, str] | None:
        """The labels of ``target_info``, or None."""
        return self._target_info

    def _target_info_metric(self) -> Metric:
        metric = Metric("target", "Target metadata", "info")
        metric.add_sample("target_info", self._target_info or {}, 1)
        return metric

    def _names(self, collector: Any) -> list[str]:
        describe = getattr(collector, "describe", None)
        if describe is None and self._auto_describe:
            describe = collector.collect
        if describe is None:
            return []
        names = []
        for metric in describe():
            names.append(metric.name)
            names.extend(metric.name + suffix for suffix in _TYPE_SUFFIXES.get(metric.type, []))
        return names

    def collect(self) -> Iterator[Metric]:
        """Yields every metric family with its current samples (a custom collector's as its
        ``collect()`` yielded them, as prometheus_client does)."""
        for family in self._native.collect(_created_series):
            if not isinstance(family, tuple):
                yield family
                continue
            name, documentation, typ, unit, samples = family
            metric = Metric(name, documentation, typ)
            metric.unit = unit
            metric.samples = [Sample(*sample) for sample in samples]
            yield metric

    def get_sample_value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The value of one sample, or None. Meant for tests, not for hot code."""
        labels = labels or {}
        for metric in self.collect():
            for sample in metric.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        return None


class RestrictedRegistry:
    """What ``CollectorRegistry.restricted_registry`` returns: only some samples, by name."""

    def __init__(self, names: Iterable[str], registry: CollectorRegistry) -> None:
        self._name_set = set(names)
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        """Yields the families holding the samples asked for, with only those samples."""
        registry = self._registry
        with registry._lock:
            collectors = list(registry._collectors_without_names)
            target_info = registry._target_info_metric() if registry._target_info else None
            for name in self._name_set:
                collector = registry._names_to_collectors.get(name)
                if name != "target_info" and collector is not None and collector not in collectors:
                    collectors.append(collector)
        if target_info is not None and "target_info" in self._name_set:
            yield target_info
        for collector in collectors:
            for metric in collector.collect():
                restricted = metric._restricted_metric(self._name_set)
                if restricted is not None:
                    yield restricted


REGISTRY = CollectorRegistry(auto_describe=True)
# The cardinality guard's own counter (shown once a metric has reached its series limit).
REGISTRY.register(_native.Collector.series_dropped())

#: Series a labeled metric may hold before new label sets share its ``__overflow__`` series,
#: counted in ``obsagent_series_dropped_total{metric}`` (default 100,000).
set_series_limit = _native.set_series_limit
#: Bytes a label value may have (default 4096); a longer one is a ``ValueError``.
set_label_value_limit = _native.set_label_value_limit
