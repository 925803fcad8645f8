"""``CollectorRegistry`` and the default ``REGISTRY``, as in prometheus_client.

The registry itself is native: native metrics are encoded straight from their cells, with the
GIL released; collectors written in Python are called back when the registry is collected.
"""

from __future__ import annotations

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

_created_series = False


def enable_created_metrics() -> None:
    """Expose ``_created`` series for counters, histograms and summaries (off by default)."""
    global _created_series
    _created_series = True


def disable_created_metrics() -> None:
    """Stop exposing ``_created`` series (the default)."""
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

    def __init__(self, auto_describe: bool = False) -> None:
        self._native = _native.Registry()
        self._auto_describe = auto_describe

    def register(self, collector: Any) -> None:
        """Adds a collector; ``ValueError`` if it would expose a name already exposed."""
        native = _native_part(collector)
        if native is not None:
            self._native.register(native)
        else:
            self._native.register(collector, self._names(collector))

    def unregister(self, collector: Any) -> None:
        """Removes a collector."""
        native = _native_part(collector)
        self._native.unregister(native if native is not None else collector)

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
        """Yields every metric family with its current samples."""
        for name, documentation, typ, unit, samples in self._native.collect(_created_series):
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


REGISTRY = CollectorRegistry(auto_describe=True)
# The cardinality guard's own counter (shown once a metric has reached its series limit).
REGISTRY.register(_native.Collector.series_dropped())

#: Series a labeled metric may hold before new label sets share its ``__overflow__`` series,
#: counted in ``obsagent_series_dropped_total{metric}`` (default 100,000).
set_series_limit = _native.set_series_limit
#: Bytes a label value may have (default 4096); a longer one is a ``ValueError``.
set_label_value_limit = _native.set_label_value_limit
