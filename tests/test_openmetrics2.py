"""OpenMetrics 2.0.0 native-histogram text (issues 14 and 17), byte for byte against the real
prometheus_client 0.26: custom collectors' ``NativeHistogram`` samples, and obsagent's own native
``Histogram`` beside a custom collector handing prometheus_client the same values, computed here
from client_golang's bucket formula; 1.0.0 output leaves them out as prometheus_client does; and
our 2.0 text read back by ``obsagent.openmetrics.parser`` gives the same ``NativeHistogram``."""

from __future__ import annotations

import math

import prometheus_client
import prometheus_client.core
import prometheus_client.openmetrics.exposition
import prometheus_client.openmetrics.parser
import pytest

import obsagent
import obsagent.core
import obsagent.openmetrics.exposition
import obsagent.openmetrics.parser
from conftest import native_bucket_key

ALLOWUTF8, UNDERSCORES = "allow-utf-8", "underscores"


def native_value(lib, count=24, total=100, schema=0, threshold=0.001, zero=4, exemplars=None):
    span = lib.core.BucketSpan
    return lib.core.NativeHistogram(
        count, total, schema, threshold, zero, (span(0, 2), span(1, 2)), (span(-3, 1),), (2, 1, -3, 3), (5,), exemplars
    )


def collector_family(lib, name="req_seconds", labels=None, **native):
    """A histogram family with two native series and classic samples beside one of them."""
    family = lib.core.HistogramMetricFamily(name, "Request time.")
    family.add_sample(name, labels or {"path": "/a"}, 0, None, None, native_value(lib, **native))
    family.add_sample(name + "_bucket", {"path": "/a", "le": "1.0"}, 4.0, None, None, None)
    family.add_sample(name + "_bucket", {"path": "/a", "le": "+Inf"}, 24.0, None, None, None)
    family.add_sample(name + "_count", {"path": "/a"}, 24.0, None, None, None)
    family.add_sample(name + "_sum", {"path": "/a"}, 100.0, None, None, None)
    family.add_sample(name, {"path": "/b"}, 0, None, None, native_value(lib, 0, 0.0, 3, 2.938735877055719e-39, 0))
    return family


def registry_of(lib, *families):
    registry = lib.CollectorRegistry()

    class Custom:
        def collect(self):
            return list(families)

    registry.register(Custom())
    return registry


def both(build, version: str, escaping: str = UNDERSCORES) -> tuple[bytes, bytes]:
    theirs = prometheus_client.openmetrics.exposition.generate_latest(
        registry_of(prometheus_client, *build(prometheus_client)), escaping, version
    )
    ours = obsagent.openmetrics.exposition.generate_latest(registry_of(obsagent, *build(obsagent)), escaping, version)
    return theirs, ours


@pytest.mark.parametrize("version", ["2.0.0", "1.0.0"])
@pytest.mark.parametrize("escaping", [UNDERSCORES, ALLOWUTF8])
def test_custom_collector_native_histograms_are_prometheus_clients(version: str, escaping: str) -> None:
    theirs, ours = both(lambda lib: [collector_family(lib)], version, escaping)
    assert ours.decode() == theirs.decode()
    assert (b"{count:24,sum:100,schema:0,zero_threshold:0.001" in ours) is (version == "2.0.0")


def test_utf8_names_ints_floats_and_exemplars_are_prometheus_clients() -> None:
    def build(lib):
        exemplar = lib.core.Exemplar
        exemplars = (exemplar({"trace_id": "a"}, 0.67), exemplar({"trace_id": "b"}, 9.8, 1520879607.789))
        return [
            collector_family(lib, "nh.odd", {"x y": 'q"\\'}, count=24.0, total=1e-05, threshold=1e20),
            collector_family(lib, "nh_ex", exemplars=exemplars),
        ]

    # (Under `dots` and `values` prometheus_client escapes classic sample names too, which obsagent
    # does not: README, "What differs".)
    for escaping in (ALLOWUTF8, UNDERSCORES):
        theirs, ours = both(build, "2.0.0", escaping)
        assert ours.decode() == theirs.decode()
    assert b"{count:24.0,sum:1e-05,schema:0,zero_threshold:1e+20," in ours
    assert b'} # {trace_id="a"} 0.67 # {trace_id="b"} 9.8 1520879607.789\n' in ours


