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
# uuid.uuid4(), without a getrandom system call per request. Request IDs are not secrets.
_random = random.Random()
_bits = _random.getrandbits
_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_4 = (0x4000 << 64) | (0x8000 << 48)
os.register_at_fork(after_in_child=_random.seed)


def new_request_id() -> str:
    """A new random UUID4 (``8-4-4-4-12`` hex digits)."""
    h = "%032x" % (_bits(128) & _CLEAR | _VERSION_4)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
