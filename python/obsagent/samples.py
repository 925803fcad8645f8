"""The ``Sample`` tuple collectors yield, as in prometheus_client."""

from __future__ import annotations

from typing import Any, NamedTuple


class Sample(NamedTuple):
    """One line of exposition: name, labels, value, optional timestamp and exemplar."""

    name: str
    labels: dict[str, str]
    value: float
    timestamp: float | None = None
    exemplar: Any = None
