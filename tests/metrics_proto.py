"""Prometheus' exposition messages (`io.prometheus.client` metrics.proto, client_model's schema:
MetricFamily, Metric, Counter, Gauge, Summary, Histogram with its native fields, BucketSpan,
Exemplar) as Python protobuf classes built from a descriptor, as tests/prompb.py does for remote
write: the tests decode obsagent's bytes with the `protobuf` package, no generated code.
`google.protobuf.Timestamp` is declared here under its field layout (seconds 1, nanos 2)."""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.internal.decoder import _DecodeVarint32

_F = descriptor_pb2.FieldDescriptorProto
_P = ".io.prometheus.client."

OPTIONAL, REPEATED = False, True
MESSAGES = {
    "Timestamp": [("seconds", 1, _F.TYPE_INT64, None, OPTIONAL), ("nanos", 2, _F.TYPE_INT32, None, OPTIONAL)],
    "LabelPair": [("name", 1, _F.TYPE_STRING, None, OPTIONAL), ("value", 2, _F.TYPE_STRING, None, OPTIONAL)],
    "Gauge": [("value", 1, _F.TYPE_DOUBLE, None, OPTIONAL)],
    "Counter": [
        ("value", 1, _F.TYPE_DOUBLE, None, OPTIONAL),
        ("exemplar", 2, _F.TYPE_MESSAGE, _P + "Exemplar", OPTIONAL),
        ("created_timestamp", 3, _F.TYPE_MESSAGE, _P + "Timestamp", OPTIONAL),
    ],
    "Quantile": [("quantile", 1, _F.TYPE_DOUBLE, None, OPTIONAL), ("value", 2, _F.TYPE_DOUBLE, None, OPTIONAL)],
    "Summary": [
        ("sample_count", 1, _F.TYPE_UINT64, None, OPTIONAL),
        ("sample_sum", 2, _F.TYPE_DOUBLE, None, OPTIONAL),
        ("quantile", 3, _F.TYPE_MESSAGE, _P + "Quantile", REPEATED),
        ("created_timestamp", 4, _F.TYPE_MESSAGE, _P + "Timestamp", OPTIONAL),
    ],
    "Untyped": [("value", 1, _F.TYPE_DOUBLE, None, OPTIONAL)],
    "Histogram": [
        ("sample_count", 1, _F.TYPE_UINT64, None, OPTIONAL),
        ("sample_count_float", 4, _F.TYPE_DOUBLE, None, OPTIONAL),
        ("sample_sum", 2, _F.TYPE_DOUBLE, None, OPTIONAL),
        ("bucket", 3, _F.TYPE_MESSAGE, _P + "Bucket", REPEATED),
        ("created_timestamp", 15, _F.TYPE_MESSAGE, _P + "Timestamp", OPTIONAL),
        ("schema", 5, _F.TYPE_SINT32, None, OPTIONAL),
        ("zero_threshold", 6, _F.TYPE_DOUBLE, None, OPTIONAL),
        ("zero_count", 7, _F.TYPE_UINT64, None, OPTIONAL),
        ("zero_count_float", 8, _F.TYPE_DOUBLE, None, OPTIONAL),
        ("negative_span", 9, _F.TYPE_MESSAGE, _P + "BucketSpan", REPEATED),
        ("negative_delta", 10, _F.TYPE_SINT64, None, REPEATED),
        ("negative_count", 11, _F.TYPE_DOUBLE, None, REPEATED),
        ("positive_span", 12, _F.TYPE_MESSAGE, _P + "BucketSpan", REPEATED),
        ("positive_delta", 13, _F.TYPE_SINT64, None, REPEATED),
        ("positive_count", 14, _F.TYPE_DOUBLE, None, REPEATED),
        ("exemplars", 16, _F.TYPE_MESSAGE, _P + "Exemplar", REPEATED),
    ],
    "Bucket": [
        ("cumulative_count", 1, _F.TYPE_UINT64, None, OPTIONAL),
        ("cumulative_count_float", 4, _F.TYPE_DOUBLE, None, OPTIONAL),
        ("upper_bound", 2, _F.TYPE_DOUBLE, None, OPTIONAL),
        ("exemplar", 3, _F.TYPE_MESSAGE, _P + "Exemplar", OPTIONAL),
    ],
    "BucketSpan": [("offset", 1, _F.TYPE_SINT32, None, OPTIONAL), ("length", 2, _F.TYPE_UINT32, None, OPTIONAL)],
    "Exemplar": [
        ("label", 1, _F.TYPE_MESSAGE, _P + "LabelPair", REPEATED),
        ("value", 2, _F.TYPE_DOUBLE, None, OPTIONAL),
        ("timestamp", 3, _F.TYPE_MESSAGE, _P + "Timestamp", OPTIONAL),
    ],
    "Metric": [
        ("label", 1, _F.TYPE_MESSAGE, _P + "LabelPair", REPEATED),
        ("gauge", 2, _F.TYPE_MESSAGE, _P + "Gauge", OPTIONAL),
        ("counter", 3, _F.TYPE_MESSAGE, _P + "Counter", OPTIONAL),
        ("summary", 4, _F.TYPE_MESSAGE, _P + "Summary", OPTIONAL),
        ("untyped", 5, _F.TYPE_MESSAGE, _P + "Untyped", OPTIONAL),
        ("histogram", 7, _F.TYPE_MESSAGE, _P + "Histogram", OPTIONAL),
        ("timestamp_ms", 6, _F.TYPE_INT64, None, OPTIONAL),
    ],
    "MetricFamily": [
        ("name", 1, _F.TYPE_STRING, None, OPTIONAL),
        ("help", 2, _F.TYPE_STRING, None, OPTIONAL),
        ("type", 3, _F.TYPE_ENUM, _P + "MetricType", OPTIONAL),
        ("metric", 4, _F.TYPE_MESSAGE, _P + "Metric", REPEATED),
        ("unit", 5, _F.TYPE_STRING, None, OPTIONAL),
    ],
}
#: `MetricType` values.
COUNTER, GAUGE, SUMMARY, UNTYPED, HISTOGRAM, GAUGE_HISTOGRAM = range(6)


def _classes() -> dict[str, type]:
    proto = descriptor_pb2.FileDescriptorProto(
        name="obsagent_tests_metrics.proto", package="io.prometheus.client", syntax="proto2"
    )
    enum = proto.enum_type.add(name="MetricType")
    for number, name in enumerate(["COUNTER", "GAUGE", "SUMMARY", "UNTYPED", "HISTOGRAM", "GAUGE_HISTOGRAM"]):
        enum.value.add(name=name, number=number)
    for name, fields in MESSAGES.items():
        message = proto.message_type.add(name=name)
        for field_name, number, kind, type_name, repeated in fields:
            field = message.field.add(name=field_name, number=number, type=kind)
            field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            if type_name:
                field.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"io.prometheus.client.{name}"))
        for name in MESSAGES
    }


_CLASSES = _classes()
MetricFamily = _CLASSES["MetricFamily"]


def parse_delimited(body: bytes) -> list:
    """The `MetricFamily` messages of a delimited body, each fully consumed."""
    families, at = [], 0
    while at < len(body):
        length, at = _DecodeVarint32(body, at)
        family = MetricFamily()
        assert family.ParseFromString(body[at : at + length]) == length
        families.append(family)
        at += length
    return families
