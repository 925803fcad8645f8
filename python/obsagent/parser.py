"""Reading the Prometheus text format (0.0.4) back into metric families, as
``prometheus_client.parser``: the same families, samples and ``ValueError`` s, parsed by the
core (``rust/src/parse/text.rs``) with the GIL released.

Like prometheus_client's, this parser is laxer than Prometheus' own: text it accepts need not
meet the specification.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from . import _native
from .metrics_core import Metric

__all__ = ["parse_labels", "text_fd_to_metric_families", "text_string_to_metric_families"]


def _parse(parse: Callable[..., Any], *text: str) -> tuple[list, BaseException | None]:
    """`parse(*text)` with the cyclic garbage collector paused: the core makes one object after
    another (none of them garbage, none in a cycle), and a collection every few hundred of them
    would walk all those made before, again and again (half the time of a large parse)."""
    if not gc.isenabled():
        return parse(*text)
    gc.disable()
    try:
        return parse(*text)
    finally:
        gc.enable()


def _families(parsed: tuple[list, BaseException | None]) -> Iterator[Metric]:
    """Yields the parsed families, then raises what stopped the parse, where prometheus_client's
    generator raises it."""
    families, error = parsed
    for name, documentation, typ, unit, samples in families:
        metric = Metric(name, documentation, typ, unit)
        metric.samples = samples
        yield metric
    if error is not None:
        raise error


_PIECE = 65536
"""Characters read from a file object at a time (and lines of an iterable gathered)."""


def _pieces(fd: Any) -> Iterator[str]:
    """A file object's text in pieces of `_PIECE` characters, or the lines of any other iterable
    of lines gathered into pieces about as long (each a line, as prometheus_client iterates
    them, its newline optional)."""
    read = getattr(fd, "read", None)
    if read is not None:
        while piece := read(_PIECE):
            yield piece
        return
    lines: list[str] = []
    size = 0
    for line in fd:
        if not line.endswith("\n"):
            line += "\n"
        lines.append(line)
        size += len(line)
        if size >= _PIECE:
            yield "".join(lines)
            lines, size = [], 0
    if lines:
        yield "".join(lines)


def _stream(fd: Any, openmetrics: bool) -> Iterator[Metric]:
    """Families of a text read from `fd` in pieces, each yielded once the line after it is read
    (memory held: a piece and the family being read), then the error where one stops the parse."""
    parser = _native.StreamParser(openmetrics)
    for piece in _pieces(fd):
        families, error = _parse(parser.feed, piece)
        yield from _families((families, error))
        if error is not None:
            return
    yield from _families(_parse(parser.finish))


def text_string_to_metric_families(text: str) -> Iterator[Metric]:
    """Parses Prometheus text format from a string, yielding ``Metric`` s.

    See text_fd_to_metric_families.
    """
    yield from _families(_parse(_native.parse_text, text))


def text_fd_to_metric_families(fd: TextIO) -> Iterator[Metric]:
    """Parses Prometheus text format from a file object or an iterable of lines, yielding
    ``Metric`` s as it reads (64 KiB at a time: a family comes once the piece holding the line
    after it is read).

    A counter's family is named without ``_total``; a sample whose name its family's TYPE does
    not allow becomes an untyped family of its own.
    """
    yield from _stream(fd, openmetrics=False)


def parse_labels(labels_string: str, openmetrics: bool = False) -> dict[str, str]:
    """The inside of a label set (``a="1",b="2"``) as a dict; ``ValueError`` if malformed."""
    return _native.parse_labels(labels_string, openmetrics)