def test_exemplars_where_openmetrics_allows_none_raise_value_error_as_prometheus_client() -> None:
    def build(lib, typ, sample):
        metric = lib.Metric("hh", "help", typ)
        metric.add_sample(sample, {}, 0, None, lib.core.Exemplar({"a": "b"}, 0.5))
        return [metric]

    for typ, sample in (("histogram", "hh_count"), ("untyped", "hh_bucket"), ("gauge", "hh"), ("counter", "hh")):
        for lib, generate in (
            (prometheus_client, prometheus_client.openmetrics.exposition.generate_latest),
            (obsagent, obsagent.openmetrics.exposition.generate_latest),
        ):
            with pytest.raises(ValueError, match="not a histogram bucket or counter"):
                generate(registry_of(lib, *build(lib, typ, sample)))
    # The text format has no exemplars, and writes such a family as prometheus_client does.
    theirs = prometheus_client.generate_latest(registry_of(prometheus_client, *build(prometheus_client, "gauge", "hh")))
    assert obsagent.generate_latest(registry_of(obsagent, *build(obsagent, "gauge", "hh"))) == theirs


def test_native_exemplars_on_a_family_that_allows_none_raise_value_error_as_prometheus_client() -> None:
    def build(lib):
        metric = lib.Metric("nh", "help", "gauge")
        metric.add_sample("nh", {}, 0, None, None, native_value(lib, exemplars=(lib.core.Exemplar({"a": "b"}, 0.5),)))
        return [metric]

    for lib, generate in (
        (prometheus_client, prometheus_client.openmetrics.exposition.generate_latest),
        (obsagent, obsagent.openmetrics.exposition.generate_latest),
    ):
        with pytest.raises(ValueError, match="not a histogram bucket or counter"):
            generate(registry_of(lib, *build(lib)), version="2.0.0")
    theirs, ours = both(build, "1.0.0")  # 1.0.0 leaves the sample out before looking at them
    assert ours == theirs


def spans_and_deltas(counts: dict[int, int]) -> tuple[tuple, tuple]:
    """client_golang's spans: a gap of at most two buckets is filled with empty ones."""
    spans: list[list[int]] = []
    deltas: list[int] = []
    previous, next_key = 0, 0
    for n, key in enumerate(sorted(counts)):
        gap = key - next_key
        if n == 0 or gap > 2:
            spans.append([gap, 0])
        else:
            for _ in range(gap):
                spans[-1][1] += 1
                deltas.append(-previous)
                previous = 0
        spans[-1][1] += 1
        deltas.append(counts[key] - previous)
        previous = counts[key]
        next_key = key + 1
    return tuple(prometheus_client.core.BucketSpan(o, n) for o, n in spans), tuple(deltas)


OBSERVED = {
    "/a": [1.5, 2.0, 3.0, 3.5, 40.0, 41.0, 1000.0, 0.0, -2.5, -9.0],
    "/b": [7.25, 7.5, 100.0],
}
BUCKETS = [1.0, 10.0]


def expected_native(values: list[float], schema: int, lib=prometheus_client):
    positive: dict[int, int] = {}
    negative: dict[int, int] = {}
    for value in values:
        if value != 0:
            side = positive if value > 0 else negative
            key = native_bucket_key(abs(value), schema)
            side[key] = side.get(key, 0) + 1
    pos_spans, pos_deltas = spans_and_deltas(positive)
    neg_spans, neg_deltas = spans_and_deltas(negative)
    return lib.core.NativeHistogram(
        len(values),
        math.fsum(values),
        schema,
        2.938735877055719e-39,
        values.count(0.0),
        pos_spans,
        neg_spans,
        pos_deltas,
        neg_deltas,
    )


def our_histogram(name: str = "latency_seconds", buckets=BUCKETS):
    registry = obsagent.CollectorRegistry()
    kwargs = {"buckets": buckets} if buckets else {}
    histogram = obsagent.Histogram(
        name, "Latency.", ["handler"], registry=registry, native_histogram_bucket_factor=1.1, **kwargs
    )
    for path, values in OBSERVED.items():
        for value in values:
            histogram.labels(path).observe(value)
    return registry, histogram._native_histogram_schema


