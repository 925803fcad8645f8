"""The current request's ID: kept in a ``contextvar`` by the ASGI and WSGI middlewares, so that
it follows the request into asyncio tasks, threads started with ``contextvars.copy_context()``,
Starlette background tasks and Flask views, and put on every log record by ``RequestIdFilter``
(logging) or ``add_request_id`` (structlog)."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import MutableMapping
from contextvars import ContextVar, Token
from typing import Any

#: The header the ID is read from and returned in, unless a middleware is told another.
DEFAULT_HEADER = "X-Request-ID"
#: What log records carry when no request is being answered.
NO_REQUEST = "-"

_current: ContextVar[str | None] = ContextVar("obsagent_request_id", default=None)

# UUID4s from a generator seeded from os.urandom (again in each forked worker): random like
# uuid.uuid4(), without a getrandom system call per request (request IDs are not secrets), made
# 256 at a time from one 32768-bit draw, which costs a request a list pop instead of ~2 us.
_random = random.Random()
_BATCH = 256
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}  # RFC 4122's 10xx
_pool: list[str] = []


def _fill() -> None:
    h = f"{_random.getrandbits(128 * _BATCH):0{32 * _BATCH}x}"
    _pool.extend(
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-"  # the version digit is 4
        f"{_VARIANT[h[i + 16]]}{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * _BATCH, 32)
    )


def _after_fork() -> None:
    _pool.clear()  # a worker must not hand out its parent's IDs
    _random.seed()


os.register_at_fork(after_in_child=_after_fork)


def new_request_id() -> str:
    """A new random UUID4 (``8-4-4-4-12`` hex digits)."""
    try:
        return _pool.pop()
    except IndexError:
        _fill()
        return _pool.pop()


def accepted(given: str | None) -> bool:
    """Whether a caller's ID is kept: at most 200 printable ASCII characters."""
    return bool(given) and len(given) <= 200 and given.isascii() and given.isprintable()  # type: ignore[union-attr]


def get_request_id() -> str | None:
    """The ID of the request being answered in this context, or None outside one."""
    return _current.get()


def set_request_id(request_id: str | None) -> Token[str | None]:
    """Makes `request_id` current (for code answering requests without the middlewares: a queue
    consumer, a test); ``reset_request_id(token)`` restores the one before."""
    return _current.set(request_id)


def reset_request_id(token: Token[str | None]) -> None:
    _current.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts ``record.request_id`` (``-`` outside a request) on every record it sees; lets every
    record through. Add it to a handler (``%(request_id)s`` in its format), or call
    ``install_log_filter()`` for the root logger's handlers."""

    def __init__(self, attribute: str = "request_id") -> None:
        super().__init__()
        self.attribute = attribute

    def filter(self, record: logging.LogRecord) -> bool:
        setattr(record, self.attribute, _current.get() or NO_REQUEST)
        return True


def install_log_filter(logger: logging.Logger | None = None) -> RequestIdFilter:
    """Adds one ``RequestIdFilter`` to each handler of `logger` (the root logger by default) that
    has none yet: records logged anywhere and propagated there carry the ID."""
    log_filter = RequestIdFilter()
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(existing, RequestIdFilter) for existing in handler.filters):
            handler.addFilter(log_filter)
    return log_filter


def add_request_id(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: ``request_id`` in each event logged while a request is answered."""
    request_id = _current.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict
