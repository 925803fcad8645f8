"""Metric families for custom collectors, with prometheus_client's names and signatures.

A collector is any object with a ``collect()`` method yielding these::

    class QueueCollector:
        def collect(self):
            family = GaugeMetricFamily("queue_depth", "Jobs waiting.", labels=["queue"])
            family.add_metric(["default"], 12)
            yield family

    REGISTRY.register(QueueCollector())
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import _native
from .samples import Sample

METRIC_TYPES = (
    "counter",
    "gauge",
    "summary",
    "histogram",
    "gaugehistogram",
    "unknown",
    "info",
    "stateset",
)


class Metric:
    """A metric family and its samples, as collectors yield them."""

    def __init__(self, name: str, documentation: str, typ: str, unit: str = "") -> None:
        if unit and not name.endswith("_" + unit):
            name += "_" + unit
        _native.check_metric_name(name)
        if typ == "untyped":  # the text format's word for it, which prometheus_client accepts
            typ = "unknown"
        if typ not in METRIC_TYPES:
            raise ValueError(f"Invalid metric type: {typ!r}; valid types are {METRIC_TYPES}")
        self.name = name
        self.documentation = documentation
        self.unit = unit
        self.type = typ
        self.samples: list[Sample] = []

    def add_sample(
        self,
        name: str,
        labels: dict[str, str],
        value: float,
        timestamp: Any = None,
        exemplar: Any = None,
        native_histogram: Any = None,
    ) -> None:
        """Appends one sample."""
        self.samples.append(Sample(name, labels, value, timestamp, exemplar, native_histogram))  # as given, as upstream

    def _restricted_metric(self, names: set[str]) -> Metric | None:
        """A copy holding only the samples named in ``names``, or None when none is."""
        samples = [sample for sample in self.samples if sample.name in names]
        if not samples:
            return None
        restricted = Metric(self.name, self.documentation, self.type)
        restricted.unit = self.unit
        restricted.samples = samples
        return restricted

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Metric) and (self.name, self.documentation, self.type, self.unit, self.samples) == (
            other.name,
            other.documentation,
            other.type,
            other.unit,
            other.samples,
        )

    def __repr__(self) -> str:
        return f"Metric({self.name!r}, {self.documentation!r}, {self.type!r}, {self.unit!r}, {self.samples!r})"


def native_metrics(collector: _native.Collector) -> list[Metric]:
    """What a core collector reports now, as ``Metric`` objects (its ``collect()``)."""
    metrics = []
    for name, documentation, typ, unit, samples in collector.collect():
        metric = Metric(name, documentation, typ, unit)
        metric.samples = [Sample(*sample) for sample in samples]
        metrics.append(metric)
    return metrics


class _LabeledFamily(Metric):
    def __init__(
        self,
        name: str,
        documentation: str,
        typ: str,
        labels: Sequence[str] | None,
        unit: str = "",
    ) -> None:
        super().__init__(name, documentation, typ, unit)
        self._labelnames = tuple(labels or ())
        for label in self._labelnames:
            _native.check_label_name(label)

    def _labels(self, values: Sequence[str]) -> dict[str, str]:
        if len(values) != len(self._labelnames):
            raise ValueError(
                f"Incorrect labels for {self.name!r}: expected {list(self._labelnames)}, got {len(values)} values"
            )
        return dict(zip(self._labelnames, values, strict=True))

    @staticmethod
    def _check_single(value: Any, labels: Sequence[str] | None) -> None:
        if labels is not None and value is not None:
            raise ValueError("Can only specify at most one of value and labels.")


class UnknownMetricFamily(_LabeledFamily):
    """A single untyped metric and its samples."""

    def __init__(self, name, documentation, value=None, labels=None, unit=""):
        super().__init__(name, documentation, "unknown", labels, unit)
        self._check_single(value, labels)
        if value is not None:
            self.add_metric([], value)

    def add_metric(self, labels, value, timestamp=None):
        """Adds a sample with these label values."""
        self.add_sample(self.name, self._labels(labels), value, timestamp)


UntypedMetricFamily = UnknownMetricFamily


class CounterMetricFamily(_LabeledFamily):
    """A counter and its samples (the ``_total`` suffix is added, as in prometheus_client)."""

    def __init__(self, name, documentation, value=None, labels=None, created=None, unit="", exemplar=None):
        if name.endswith("_total"):
            name = name[:-6]
        super().__init__(name, documentation, "counter", labels, unit)
        self._check_single(value, labels)
        if value is not None:
            self.add_metric([], value, created, exemplar=exemplar)

    def add_metric(self, labels, value, created=None, timestamp=None, exemplar=None):
        """Adds a counter sample (with its ``exemplar``, an ``Exemplar``, when given), and its
        ``_created`` sample when given."""
        labels = self._labels(labels)
        self.add_sample(self.name + "_total", labels, value, timestamp, exemplar)
        if created is not None:
            self.add_sample(self.name + "_created", labels, created, timestamp)


class GaugeMetricFamily(_LabeledFamily):
    """A gauge and its samples."""

    def __init__(self, name, documentation, value=None, labels=None, unit=""):
        super().__init__(name, documentation, "gauge", labels, unit)
        self._check_single(value, labels)
        if value is not None:
            self.add_metric([], value)

    def add_metric(self, labels, value, timestamp=None):
        """Adds a gauge sample."""
        self.add_sample(self.name, self._labels(labels), value, timestamp)


class SummaryMetricFamily(_LabeledFamily):
    """A summary (count and sum) and its samples."""

    def __init__(self, name, documentation, count_value=None, sum_value=None, labels=None, unit=""):
        super().__init__(name, documentation, "summary", labels, unit)
        if (sum_value is None) != (count_value is None):
            raise ValueError("count_value and sum_value must be provided together.")
        self._check_single(count_value, labels)
        if count_value is not None:
            self.add_metric([], count_value, sum_value)

    def add_metric(self, labels, count_value, sum_value, timestamp=None):
        """Adds the ``_count`` and ``_sum`` samples."""
        labels = self._labels(labels)
        self.add_sample(self.name + "_count", labels, count_value, timestamp)
        self.add_sample(self.name + "_sum", labels, sum_value, timestamp)


class HistogramMetricFamily(_LabeledFamily):
    """A histogram: cumulative ``(le, count)`` buckets ending with ``+Inf``, and a sum."""

    def __init__(self, name, documentation, buckets=None, sum_value=None, labels=None, unit=""):
        super().__init__(name, documentation, "histogram", labels, unit)
        if sum_value is not None and buckets is None:
            raise ValueError("sum value cannot be provided without buckets.")
        self._check_single(buckets, labels)
        if buckets is not None:
            self.add_metric([], buckets, sum_value)

    def add_metric(self, labels, buckets, sum_value, timestamp=None):
        """Adds the ``_bucket`` samples (sorted, ``+Inf`` last), and with ``sum_value`` and no
        negative bucket, ``_count`` (the last bucket) and ``_sum``, as prometheus_client does."""
        labels = self._labels(labels)
        for bucket in buckets:
            exemplar = bucket[2] if len(bucket) == 3 else None
            self.add_sample(self.name + "_bucket", {**labels, "le": bucket[0]}, bucket[1], timestamp, exemplar)
        if float(buckets[0][0]) >= 0 and sum_value is not None:
            self.add_sample(self.name + "_count", labels, buckets[-1][1], timestamp)
            self.add_sample(self.name + "_sum", labels, sum_value, timestamp)


class GaugeHistogramMetricFamily(_LabeledFamily):
    """A gauge histogram: buckets, ``_gcount`` and ``_gsum``."""

    def __init__(self, name, documentation, buckets=None, gsum_value=None, labels=None, unit=""):
        super().__init__(name, documentation, "gaugehistogram", labels, unit)
        self._check_single(buckets, labels)
        if buckets is not None:
            self.add_metric([], buckets, gsum_value)

    def add_metric(self, labels, buckets, gsum_value, timestamp=None):
        """Adds the buckets, ``_gcount`` and ``_gsum``."""
        labels = self._labels(labels)
        for bucket, value in buckets:
            self.add_sample(self.name + "_bucket", {**labels, "le": bucket}, value, timestamp)
        self.add_sample(self.name + "_gcount", labels, buckets[-1][1], timestamp)
        self.add_sample(self.name + "_gsum", labels, gsum_value, timestamp)


class InfoMetricFamily(_LabeledFamily):
    """An info metric: constant label pairs with value 1."""

    def __init__(self, name, documentation, value=None, labels=None):
        super().__init__(name, documentation, "info", labels)
        self._check_single(value, labels)
        if value is not None:
            self.add_metric([], value)

    def add_metric(self, labels, value, timestamp=None):
        """Adds an ``_info`` sample carrying the pairs in ``value``."""
        labels = self._labels(labels)
        self.add_sample(self.name + "_info", {**labels, **value}, 1, timestamp)


class StateSetMetricFamily(_LabeledFamily):
    """A state set: one sample per state, 1 for the states that hold."""

    def __init__(self, name, documentation, value=None, labels=None):
        super().__init__(name, documentation, "stateset", labels)
        self._check_single(value, labels)
        if value is not None:
            self.add_metric([], value)

    def add_metric(self, labels, value, timestamp=None):
        """Adds one sample per state in ``value`` (a dict of state to bool)."""
        labels = self._labels(labels)
        for state, enabled in sorted(value.items()):
            self.add_sample(self.name, {**labels, self.name: state}, 1 if enabled else 0, timestamp)
