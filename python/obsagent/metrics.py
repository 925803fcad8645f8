"""The metric types, with prometheus_client's constructors and methods.

Each class is a thin Python subclass of its native type: the constructor registers the metric,
and every update (``inc``, ``set``, ``observe``) is one call into Rust and one atomic operation.
``labels(...)`` returns the child for a label set; holding on to it is the fastest pattern::

    REQUESTS = Counter("http_requests", "Requests handled.", ["method", "path"])
    GET_API = REQUESTS.labels("GET", "/api")  # look the child up once

    def handle():
        GET_API.inc()

Children are instances of the native type (``obsagent._native.Counter`` and so on), which has
every method the parent has.
"""

from __future__ import annotations

import os
import sys
import time
import types
from collections.abc import Iterable, Sequence
from typing import Any

from . import _native
from .metrics_core import Metric
from .registry import (
    REGISTRY,
    CollectorRegistry,
    created_metrics_enabled,
    disable_created_metrics,
    enable_created_metrics,
)
from .samples import Sample

#: ``time.time`` as imported: while a test has replaced it, the core reads ``_created`` (of a
#: metric or a child made then), exemplar times and ``set_to_current_time`` from the
#: replacement, as prometheus_client does; its own clock otherwise.
_TIME = time.time


def _get_use_created() -> bool:
    """Whether the environment leaves ``_created`` series on (``PROMETHEUS_DISABLE_CREATED_SERIES``
    not ``true``, ``1`` or ``t``), prometheus_client's reading of it."""
    return os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in ("true", "1", "t")


class _MetricsModule(types.ModuleType):
    """This module, with prometheus_client's ``metrics._use_created`` as a live view of whether
    ``_created`` series are exposed (assigning it turns them on or off)."""

    @property
    def _use_created(self) -> bool:
        return created_metrics_enabled()

    @_use_created.setter
    def _use_created(self, value: bool) -> None:
        (enable_created_metrics if value else disable_created_metrics)()


sys.modules[__name__].__class__ = _MetricsModule


def _register(metric: Any, registry: CollectorRegistry | None) -> None:
    if registry is not None:
        registry.register(metric)


def _describe(metric: Any) -> list[Metric]:
    name, documentation, typ, unit, _ = metric._samples()
    described = Metric(name, documentation, typ)
    described.unit = unit
    return [described]


def _collect(metric: Any) -> list[Metric]:
    name, documentation, typ, unit, samples = metric._samples(created_metrics_enabled())
    collected = Metric(name, documentation, typ)
    collected.unit = unit
    collected.samples = [Sample(*sample) for sample in samples]
    return [collected]


