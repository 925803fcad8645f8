"""The ``Sample`` tuple collectors yield, and the value types around it, as in prometheus_client."""

from __future__ import annotations

from typing import Any, NamedTuple


class Timestamp:
    """A timestamp with nanosecond resolution (seconds and nanoseconds since the epoch)."""

    def __init__(self, sec: float, nsec: float) -> None:
        if nsec < 0 or nsec >= 1e9:
            raise ValueError(f"Invalid value for nanoseconds in Timestamp: {nsec}")
        if sec < 0:
            nsec = -nsec
        self.sec: int = int(sec)
        self.nsec: int = int(nsec)

    def __str__(self) -> str:
        return f"{self.sec}.{self.nsec:09d}"

    def __repr__(self) -> str:
        return f"Timestamp({self.sec}, {self.nsec})"

    def __float__(self) -> float:
        return float(self.sec) + float(self.nsec) / 1e9

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Timestamp) and (self.sec, self.nsec) == (other.sec, other.nsec)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __gt__(self, other: Timestamp) -> bool:
        return (self.sec, self.nsec) > (other.sec, other.nsec)

    def __lt__(self, other: Timestamp) -> bool:
        return (self.sec, self.nsec) < (other.sec, other.nsec)

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value, as upstream


class BucketSpan(NamedTuple):
    """A run of native histogram buckets (experimental in prometheus_client too)."""

    offset: int
    length: int


class Exemplar(NamedTuple):
    """An example observation attached to a sample: trace labels, the value, maybe a time."""

    labels: dict[str, str]
    value: float
    timestamp: float | Timestamp | None = None


class NativeHistogram(NamedTuple):
    """A native histogram sample's value (experimental in prometheus_client too)."""

    count_value: float
    sum_value: float
    schema: int
    zero_threshold: float
    zero_count: float
    pos_spans: Any = None
    neg_spans: Any = None
    pos_deltas: Any = None
    neg_deltas: Any = None
    nh_exemplars: Any = None


class Sample(NamedTuple):
    """One line of exposition: name, labels, value, optional timestamp, exemplar and native
    histogram."""

    name: str
    labels: dict[str, str]
    value: float
    timestamp: float | Timestamp | None = None
    exemplar: Exemplar | None = None
    native_histogram: NativeHistogram | None = None
