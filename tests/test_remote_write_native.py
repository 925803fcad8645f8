"""Native histograms through remote write (issue 17): with ``send_native_histograms`` each native
histogram series is one ``prompb.Histogram`` sample (decoded here with Prometheus' field numbers,
its buckets checked against client_golang's key formula computed here from math.frexp), its
classic series sent beside it; a real Prometheus 2.42 receiver with native histograms on stores
it: ``histogram_count`` and ``histogram_sum`` exact, ``histogram_quantile(0.5|0.9|0.99)`` within
the schema's relative error of the exact quantile; a histogram stale marker ends it; a
histogram sample replayed from the disk queue by the next writer keeps its time; the daemon's
--remote-write.send-native-histograms sends what it merges from --multiproc.dir."""

from __future__ import annotations

import collections
import json
import math
import os
import random
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from metrics_proto import parse_delimited
from prompb import decode, decode_histograms
from test_remote_write import running_prometheus_receiver

import obsagent
from conftest import (
    bucket_counts,
    exact_quantile,
    free_port,
    native_bucket_key,
    query,
    start_daemon,
    stop_daemon,
    wait_for,
)
from obsagent import _native
from obsagent.remote_write import RemoteWriter

QUANTILES = (0.5, 0.9, 0.99)
ZERO_THRESHOLD = 2.0**-128  # client_golang's default


def test_a_native_histogram_is_sent_as_one_histogram_sample_beside_its_classic_series(registry):
    latency = obsagent.Histogram(
        "rw_native_seconds",
        "Latency.",
        ["path"],
        registry=registry,
        buckets=[0.1, 1.0],
        native_histogram_bucket_factor=1.1,
    )
    path = 'a="b",c\\"d\n'  # a value that text parsed back would split wrongly
    rng = random.Random(3)
    values = [rng.lognormvariate(-1, 0.5) for _ in range(2000)] + [0.0, 0.0, -0.5, -3.0, 1e-40]
    for value in values:
        latency.labels(path).observe(value)

    assert decode_histograms(_native.RemoteWriteEncoder(registry._native).encode(1)) == [], "off by default"
    body = _native.RemoteWriteEncoder(registry._native, [("job", "x")], True).encode(1_700_000_000_123)
    ((labels, (histogram,)),) = decode_histograms(body)
    assert labels == (("__name__", "rw_native_seconds"), ("job", "x"), ("path", path))
    assert histogram.WhichOneof("count") == "count_int" and histogram.count_int == len(values)
    assert histogram.sum == pytest.approx(math.fsum(values), rel=1e-12)
    assert (histogram.schema, histogram.zero_threshold, histogram.timestamp) == (3, ZERO_THRESHOLD, 1_700_000_000_123)
    assert histogram.WhichOneof("zero_count") == "zero_count_int"
    assert histogram.zero_count_int == 3, "0, 0 and 1e-40 are within the zero threshold"
    assert histogram.reset_hint == 0 and not histogram.positive_counts and not histogram.negative_counts
    positive = collections.Counter(native_bucket_key(v, 3) for v in values if v > ZERO_THRESHOLD)
    negative = collections.Counter(native_bucket_key(-v, 3) for v in values if v < -ZERO_THRESHOLD)
    assert bucket_counts(histogram.positive_spans, histogram.positive_deltas) == positive
    assert bucket_counts(histogram.negative_spans, histogram.negative_deltas) == negative

    # The same buckets as the protobuf exposition (client_model's schema) gives them.
    exposed_body, _ = _native.pushgateway_protobuf(registry._native)
    (family,) = [f for f in parse_delimited(exposed_body) if f.name == "rw_native_seconds"]
    exposed = family.metric[0].histogram
    assert [(s.offset, s.length) for s in exposed.positive_span] == [
        (s.offset, s.length) for s in histogram.positive_spans
    ]
    assert list(exposed.positive_delta) == list(histogram.positive_deltas)
    assert list(exposed.negative_delta) == list(histogram.negative_deltas)

    # The classic series go as float samples, as before.
    floats = {dict(labels)["__name__"] + dict(labels).get("le", ""): samples for labels, samples in decode(body)}
    below_tenth = sum(1 for v in values if v <= 0.1)
    assert floats["rw_native_seconds_bucket0.1"] == [(1_700_000_000_123, below_tenth)]
    assert floats["rw_native_seconds_count"] == [(1_700_000_000_123, len(values))]
    assert floats["rw_native_seconds"] == [], "the native series carries a histogram, no float"


