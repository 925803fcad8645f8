"""Prometheus' remote write 1.0 messages (prompb's `types.proto` and `remote.proto`:
WriteRequest, TimeSeries, Label, Sample, Histogram, BucketSpan) as Python protobuf classes built
from a descriptor, so tests need no generated code. Field numbers as in Prometheus'
`prompb/types.proto`; `Histogram.count` and `zero_count` are `oneof`s there (an integer or a
float histogram), declared here as two oneofs of the same fields."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto

#: name -> [(field, number, type, message type, repeated, oneof index)]
_MESSAGES: dict[str, list[tuple[str, int, int, str | None, bool, int | None]]] = {
    "Label": [("name", 1, _F.TYPE_STRING, None, False, None), ("value", 2, _F.TYPE_STRING, None, False, None)],
    "Sample": [
        ("value", 1, _F.TYPE_DOUBLE, None, False, None),
        ("timestamp", 2, _F.TYPE_INT64, None, False, None),
    ],
    "BucketSpan": [
        ("offset", 1, _F.TYPE_SINT32, None, False, None),
        ("length", 2, _F.TYPE_UINT32, None, False, None),
    ],
    "Histogram": [
        ("count_int", 1, _F.TYPE_UINT64, None, False, 0),
        ("count_float", 2, _F.TYPE_DOUBLE, None, False, 0),
        ("sum", 3, _F.TYPE_DOUBLE, None, False, None),
        ("schema", 4, _F.TYPE_SINT32, None, False, None),
        ("zero_threshold", 5, _F.TYPE_DOUBLE, None, False, None),
        ("zero_count_int", 6, _F.TYPE_UINT64, None, False, 1),
        ("zero_count_float", 7, _F.TYPE_DOUBLE, None, False, 1),
        ("negative_spans", 8, _F.TYPE_MESSAGE, ".prometheus.BucketSpan", True, None),
        ("negative_deltas", 9, _F.TYPE_SINT64, None, True, None),
        ("negative_counts", 10, _F.TYPE_DOUBLE, None, True, None),
        ("positive_spans", 11, _F.TYPE_MESSAGE, ".prometheus.BucketSpan", True, None),
        ("positive_deltas", 12, _F.TYPE_SINT64, None, True, None),
        ("positive_counts", 13, _F.TYPE_DOUBLE, None, True, None),
        ("reset_hint", 14, _F.TYPE_INT32, None, False, None),  # an enum there: UNKNOWN 0, YES, NO, GAUGE
        ("timestamp", 15, _F.TYPE_INT64, None, False, None),
    ],
    "TimeSeries": [
        ("labels", 1, _F.TYPE_MESSAGE, ".prometheus.Label", True, None),
        ("samples", 2, _F.TYPE_MESSAGE, ".prometheus.Sample", True, None),
        ("histograms", 4, _F.TYPE_MESSAGE, ".prometheus.Histogram", True, None),
    ],
    "WriteRequest": [("timeseries", 1, _F.TYPE_MESSAGE, ".prometheus.TimeSeries", True, None)],
}
_ONEOFS = {"Histogram": ["count", "zero_count"]}


def _message_classes() -> dict[str, type]:
    proto = descriptor_pb2.FileDescriptorProto(
        name="obsagent_tests_prompb.proto", package="prometheus", syntax="proto3"
    )
    for name, message_fields in _MESSAGES.items():
        message = proto.message_type.add(name=name)
        for oneof in _ONEOFS.get(name, []):
            message.oneof_decl.add(name=oneof)
        for field_name, number, kind, type_name, repeated, oneof_index in message_fields:
            field = message.field.add(name=field_name, number=number, type=kind)
            field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            if type_name:
                field.type_name = type_name
            if oneof_index is not None:
                field.oneof_index = oneof_index
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}")) for name in _MESSAGES
    }


_CLASSES = _message_classes()
WriteRequest = _CLASSES["WriteRequest"]
TimeSeries = _CLASSES["TimeSeries"]
Histogram = _CLASSES["Histogram"]


def parse(body: bytes) -> Any:
    """A snappy-compressed WriteRequest, parsed."""
    import snappy

    request = WriteRequest()
    request.ParseFromString(snappy.uncompress(body))
    return request


def decode(body: bytes) -> list[tuple[tuple[tuple[str, str], ...], list[tuple[int, float]]]]:
    """A snappy-compressed WriteRequest as [(labels in order, [(timestamp ms, value)])]."""
    return [
        (tuple((label.name, label.value) for label in series.labels), [(s.timestamp, s.value) for s in series.samples])
        for series in parse(body).timeseries
    ]


def decode_histograms(body: bytes) -> list[tuple[tuple[tuple[str, str], ...], list[Any]]]:
    """The series of a snappy-compressed WriteRequest that carry histograms: [(labels, [Histogram])]."""
    return [
        (tuple((label.name, label.value) for label in series.labels), list(series.histograms))
        for series in parse(body).timeseries
        if series.histograms
    ]
