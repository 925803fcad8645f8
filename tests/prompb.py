"""Prometheus' remote write 1.0 messages (prompb: WriteRequest, TimeSeries, Label, Sample) as
Python protobuf classes built from a descriptor, so tests need no generated code."""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _message_classes() -> dict[str, type]:
    proto = descriptor_pb2.FileDescriptorProto(
        name="obsagent_tests_prompb.proto", package="prometheus", syntax="proto3"
    )
    fields = {
        "Label": [("name", 1, _F.TYPE_STRING, None, False), ("value", 2, _F.TYPE_STRING, None, False)],
        "Sample": [("value", 1, _F.TYPE_DOUBLE, None, False), ("timestamp", 2, _F.TYPE_INT64, None, False)],
        "TimeSeries": [
            ("labels", 1, _F.TYPE_MESSAGE, ".prometheus.Label", True),
            ("samples", 2, _F.TYPE_MESSAGE, ".prometheus.Sample", True),
        ],
        "WriteRequest": [("timeseries", 1, _F.TYPE_MESSAGE, ".prometheus.TimeSeries", True)],
    }
    for name, message_fields in fields.items():
        message = proto.message_type.add(name=name)
        for field_name, number, kind, type_name, repeated in message_fields:
            field = message.field.add(name=field_name, number=number, type=kind)
            field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            if type_name:
                field.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}")) for name in fields}


_CLASSES = _message_classes()
WriteRequest = _CLASSES["WriteRequest"]
TimeSeries = _CLASSES["TimeSeries"]


def decode(body: bytes) -> list[tuple[tuple[tuple[str, str], ...], list[tuple[int, float]]]]:
    """A snappy-compressed WriteRequest as [(labels in order, [(timestamp ms, value)])]."""
    import snappy

    request = WriteRequest()
    request.ParseFromString(snappy.uncompress(body))
    return [
        (tuple((label.name, label.value) for label in series.labels), [(s.timestamp, s.value) for s in series.samples])
        for series in request.timeseries
    ]
