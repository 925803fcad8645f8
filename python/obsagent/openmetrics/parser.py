"""Reading OpenMetrics text (1.0) back into metric families, as
``prometheus_client.openmetrics.parser``: exemplars, ``Timestamp`` s, quoted UTF-8 names and
native histograms, and the same ``ValueError`` s for text that breaks the format's rules. Parsed
by the core (``rust/src/parse/openmetrics.rs``) with the GIL released.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO

from .. import _native
from ..metrics_core import Metric
from ..parser import _families, _parse, _stream

__all__ = ["text_fd_to_metric_families", "text_string_to_metric_families"]


def text_string_to_metric_families(text: str) -> Iterator[Metric]:
    """Parses OpenMetrics text from a string, yielding ``Metric`` s.

    See text_fd_to_metric_families.
    """
    yield from _families(_parse(_native.parse_openmetrics, text))


def text_fd_to_metric_families(fd: TextIO) -> Iterator[Metric]:
    """Parses OpenMetrics text from a file object or an iterable of lines, yielding ``Metric`` s
    as it reads (64 KiB at a time: a family comes once the piece holding the line after it is
    read); raises ``ValueError`` (after the families before the fault) for text that breaks the
    format, ``# EOF`` missing included."""
    yield from _stream(fd, openmetrics=True)
