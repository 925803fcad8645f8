"""``prometheus_client.decorator``'s ``getargspec``, for code that checks that the functions
``time()``, ``count_exceptions()`` and ``track_inprogress()`` decorate keep their signature."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple


class ArgSpec(NamedTuple):
    """The classic four-part argument spec."""

    args: list[str]
    varargs: str | None
    varkw: str | None
    defaults: tuple[Any, ...] | None


def getargspec(func: Callable[..., Any]) -> ArgSpec:
    """The argument spec of ``func``, looking through the wrappers obsagent's helpers add (they
    keep the wrapped function in ``__wrapped__``)."""
    spec = inspect.getfullargspec(inspect.unwrap(func))
    return ArgSpec(spec.args, spec.varargs, spec.varkw, spec.defaults)
