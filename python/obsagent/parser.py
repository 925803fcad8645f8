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


def _parse(parse: Callable[[str], Any], text: str) -> tuple[list, BaseException | None]:
    """`parse(text)` with the cyclic garbage collector paused: the core makes one object after
    another (none of them garbage, none in a cycle), and a collection every few hundred of them
    would walk all those made before, again and again (half the time of a large parse)."""
    if not gc.isenabled():
        return parse(text)
    gc.disable()
    try:
        return parse(text)
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


def _read(fd: Any) -> str:
    """A file object's text, or the lines of any other iterable of lines joined (each a line,
    as prometheus_client iterates them, its newline optional)."""
    read = getattr(fd, "read", None)
    if read is not None:
        return read()
    return "".join(line if line.endswith("\n") else line + "\n" for line in fd)


def text_string_to_metric_families(text: str) -> Iterator[Metric]:
    """Parses Prometheus text format from a string, yielding ``Metric`` s.

    See text_fd_to_metric_families.
    """
    yield from _families(_parse(_native.parse_text, text))


def text_fd_to_metric_families(fd: TextIO) -> Iterator[Metric]:
    """Parses Prometheus text format from a file object (read whole) or an iterable of lines,
    yielding ``Metric`` s.

    A counter's family is named without ``_total``; a sample whose name its family's TYPE does
    not allow becomes an untyped family of its own.
    """
    yield from _families(_parse(_native.parse_text, _read(fd)))


def parse_labels(labels_string: str, openmetrics: bool = False) -> dict[str, str]:
    """The inside of a label set (``a="1",b="2"``) as a dict; ``ValueError`` if malformed."""
    return _native.parse_labels(labels_string, openmetrics)
