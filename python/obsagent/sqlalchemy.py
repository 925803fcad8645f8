"""SQLAlchemy instrumentation: ``instrument(engine)`` (an ``Engine`` or ``AsyncEngine``) records
the pool (size, checked out, idle, overflow, the most it may open, connections waiting and how
long they waited) and the queries (duration by operation, errors by type), under the names the
services obsagent is for write by hand with SQLAlchemy events: ``database_connections_active``,
``database_connections_waiting``, ``database_connections_max``,
``database_query_duration_seconds{operation}``...

Queries are timed with the engine's ``before_cursor_execute``/``after_cursor_execute`` events;
the pool is read at each scrape (its own counts, nothing kept twice); waiting is counted around
the pool's ``_do_get``, where a checkout waits for a free connection, since SQLAlchemy has no
event before a checkout. Several engines share one metric set, told apart by an ``engine``
label when ``instrument(engine, name=...)`` names them."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator
from time import perf_counter
from typing import Any

from sqlalchemy import event

from .metrics import Counter, Histogram
from .metrics_core import GaugeMetricFamily, Metric
from .registry import REGISTRY, CollectorRegistry

#: SQL verbs kept as the ``operation`` label; any other statement is OTHER.
OPERATIONS = frozenset(
    "SELECT INSERT UPDATE DELETE MERGE UPSERT WITH BEGIN COMMIT ROLLBACK SAVEPOINT RELEASE "
    "CREATE ALTER DROP TRUNCATE GRANT REVOKE SET SHOW EXPLAIN ANALYZE VACUUM COPY CALL LOCK".split()
)
#: Queries from 1 ms to 10 s.
QUERY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Waiting for a pooled connection: none (most) to the pool's 30 s default timeout.
WAIT_BUCKETS = (0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0)


def operation(statement: str) -> str:
    """The statement's first word, upper-cased, when it is a known verb; else OTHER."""
    word = statement.lstrip(" \t\r\n(").split(None, 1)[:1]
    verb = word[0].upper() if word else ""
    return verb if verb in OPERATIONS else "OTHER"


class _Instrumented:
    """One engine: its name and the pool whose ``_do_get`` is wrapped."""

    def __init__(self, metrics: _Metrics, engine: Any, name: str | None) -> None:
        self.metrics, self.engine, self.name = metrics, engine, name
        self.labels = (name,) if name is not None else ()
        self.waiting = 0
        self.lock = threading.Lock()
        self.pool: Any = None
        self.wrap_pool()

    def wrap_pool(self) -> None:
        """Counts the checkouts waiting in the engine's current pool (``dispose()`` makes a new one)."""
        pool = self.engine.pool
        if pool is self.pool or not hasattr(pool, "_do_get"):
            return
        original = pool._do_get
        wait = self.metrics.wait.labels(*self.labels) if self.labels else self.metrics.wait

        def _do_get() -> Any:
            with self.lock:
                self.waiting += 1
            began = perf_counter()
            try:
                return original()
            finally:
                wait.observe(perf_counter() - began)
                with self.lock:
                    self.waiting -= 1

        pool._do_get = _do_get
        self.pool = pool

    def pool_counts(self) -> dict[str, float]:
        self.wrap_pool()
        pool = self.engine.pool

        def read(method: str) -> float:
            function = getattr(pool, method, None)
            return float(function()) if callable(function) else 0.0

        size = read("size")
        max_overflow = getattr(pool, "_max_overflow", 0)
        return {
            "active": read("checkedout"),
            "idle": read("checkedin"),
            "overflow": max(read("overflow"), 0.0),
            "size": size,
            "max": float("inf") if max_overflow < 0 else size + max_overflow,
            "waiting": float(self.waiting),
        }