def only_value(base: str, expr: str) -> float:
    (result,) = query(base, expr)
    return float(result["value"][1])


def test_prometheus_stores_native_histograms_sent_by_remote_write(tmp_path, registry):
    rng = random.Random(42)
    values = [rng.lognormvariate(-2.5, 1.2) for _ in range(20_000)]
    latency = obsagent.Histogram(
        "rw_latency_seconds", "Latency.", registry=registry, native_histogram_bucket_factor=1.1
    )
    latency.observe_many(values)
    schema = latency._native_histogram_schema
    sizes = obsagent.Histogram(
        "rw_size_bytes", "Sizes.", registry=registry, buckets=[100, 1000], native_histogram_bucket_factor=1.1
    )
    for value in (50, 500, 5000):
        sizes.observe(value)
    obsagent.Histogram("rw_unobserved_seconds", "", registry=registry, native_histogram_bucket_factor=1.1)
    with running_prometheus_receiver(tmp_path, "--enable-feature=native-histograms") as base:
        url = base + "/api/v1/write"
        with RemoteWriter(url, registry=registry, interval=3600) as classic_only:
            assert classic_only.flush(timeout=20)
        assert only_value(base, "rw_size_bytes_count") == 3
        assert query(base, "histogram_count(rw_size_bytes)") == [], "not sent unless asked, as Prometheus"

        with RemoteWriter(url, registry=registry, interval=3600, send_native_histograms=True) as writer:
            assert writer.flush(timeout=20)
            assert self_sent(url) >= 1
            assert only_value(base, "histogram_count(rw_latency_seconds)") == len(values)
            assert only_value(base, "histogram_sum(rw_latency_seconds)") == pytest.approx(math.fsum(values), rel=1e-9)
            error = 2 ** (2**-schema) - 1  # a bucket's upper bound is at most (1 + error) times its lower
            for q in QUANTILES:
                estimate = only_value(base, f"histogram_quantile({q}, rw_latency_seconds)")
                exact = exact_quantile(values, q)
                print(f"q{q}: Prometheus {estimate:.6g}, exact {exact:.6g}, relative error {estimate / exact - 1:+.4f}")
                assert abs(estimate - exact) / exact <= error, (q, estimate, exact, error)
            # Classic buckets alongside are still their own series; the native one too.
            assert only_value(base, 'rw_size_bytes_bucket{le="1000.0"}') == 2
            assert only_value(base, "histogram_count(rw_size_bytes)") == 3
            assert only_value(base, "histogram_sum(rw_size_bytes)") == 5550
            assert only_value(base, "histogram_count(rw_unobserved_seconds)") == 0, "an empty one is stored too"

            registry.unregister(latency)
            assert writer.flush(timeout=20)
            # The histogram stale marker ends the series at once (no 5-minute lookback).
            wait_for(lambda: query(base, "histogram_count(rw_latency_seconds)") == [], timeout=10)
            assert only_value(base, "histogram_count(rw_size_bytes)") == 3


def self_sent(url: str) -> float:
    return obsagent.REGISTRY.get_sample_value("obsagent_remote_write_samples_sent_total", {"url": url}) or 0.0


