"""The helpers behind ``time()``, ``count_exceptions()`` and ``track_inprogress()``.

Each works as a context manager and as a decorator (for plain and ``async`` functions); used as
a decorator, every call gets its own timing.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from timeit import default_timer
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def _decorate(func: F, make_context: Callable[[], Any]) -> F:
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with make_context():
                return await func(*args, **kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with make_context():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Timer:
    """Calls ``metric.<callback>(seconds)`` with the time spent in the block."""

    def __init__(self, metric: Any, callback: str) -> None:
        self._metric = metric
        self._callback = callback
        self._start = 0.0

    def labels(self, *args: Any, **kwargs: Any) -> None:
        """Targets the labeled child, for timers created on a labeled parent."""
        self._metric = self._metric.labels(*args, **kwargs)

    def __enter__(self) -> Timer:
        self._start = default_timer()
        return self

    def __exit__(self, *exc_info: object) -> None:
        #: Seconds the block took, readable after it (as prometheus_client's ``Timer.duration``).
        self.duration = max(default_timer() - self._start, 0.0)
        getattr(self._metric, self._callback)(self.duration)

    def __call__(self, func: F) -> F:
        return _decorate(func, lambda: Timer(self._metric, self._callback))


class ExceptionCounter:
    """Increments a counter when the block raises one of ``exception``."""

    def __init__(self, counter: Any, exception: type[BaseException] | tuple[type[BaseException], ...]) -> None:
        self._counter = counter
        self._exception = exception

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: type[BaseException] | None, value: object, traceback: object) -> bool:
        if typ is not None and issubclass(typ, self._exception):
            self._counter.inc()
        return False

    def __call__(self, func: F) -> F:
        return _decorate(func, lambda: self)


class InprogressTracker:
    """Raises a gauge while the block runs and lowers it after."""

    def __init__(self, gauge: Any) -> None:
        self._gauge = gauge

    def __enter__(self) -> None:
        self._gauge.inc()

    def __exit__(self, *exc_info: object) -> None:
        self._gauge.dec()

    def __call__(self, func: F) -> F:
        return _decorate(func, lambda: self)