class _Metrics:
    """The metric set of one (registry, prefix, labelled or not), shared by its engines."""

    GAUGES = {
        "active": "Connections checked out of the pool.",
        "idle": "Connections in the pool, not checked out.",
        "overflow": "Connections open beyond the pool's size.",
        "size": "The pool's size (connections it keeps open).",
        "max": "The most connections the pool opens: its size plus max_overflow.",
        "waiting": "Checkouts waiting for a connection.",
    }

    def __init__(
        self, registry: CollectorRegistry | None, prefix: str, labelled: bool, query_buckets: Iterable[float]
    ) -> None:
        self.prefix = prefix
        self.label_names = ["engine"] if labelled else []
        self.engines: list[_Instrumented] = []
        names = self.label_names
        self.queries = Histogram(
            f"{prefix}_query_duration_seconds",
            "Time the database took to run a statement, by operation.",
            [*names, "operation"],
            buckets=tuple(query_buckets),
            registry=registry,
        )
        self.errors = Counter(
            f"{prefix}_query_errors", "Statements that failed, by operation and error type.",
            [*names, "operation", "error_type"], registry=registry,
        )  # fmt: skip
        self.wait = Histogram(
            f"{prefix}_connection_wait_seconds",
            "Time a checkout took to get a connection from the pool.",
            names,
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        if registry is not None:
            registry.register(self)

    def collect(self) -> Iterator[Metric]:
        counts = [(engine, engine.pool_counts()) for engine in self.engines]
        for key, documentation in self.GAUGES.items():
            name = f"{self.prefix}_pool_size" if key == "size" else f"{self.prefix}_connections_{key}"
            family = GaugeMetricFamily(name, documentation, labels=self.label_names)
            for engine, values in counts:
                family.add_metric(list(engine.labels), values[key])
            yield family

    def describe(self) -> list[Metric]:
        return [
            GaugeMetricFamily(f"{self.prefix}_pool_size" if key == "size" else f"{self.prefix}_connections_{key}", text)
            for key, text in self.GAUGES.items()
        ]


# By registry (weakly: a registry's metric sets go with it), then by (prefix, labelled).
_metric_sets: weakref.WeakKeyDictionary[Any, dict[tuple[str, bool], _Metrics]] = weakref.WeakKeyDictionary()
_unregistered: dict[tuple[str, bool], _Metrics] = {}
_metric_sets_lock = threading.Lock()


def instrument(
    engine: Any,
    *,
    name: str | None = None,
    registry: CollectorRegistry | None = REGISTRY,
    prefix: str = "database",
    query_buckets: Iterable[float] = QUERY_BUCKETS,
) -> Any:
    """Records `engine`'s pool and queries (an ``AsyncEngine``: through its ``sync_engine``).
    `name` adds an ``engine`` label, to tell several engines apart (all instrumented with the
    same registry and prefix then need one); `prefix` replaces ``database`` in every name.
    Returns the engine."""
    sync_engine = getattr(engine, "sync_engine", engine)
    key = (prefix, name is not None)
    with _metric_sets_lock:
        sets = _unregistered if registry is None else _metric_sets.setdefault(registry, {})
        metrics = sets.get(key)
        if metrics is None:
            metrics = sets[key] = _Metrics(registry, prefix, name is not None, query_buckets)
        if any(other.engine is sync_engine for other in metrics.engines):
            raise ValueError("this engine is already instrumented")
        if name is not None and any(other.name == name for other in metrics.engines):
            raise ValueError(f"an engine named {name!r} is already instrumented")
        if name is None and metrics.engines:
            raise ValueError("a second engine needs a name= (the engine label) to be told apart")
        instrumented = _Instrumented(metrics, sync_engine, name)
        metrics.engines.append(instrumented)
    labels = instrumented.labels
    queries, errors = metrics.queries, metrics.errors
    children: dict[str, Any] = {}

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        conn.info.setdefault("obsagent_query_started", []).append(perf_counter())

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        started = conn.info.get("obsagent_query_started")
        if not started:
            return
        seconds = perf_counter() - started.pop()
        verb = operation(statement)
        child = children.get(verb)
        if child is None:
            child = children[verb] = queries.labels(*labels, verb)
        child.observe(seconds)

    @event.listens_for(sync_engine, "handle_error")
    def _error(context: Any) -> None:
        connection = context.connection
        started = connection.info.get("obsagent_query_started") if connection is not None else None
        if started:
            started.pop()
        error = context.original_exception
        # An async driver's error comes wrapped in SQLAlchemy's adapter class: count the driver's.
        if type(error).__module__.startswith("sqlalchemy") and error.__cause__ is not None:
            error = error.__cause__
        errors.labels(*labels, operation(context.statement or ""), type(error).__name__).inc()

    return engine


__all__ = ["OPERATIONS", "instrument", "operation"]