def query_at(base: str, expr: str, at: float) -> list[dict]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
    with urllib.request.urlopen(url, timeout=5) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_a_histogram_sample_survives_the_disk_queue_across_writers(tmp_path, registry):
    queued = obsagent.Histogram("rw_queued_seconds", "", registry=registry, native_histogram_bucket_factor=1.1)
    for value in (0.25, 0.5, 4.0):
        queued.observe(value)
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v1/write"
    settings = {"interval": 3600, "queue_dir": tmp_path / "queue", "send_native_histograms": True}
    away = RemoteWriter(url, registry=registry, **settings)
    assert not away.flush(timeout=1), "nobody listens yet"
    away.stop(timeout=0)
    written_by = time.time()
    queued.observe(8.0)
    with running_prometheus_receiver(tmp_path, "--enable-feature=native-histograms", port=port) as base:
        with RemoteWriter(url, registry=registry, **settings) as writer:
            assert writer.flush(timeout=20)
        # The first writer's histogram, from the queue on disk, stamped when it was scraped.
        (replayed,) = query_at(base, "histogram_count(rw_queued_seconds)", written_by)
        assert float(replayed["value"][1]) == 3
        assert only_value(base, "histogram_count(rw_queued_seconds)") == 4
        assert only_value(base, "histogram_sum(rw_queued_seconds)") == 12.75


WORKER = """
import sys
from obsagent import Histogram

latency = Histogram("rw_worker_seconds", "Latency.", native_histogram_bucket_factor=1.1)
for value in sys.argv[1:]:
    latency.observe(float(value))
print("observed", flush=True)
sys.stdin.read()  # alive until the test is done
"""


def test_the_daemon_sends_multiprocess_native_histograms_with_its_flag(tmp_path):
    directory = tmp_path / "multiproc"
    directory.mkdir()
    env = {**os.environ, "OBSAGENT_MULTIPROC_DIR": str(directory)}
    workers = [["0.5", "1.5"], ["0.25", "8", "-2"]]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, *values], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for values in workers
    ]
    try:
        for process in processes:  # two live workers, as under gunicorn
            assert process.stdout.readline() == "observed\n"
        check_the_daemon_sends(tmp_path, directory, [float(v) for batch in workers for v in batch])
    finally:
        for process in processes:
            process.communicate(timeout=10)


def check_the_daemon_sends(tmp_path, directory, values: list[float]) -> None:
    with running_prometheus_receiver(tmp_path, "--enable-feature=native-histograms") as base:
        daemon, _ = start_daemon(
            "--collector.disable-defaults",
            "--multiproc.dir",
            str(directory),
            f"--remote-write.url={base}/api/v1/write",
            "--remote-write.interval=200ms",
            "--remote-write.send-native-histograms",
        )
        try:

            def counted() -> list[dict]:
                return query(base, "histogram_count(rw_worker_seconds)")

            wait_for(counted, timeout=20)
            wait_for(lambda: float(counted()[0]["value"][1]) == len(values), timeout=10)
            assert only_value(base, "histogram_sum(rw_worker_seconds)") == math.fsum(values)
            assert only_value(base, "rw_worker_seconds_count") == len(values), "the classic series too"
        finally:
            stop_daemon(daemon)


def test_prometheus_without_native_histograms_refuses_them_which_is_why_they_are_off_by_default(tmp_path, registry):
    obsagent.Histogram("rw_refused_seconds", "", registry=registry, native_histogram_bucket_factor=1.1).observe(1)
    with running_prometheus_receiver(tmp_path) as base:
        url = base + "/api/v1/write"
        with RemoteWriter(url, registry=registry, interval=3600) as default:
            assert default.flush(timeout=20)
        assert only_value(base, "rw_refused_seconds_count") == 1
        sending = RemoteWriter(url + "?native", registry=registry, interval=3600, send_native_histograms=True)
        try:
            # 500 "native histograms are disabled": retried, so nothing after it gets through.
            assert not sending.flush(timeout=1.5)
            assert sending.queued > 0
        finally:
            sending.stop(timeout=0)