def their_equivalent(name: str, schema: int, buckets=BUCKETS):
    """A custom collector giving prometheus_client what our native Histogram holds."""
    family = prometheus_client.core.HistogramMetricFamily(name, "Latency.")
    for path, values in OBSERVED.items():
        labels = {"handler": path}
        family.add_sample(name, labels, 0, None, None, expected_native(values, schema))
        bounds = [*buckets, math.inf] if buckets else [math.inf]
        for bound in bounds:
            le = prometheus_client.utils.floatToGoString(bound)
            family.add_sample(name + "_bucket", {**labels, "le": le}, float(sum(v <= bound for v in values)))
        family.add_sample(name + "_count", labels, float(len(values)))
        family.add_sample(name + "_sum", labels, math.fsum(values))
    return registry_of(prometheus_client, family)


@pytest.mark.parametrize("buckets", [BUCKETS, None], ids=["with-classic", "native-only"])
def test_our_native_histogram_is_what_prometheus_client_writes_for_its_values(buckets) -> None:
    registry, schema = our_histogram(buckets=buckets)
    assert schema == 3
    theirs = prometheus_client.openmetrics.exposition.generate_latest(
        their_equivalent("latency_seconds", schema, buckets), version="2.0.0"
    )
    ours = obsagent.openmetrics.exposition.generate_latest(registry, version="2.0.0")
    assert ours.decode() == theirs.decode()
    assert b'latency_seconds{handler="/a"} {count:10,sum:' in ours


def test_our_native_histogram_in_1_0_0_and_text_is_unchanged() -> None:
    """1.0.0 (the default) and the text format show only the classic lines, as before."""
    registry, _ = our_histogram()
    om1 = obsagent.openmetrics.exposition.generate_latest(registry)
    assert om1 == obsagent.openmetrics.exposition.generate_latest(registry, version="1.0.0")
    assert b"{count:" not in om1 and b'latency_seconds_bucket{handler="/a",le="10.0"} 7.0' in om1
    theirs = prometheus_client.openmetrics.exposition.generate_latest(
        their_equivalent("latency_seconds", 3), version="1.0.0"
    )
    assert om1.decode() == theirs.decode()
    assert b"{count:" not in obsagent.generate_latest(registry)


def test_utf8_named_native_histogram_is_quoted_as_prometheus_client() -> None:
    registry, schema = our_histogram("latency.seconds")
    for escaping in (ALLOWUTF8, UNDERSCORES, "dots", "values"):
        theirs = prometheus_client.openmetrics.exposition.generate_latest(
            their_equivalent("latency.seconds", schema), escaping, "2.0.0"
        )
        ours = obsagent.openmetrics.exposition.generate_latest(registry, escaping, "2.0.0")
        assert ours.decode() == theirs.decode(), escaping


def test_negotiation_serves_2_0_0_native_text() -> None:
    registry, _ = our_histogram()
    accept = "application/openmetrics-text; version=2.0.0; escaping=underscores"
    encoder, content_type = obsagent.exposition.choose_encoder(accept)
    assert content_type == "application/openmetrics-text; version=2.0.0; charset=utf-8; escaping=underscores"
    assert b'latency_seconds{handler="/a"} {count:10,' in encoder(registry)
    body, _ = obsagent._scrape.render(registry, accept, None)
    assert body == obsagent.openmetrics.exposition.generate_latest(registry, version="2.0.0")
    encoder, _ = obsagent.exposition.choose_encoder("application/openmetrics-text; version=1.0.0")
    assert b"{count:" not in encoder(registry)