class _Registered:
    """What every metric class adds to its native type: registration, describe and collect."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Iterable[str] = (),
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: CollectorRegistry | None = REGISTRY,
        _labelvalues: Sequence[str] | None = None,
        **_type_specific: Any,
    ) -> None:
        _register(self, registry)

    def describe(self) -> list[Metric]:
        """The family without samples."""
        return _describe(self)

    @property
    def _metrics(self) -> dict[tuple[str, ...], Any]:
        """prometheus_client's dict of children by label values, for tests that read it (made at
        each access: obsagent keeps no Python object per series)."""
        names = self._labelnames
        children: dict[tuple[str, ...], Any] = {}
        if not names:
            return children
        for sample in _collect(self)[0].samples:
            if all(name in sample.labels for name in names):
                values = tuple(sample.labels[name] for name in names)
                if values not in children:
                    children[values] = self.labels(*values)
        return children

    def remove_by_labels(self, labels: dict[str, str]) -> None:
        """Removes every child whose labels include all of ``labels`` (nothing when empty);
        ``ValueError`` for a label name the metric does not have."""
        if not labels:
            return
        names = self._labelnames
        unknown = sorted(set(labels) - set(names))
        if unknown:
            raise ValueError(f"Unknown label names: {unknown}; the metric has {list(names)}")
        doomed = {
            tuple(sample.labels[name] for name in names)
            for sample in _collect(self)[0].samples
            if all(name in sample.labels for name in names)
            and all(sample.labels[name] == str(value) for name, value in labels.items())
        }
        for values in doomed:
            self.remove(*values)

    def __repr__(self) -> str:
        """``module.Class(name)``, the module named as the caller imported it: as
        ``prometheus_client.metrics`` when that name is an alias of this module (an import hook)."""
        module = type(self).__module__
        alias = "prometheus_client" + module.removeprefix("obsagent")
        if module.startswith("obsagent.") and sys.modules.get(alias) is sys.modules.get(module):
            module = alias
        return f"{module}.{type(self).__name__}({self._name})"

    def collect(self) -> list[Metric]:
        """The family with its current samples."""
        return _collect(self)


class Counter(_Registered, _native.Counter):
    """A Counter tracks counts of events or running totals; it only goes up (and resets
    when the process restarts).

    Example::

        from obsagent import Counter

        c = Counter("my_failures", "Description of counter")
        c.inc()     # Increment by 1
        c.inc(1.6)  # Increment by given value

        @c.count_exceptions()
        def f():
            pass

    The exposed sample is ``my_failures_total``; a ``_total`` suffix in the name is dropped
    from the family name, as in prometheus_client.
    """

    def reset(self) -> None:
        """Back to zero, with a new ``_created`` time, as in prometheus_client."""
        super().reset()
        self._set_created(time.time())

    def count_exceptions(self, exception: Any = None) -> Any:
        """Counts the exceptions (of ``exception``, default ``Exception``) the block or function
        raises; on a labeled parent a ``ValueError`` at once, as in prometheus_client."""
        self.inc(0)  # raises the core's "missing label values" error on a labeled parent
        return super().count_exceptions(exception)


class Gauge(_Registered, _native.Gauge):
    """A Gauge is a value that goes up and down: items in a queue, memory in use,
    requests in progress.

    Example::

        from obsagent import Gauge

        g = Gauge("my_inprogress_requests", "Description of gauge")
        g.inc()      # Increment by 1
        g.dec(10)    # Decrement by given value
        g.set(4.2)   # Set to a given value

        @g.track_inprogress()
        def f():
            pass

        g.set_function(lambda: len(my_dict))  # computed at each scrape
    """

    def track_inprogress(self) -> Any:
        """Raises the gauge while the block or function runs; on a labeled parent a
        ``ValueError`` at once, as in prometheus_client."""
        self.inc(0)  # raises the core's "missing label values" error on a labeled parent
        return super().track_inprogress()


class Histogram(_Registered, _native.Histogram):
    """A Histogram counts observations (request latencies, response sizes) in buckets.

    Example::

        from obsagent import Histogram

        h = Histogram("request_latency_seconds", "Description of histogram")
        h.observe(4.7)
        h.observe_many(numpy_array_of_latencies)  # a whole batch in one call

        @h.time()
        def f():
            pass

    The default buckets (``Histogram.DEFAULT_BUCKETS``) suit web request latencies in
    seconds; pass ``buckets=[...]`` for others. ``+Inf`` is added when missing. A NaN
    observation is counted in the ``+Inf`` bucket and ``_count`` and makes ``_sum`` NaN,
    as Prometheus' Go and Rust clients do.

    ``native_histogram_bucket_factor=1.1`` (any factor above 1) makes it a native histogram as
    client_golang has them: exponential buckets no wider than that factor (the schema follows
    from it), a zero bucket for magnitudes up to ``native_histogram_zero_threshold`` (default
    2**-128), at most ``native_histogram_max_bucket_number`` consecutive buckets per sign (160),
    beyond which it resets (once ``native_histogram_min_reset_duration`` seconds have passed since
    the last reset), widens the zero bucket (up to ``native_histogram_max_zero_threshold``) or
    halves its resolution, in that order. Prometheus reads it from the protobuf exposition; the
    text formats show its classic buckets (``buckets=``, or only ``+Inf`` when none are given),
    count and sum. Workers' native histograms merge in multiprocess mode.
    """


class Summary(_Registered, _native.Summary):
    """A Summary tracks the count and sum of observations, as in prometheus_client; with
    ``quantiles`` (quantile to allowed rank error) also client_golang's targeted quantiles over
    a sliding window of ``max_age`` seconds in ``age_buckets`` steps, exposed as
    ``{quantile="0.99"}`` samples (NaN while the window is empty).

    Example::

        from obsagent import Summary

        s = Summary("request_size_bytes", "Description of summary")
        s.observe(512)
        latency = Summary("latency_seconds", "Latency.", quantiles={0.5: 0.05, 0.9: 0.01, 0.99: 0.001})

    In multiprocess mode count and sum merge across processes; quantiles cannot be merged, so
    the merged exposition has none and each process' own registry shows its own.
    """


class Info(_Registered, _native.Info):
    """Info exposes constant key-value pairs about the target, such as a version.

    Example::

        from obsagent import Info

        i = Info("my_build", "Description of info")
        i.info({"version": "1.2.3", "buildhost": "foo@bar"})
    """


class Enum(_Registered, _native.Enum):
    """Enum tracks which of a set of states something is in.

    Example::

        from obsagent import Enum

        e = Enum("task_state", "Description of enum", states=["starting", "running", "stopped"])
        e.state("running")
    """
