"""Multiprocess mode: every worker process keeps its metrics in its own file in a shared
directory, and one reader serves them all, merged.

Set ``OBSAGENT_MULTIPROC_DIR`` (or prometheus_client's ``PROMETHEUS_MULTIPROC_DIR``) before the
workers start, or call :func:`enable` before creating metrics. Then serve the directory with the
daemon (``obsagent run --multiproc.dir DIR``) or from a worker::

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    generate_latest(registry)

The metric API is unchanged. A forked worker gets its own file (``os.register_at_fork``); an
exited worker's counters, histograms and summaries are kept in the directory's retired totals
and its file is removed, found by the lock each process holds on its file (SIGKILL included).
"""

from __future__ import annotations

import atexit
import os

from . import _native
from ._log import log
from .metrics_core import Metric, native_metrics
from .registry import CollectorRegistry

ENVIRONMENT = ("OBSAGENT_MULTIPROC_DIR", "PROMETHEUS_MULTIPROC_DIR")

__all__ = ["MultiProcessCollector", "directory", "enable", "mark_process_dead"]


def enable(path: str | os.PathLike[str]) -> str:
    """Keeps the values of metrics created from now on in this process's file in ``path``
    (created if missing); returns the file. Raises ``OSError`` naming the directory when it
    can't be written."""
    return str(_native.multiprocess_enable(os.fspath(path)))


def directory() -> str | None:
    """The directory in use, or None when multiprocess mode is off."""
    found = _native.multiprocess_directory()
    return None if found is None else str(found)


def _path_from_environment() -> str | None:
    return next((os.environ[name] for name in ENVIRONMENT if os.environ.get(name)), None)


class MultiProcessCollector:
    """Serves every process's metrics in ``path`` (default: the environment's directory),
    merged; registered in ``registry`` when given, as prometheus_client's."""

    def __init__(self, registry: CollectorRegistry | None, path: str | None = None) -> None:
        path = path or _path_from_environment() or directory()
        if not path or not os.path.isdir(path):
            raise ValueError(f"env PROMETHEUS_MULTIPROC_DIR is not set or not a directory: {path!r}")
        self._native_collector = _native.Collector.multiprocess(path)
        if registry is not None:
            registry.register(self)

    def collect(self) -> list[Metric]:
        """The merged families now."""
        return native_metrics(self._native_collector)


def mark_process_dead(pid: int, path: str | None = None) -> None:
    """prometheus_client's hook for gunicorn's ``child_exit``. Exited processes are found by
    their released file lock anyway; this folds them now rather than at the next scrape."""
    del pid  # every exited process is folded, whichever pid is named
    path = path or _path_from_environment() or directory()
    if path and os.path.isdir(path):
        _native.multiprocess_fold_exited(path)


def _after_fork_in_child() -> None:
    try:
        _native.multiprocess_after_fork_in_child()
    except OSError as err:
        log("warn", "multiprocess mode is off in this process", pid=os.getpid(), error=str(err))


def _enable_from_environment() -> None:
    path = _path_from_environment()
    if path:
        enable(path)
    # Registered first, so it runs last: metrics torn down at exit stay counted (retired).
    atexit.register(_native.multiprocess_at_exit)
    os.register_at_fork(
        before=_native.multiprocess_before_fork,
        after_in_parent=_native.multiprocess_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