def test_the_native_server_serves_2_0_0_native_text() -> None:
    import urllib.request

    registry, _ = our_histogram()
    server, thread = obsagent.start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/metrics",
            headers={"Accept": "application/openmetrics-text; version=2.0.0"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
            assert "version=2.0.0" in response.headers["Content-Type"]
    finally:
        server.shutdown()
    assert body == obsagent.openmetrics.exposition.generate_latest(registry, version="2.0.0")


def test_our_2_0_0_text_reads_back_as_the_same_native_histogram() -> None:
    registry, schema = our_histogram()
    text = obsagent.openmetrics.exposition.generate_latest(registry, version="2.0.0").decode()
    (family,) = obsagent.openmetrics.parser.text_string_to_metric_families(text)
    natives = {s.labels["handler"]: s.native_histogram for s in family.samples if s.native_histogram}
    # The observations above are all at least 1 in magnitude, so their span offsets are not
    # negative, which is all prometheus_client's parser reads (see below).
    for path, values in OBSERVED.items():
        expected = expected_native(values, schema, obsagent)
        got = natives[path]
        assert got.count_value == expected.count_value and got.sum_value == expected.sum_value
        assert (got.schema, got.zero_threshold, got.zero_count) == (schema, 2.938735877055719e-39, expected.zero_count)
        assert tuple(got.pos_spans) == tuple(expected.pos_spans) and tuple(got.pos_deltas) == expected.pos_deltas
        assert tuple(got.neg_spans or ()) == tuple(expected.neg_spans) and tuple(got.neg_deltas or ()) == (
            expected.neg_deltas
        )
    # prometheus_client's own parser reads our text the same way.
    (theirs,) = prometheus_client.openmetrics.parser.text_string_to_metric_families(text)
    assert [s.native_histogram for s in theirs.samples if s.native_histogram] == [
        s.native_histogram for s in family.samples if s.native_histogram
    ]


def test_spans_below_one_read_back_where_prometheus_clients_parser_drops_them() -> None:
    """Observations under 1 make a first span with a negative offset; our parser reads it, and
    prometheus_client's (whose pattern takes only digits) leaves the spans out (README)."""
    registry = obsagent.CollectorRegistry()
    histogram = obsagent.Histogram("rtt_seconds", "RTT.", registry=registry, native_histogram_bucket_factor=1.1)
    values = [0.003, 0.004, 0.02, 0.5, 2.0]
    for value in values:
        histogram.observe(value)
    expected = expected_native(values, histogram._native_histogram_schema, obsagent)
    assert expected.pos_spans[0].offset < 0
    text = obsagent.openmetrics.exposition.generate_latest(registry, version="2.0.0").decode()
    (ours,) = obsagent.openmetrics.parser.text_string_to_metric_families(text)
    (read,) = [s.native_histogram for s in ours.samples if s.native_histogram]
    assert tuple(read.pos_spans) == tuple(expected.pos_spans) and tuple(read.pos_deltas) == expected.pos_deltas
    (theirs,) = prometheus_client.openmetrics.parser.text_string_to_metric_families(text)
    (dropped,) = [s.native_histogram for s in theirs.samples if s.native_histogram]
    assert dropped.pos_spans is None and tuple(dropped.pos_deltas) == expected.pos_deltas


def test_custom_collector_timestamps_are_written_as_prometheus_client_writes_them() -> None:
    """OpenMetrics writes a sample's timestamp with ``str()``: an int without a point, a
    ``Timestamp`` with its nine digits; the text format writes milliseconds either way."""

    def build(lib):
        metric = lib.Metric("ts", "help", "unknown")
        stamps = (123.456, -123.456, 123, 1700000000, lib.core.Timestamp(123, 456000), lib.core.Timestamp(-5, 7))
        for i, stamp in enumerate(stamps):
            metric.add_sample("ts", {"i": str(i)}, 0, stamp)
        return [metric]

    for version in ("1.0.0", "2.0.0"):
        theirs, ours = both(build, version)
        assert ours.decode() == theirs.decode()
    assert b'ts{i="4"} 0.0 123.000456000\n' in ours and b'ts{i="2"} 0.0 123\n' in ours
    theirs = prometheus_client.generate_latest(registry_of(prometheus_client, *build(prometheus_client)))
    assert obsagent.generate_latest(registry_of(obsagent, *build(obsagent))) == theirs


MULTIPROCESS_SCRIPT = """
import os
from obsagent import CollectorRegistry, Histogram
from obsagent.multiprocess import MultiProcessCollector
from obsagent.openmetrics.exposition import generate_latest

h = Histogram("merged_seconds", "Merged.", ["handler"], native_histogram_bucket_factor=1.1)
children = []
for values in ([1.5, 2.0, 3.0], [3.5, 40.0, 0.0], [41.0, -2.5, -9.0]):
    pid = os.fork()
    if pid == 0:
        for value in values:
            h.labels("/a").observe(value)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
h.labels("/a").observe(1000.0)  # this process, alive
registry = CollectorRegistry()
MultiProcessCollector(registry)
print(generate_latest(registry, version="2.0.0").decode(), end="")
"""


def test_multiprocess_native_histograms_are_merged_into_the_2_0_0_text(tmp_path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "OBSAGENT_MULTIPROC_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    families = prometheus_client.openmetrics.parser.text_string_to_metric_families(result.stdout)
    (family,) = [f for f in families if f.name == "merged_seconds"]
    (native,) = [s.native_histogram for s in family.samples if s.native_histogram]
    assert native == expected_native(OBSERVED["/a"], 3)


def test_native_floats_are_python_repr_for_any_float() -> None:
    """The struct's floats are Python's ``repr``, checked on floats of every magnitude."""
    import random
    import struct

    rng = random.Random(5)
    floats = [struct.unpack("<d", rng.randbytes(8))[0] for _ in range(400)]
    floats += [rng.uniform(-1e6, 1e6) for _ in range(200)] + [10.0**e for e in range(-20, 25)]
    floats += [0.0, -0.0, 1e16, 9999999999999998.0, 0.0001, 0.00009999, math.inf, -math.inf, math.nan]

    def build(lib):
        family = lib.core.HistogramMetricFamily("f", "Floats.")
        for i, value in enumerate(floats):
            native = lib.core.NativeHistogram(i, value, 0, -value, 0)
            family.add_sample("f", {"i": str(i)}, 0, None, None, native)
        return [family]

    theirs, ours = both(build, "2.0.0")
    assert ours.decode() == theirs.decode()


def test_the_wsgi_and_asgi_apps_serve_2_0_0_native_text() -> None:
    import asyncio

    registry, _ = our_histogram()
    expected = obsagent.openmetrics.exposition.generate_latest(registry, version="2.0.0")
    accept = "application/openmetrics-text; version=2.0.0; escaping=allow-utf-8"
    started = {}

    def start_response(status, headers):
        started.update(status=status, headers=dict(headers))

    wsgi = obsagent.make_wsgi_app(registry)
    body = b"".join(wsgi({"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_ACCEPT": accept}, start_response))
    assert body == expected and "version=2.0.0" in started["headers"]["Content-Type"]

    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    headers = [(b"accept", accept.encode())]
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": headers}
    asyncio.run(obsagent.make_asgi_app(registry)(scope, receive, send))
    assert b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body") == expected


def test_any_field_value_is_written_with_str_and_bad_spans_raise_as_in_prometheus_client() -> None:
    import enum
    from decimal import Decimal

    class Level(enum.IntEnum):
        HIGH = 3

    odd = [None, True, Level.HIGH, 2**70, Decimal("1.50"), "7", -0.0]

    def build(lib):
        family = lib.core.HistogramMetricFamily("odd", "Odd.")
        for i, value in enumerate(odd):
            span = lib.core.BucketSpan(value, 1)
            native = lib.core.NativeHistogram(value, value, value, value, value, (span,), None, (value,), None)
            family.add_sample("odd", {"i": str(i)}, 0, None, None, native)
        return [family]

    theirs, ours = both(build, "2.0.0")
    assert ours.decode() == theirs.decode()
    assert b"{count:None,sum:None," in ours and b"{count:1180591620717411303424," in ours

    def bad(lib, **fields):
        family = lib.core.HistogramMetricFamily("bad", "Bad.")
        native = {"pos_spans": (lib.core.BucketSpan(0, 1),), "pos_deltas": (1,), **fields}
        family.add_sample("bad", {}, 0, None, None, lib.core.NativeHistogram(1, 1, 0, 0.0, 0, **native))
        return [family]

    for fields, error in (
        ({"pos_deltas": None}, TypeError),
        ({"pos_spans": [(0,)]}, IndexError),
        ({"neg_spans": 5}, TypeError),
    ):
        for lib, generate in (
            (prometheus_client, prometheus_client.openmetrics.exposition.generate_latest),
            (obsagent, obsagent.openmetrics.exposition.generate_latest),
        ):
            with pytest.raises(error):
                generate(registry_of(lib, *bad(lib, **fields)), version="2.0.0")
        # Only 2.0.0 writes the value: 1.0.0 and the text format serve the rest, as upstream.
        theirs, ours = both(lambda lib, fields=fields: bad(lib, **fields), "1.0.0")
        assert ours == theirs
        text = [lib.generate_latest(registry_of(lib, *bad(lib, **fields))) for lib in (prometheus_client, obsagent)]
        assert text[0] == text[1]
