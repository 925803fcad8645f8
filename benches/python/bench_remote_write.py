#!/usr/bin/env python3
"""Remote write: obsagent's sender beside the same batch encoded with the Python `protobuf` and
`python-snappy` packages, measured in the same run on the same machine.

One registry of labeled counters, gauges and histograms (about 64,000 samples a scrape) is
turned into remote write 1.0 request bodies (a protobuf WriteRequest, snappy block format):
- obsagent, encode: `_native.RemoteWriteEncoder`, the writer's own path without the sending:
  read the registry, encode, compress. At a first scrape every series' labels are parsed,
  sorted and encoded; at the next ones (the steady state) they are looked up by series;
- obsagent, sent: a RemoteWriter flushing to VictoriaMetrics on loopback: collect, encode,
  compress, POST in batches of 2,000 samples and wait for each answer. The receiver runs in
  its own process; its CPU is not counted. Four writers, one after the other: the memory
  queue and the disk queue (`queue_dir`, in the temp dir, fsync after each scrape), each with
  1 shard and with N (`--shards`, fixed: min = max); for the disk queue, the bytes written
  per sample (`disk_queue_written_bytes_total` over the samples);
- reference: the same samples from `registry.collect()` into protobuf messages, serialized
  and compressed with `snappy.compress`; it sends nothing, so it is the cheaper half of the job.
Both bodies are decoded and compared first: they must carry the same WriteRequest.
Native histograms: a second registry, the same one with 2,000 native histogram series (factor
1.1, about 20 populated buckets each) beside the classic ones, encoded with
`send_native_histograms`: each native series is one `Histogram` sample (counted as one sample)
besides its classic `_bucket`/`_count`/`_sum` series. Reported beside the classic run's encode
rate, and the encoding of the native series alone (histograms per second).
Reported: samples per second (wall clock, best of the rounds) and CPU seconds per million
samples (process CPU time, median). The ratio is obsagent's samples/s over the reference's.
Usage: bench_remote_write.py [--rounds R] [--shards N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

# The writer's bodies compared with the reference's carry no `_created` series: both leave them
# out when this is set, read by obsagent and prometheus_client at import.
os.environ.setdefault("PROMETHEUS_DISABLE_CREATED_SERIES", "true")

import snappy  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # noqa: E402
from google.protobuf.internal import api_implementation  # noqa: E402

import obsagent  # noqa: E402
from obsagent import _native  # noqa: E402


def write_request_class() -> type:
    """prompb's WriteRequest, TimeSeries, Label and Sample, built from a descriptor."""
    f = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="bench_prompb.proto", package="prometheus", syntax="proto3")
    for name, fields in {
        "Label": [("name", 1, f.TYPE_STRING, ""), ("value", 2, f.TYPE_STRING, "")],
        "Sample": [("value", 1, f.TYPE_DOUBLE, ""), ("timestamp", 2, f.TYPE_INT64, "")],
        "TimeSeries": [("labels", 1, f.TYPE_MESSAGE, "Label"), ("samples", 2, f.TYPE_MESSAGE, "Sample")],
        "WriteRequest": [("timeseries", 1, f.TYPE_MESSAGE, "TimeSeries")],
    }.items():
        message = proto.message_type.add(name=name)
        for field_name, number, kind, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=kind)
            field.label = f.LABEL_REPEATED if type_name else f.LABEL_OPTIONAL
            if type_name:
                field.type_name = f".prometheus.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


WriteRequest = write_request_class()


def build_registry() -> tuple[obsagent.CollectorRegistry, int]:
    registry = obsagent.CollectorRegistry()
    requests = obsagent.Counter("bench_requests", "Requests.", ["method", "route", "status"], registry=registry)
    for i in range(20_000):
        requests.labels(("GET", "POST")[i % 2], f"/api/v1/items/{i // 10}", str(200 + i % 5)).inc(i)
    temperature = obsagent.Gauge("bench_temperature_celsius", "Temperature.", ["sensor", "rack"], registry=registry)
    for i in range(10_000):
        temperature.labels(f"sensor-{i}", f"rack-{i % 40}").set(20 + i / 1000)
    latency = obsagent.Histogram("bench_latency_seconds", "Latency.", ["route"], registry=registry)
    for i in range(2_000):
        child = latency.labels(f"/api/v1/items/{i}")
        for value in (0.003, 0.04, 0.2, 1.5):
            child.observe(value * (1 + i % 7))
    samples = sum(len(metric.samples) for metric in registry.collect())
    return registry, samples


def add_native_histograms(registry: obsagent.CollectorRegistry) -> tuple[int, int]:
    """Adds 2,000 native histogram series (with only the +Inf classic bucket) of about 20
    populated buckets each: (their float samples a scrape, their histogram samples a scrape)."""
    before = sum(len(metric.samples) for metric in registry.collect())
    latency = obsagent.Histogram(
        "bench_native_seconds", "Latency.", ["route"], registry=registry, native_histogram_bucket_factor=1.1
    )
    for i in range(2_000):
        child = latency.labels(f"/api/v1/items/{i}")
        for j in range(40):
            child.observe(0.003 * 1.2 ** (j % 20) * (1 + i % 7))
    floats = sum(len(metric.samples) for metric in registry.collect()) - before
    return floats, 2_000


def reference_body(registry: obsagent.CollectorRegistry, timestamp_ms: int) -> bytes:
    """What a Python sender would do: collect, sort labels, build messages, serialize, compress."""
    request = WriteRequest()
    for metric in registry.collect():
        for sample in metric.samples:
            series = request.timeseries.add()
            labels = {name: value for name, value in sample.labels.items() if value}
            labels["__name__"] = sample.name
            for name, value in sorted(labels.items()):
                label = series.labels.add()
                label.name, label.value = name, value
            point = series.samples.add()
            point.value, point.timestamp = sample.value, timestamp_ms
    return snappy.compress(request.SerializeToString())


def measure(work, samples: int, rounds: int) -> tuple[float, float]:
    """(samples per second, best round; CPU seconds per million samples, median)."""
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return samples / min(walls), statistics.median(cpus) / samples * 1e6


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_victoria_metrics(data: str) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("victoria-metrics")
    if binary is None:
        sys.exit("victoria-metrics is not installed (make peers)")
    port = free_port()
    command = [binary, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={data}", "-retentionPeriod=100y"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if urllib.request.urlopen(base + "/health", timeout=2).read() == b"OK":
                return process, base
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--shards", type=int, default=4, help="the N of the N-shard rows")
    args = parser.parse_args()
    registry, samples = build_registry()
    timestamp_ms = int(time.time() * 1000)

    ours = _native.RemoteWriteEncoder(registry._native).encode(timestamp_ms)
    theirs = reference_body(registry, timestamp_ms)
    decoded_ours, decoded_theirs = WriteRequest(), WriteRequest()
    decoded_ours.ParseFromString(snappy.uncompress(ours))
    decoded_theirs.ParseFromString(snappy.uncompress(theirs))
    assert decoded_ours == decoded_theirs, "obsagent and the reference must encode the same WriteRequest"
    assert len(decoded_ours.timeseries) == samples

    native_registry = obsagent.CollectorRegistry()
    native_floats, native_histograms = add_native_histograms(native_registry)
    combined, _ = build_registry()
    add_native_histograms(combined)
    native_encoder = _native.RemoteWriteEncoder(native_registry._native, [], True)
    native_body = native_encoder.encode(timestamp_ms)
    native_request = WriteRequest()
    native_request.ParseFromString(snappy.uncompress(native_body))
    assert len(native_request.timeseries) == native_floats + native_histograms
    native_only = measure(lambda: native_encoder.encode(timestamp_ms), native_floats + native_histograms, args.rounds)
    with_native = _native.RemoteWriteEncoder(combined._native, [], True)
    with_native.encode(timestamp_ms)
    with_native_samples = samples + native_floats + native_histograms
    mixed = measure(lambda: with_native.encode(timestamp_ms), with_native_samples, args.rounds)

    cold = measure(lambda: _native.RemoteWriteEncoder(registry._native).encode(timestamp_ms), samples, args.rounds)
    encoder = _native.RemoteWriteEncoder(registry._native)
    encoder.encode(timestamp_ms)
    encode = measure(lambda: encoder.encode(timestamp_ms), samples, args.rounds)
    reference = measure(lambda: reference_body(registry, timestamp_ms), samples, args.rounds)
    data = tempfile.mkdtemp(prefix="obsagent-bench-vm-")
    queues = tempfile.mkdtemp(prefix="obsagent-bench-queue-")
    process, base = start_victoria_metrics(data)
    sent_rows = {}
    disk_bytes = {}
    try:
        for number, (queue, shards) in enumerate([(False, 1), (True, 1), (False, args.shards), (True, args.shards)]):
            # A path of its own per writer, so each has its own `url` label in the self-metrics.
            url = f"{base}/api/v1/write?bench={number}"
            queue_dir = os.path.join(queues, str(number)) if queue else None
            writer = obsagent.RemoteWriter(
                url,
                registry=registry,
                interval=3600,
                max_buffer_samples=10 * samples,
                queue_dir=queue_dir,
                min_shards=shards,
                max_shards=shards,
            )
            assert writer.flush(timeout=60), "warm-up flush"  # series labels cached from here on

            def flush(writer=writer) -> None:
                assert writer.flush(timeout=60)

            receiver_cpu = cpu_seconds(process.pid)
            sent_rows[(queue, shards)] = measure(flush, samples, args.rounds)
            receiver_cpu = (cpu_seconds(process.pid) - receiver_cpu) / (samples * args.rounds) * 1e6
            if queue:
                name = "obsagent_remote_write_disk_queue_written_bytes_total"
                written = obsagent.REGISTRY.get_sample_value(name, {"url": url})
                disk_bytes[shards] = written / (samples * (args.rounds + 1))
            writer.stop()
            failed = obsagent.REGISTRY.get_sample_value("obsagent_remote_write_samples_failed_total", {"url": url})
            assert failed == 0, f"VictoriaMetrics refused {failed} samples"
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(queues, ignore_errors=True)
    sent = sent_rows[(False, 1)]

    print(
        f"{samples:,} samples a scrape, {args.rounds} rounds; body {len(ours) / samples:.1f} bytes/sample "
        f"(reference {len(theirs) / samples:.1f}); protobuf {api_implementation.Type()}; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(f"{'':58} {'samples/s':>12} {'CPU s per 1M samples':>22}")
    rows = [
        ("obsagent: encode + snappy, first scrape", cold),
        ("obsagent: encode + snappy, next scrapes", encode),
        ("obsagent: sent to VictoriaMetrics, memory queue, 1 shard", sent),
        ("obsagent: sent, disk queue (fsync per batch), 1 shard", sent_rows[(True, 1)]),
        (f"obsagent: sent, memory queue, {args.shards} shards", sent_rows[(False, args.shards)]),
        (f"obsagent: sent, disk queue, {args.shards} shards", sent_rows[(True, args.shards)]),
        ("obsagent: encode, next scrapes, 2,000 native histograms", native_only),
        ("obsagent: encode, next scrapes, the registry + them", mixed),
        ("reference (protobuf + snappy packages): encode", reference),
    ]
    for label, (rate, cpu) in rows:
        print(f"{label:58} {rate:12,.0f} {cpu:22.3f}")
    print(
        f"ratio obsagent/reference (samples/s): encode {encode[0] / reference[0]:.1f}x "
        f"(first scrape {cold[0] / reference[0]:.1f}x), "
        f"sent {sent[0] / reference[0]:.1f}x; CPU per sample: {reference[1] / sent[1]:.1f}x less when sent"
    )
    print(
        f"native histograms: {native_histograms:,} Histogram samples + {native_floats:,} classic samples a "
        f"scrape ({len(native_body) / (native_floats + native_histograms):.1f} body bytes/sample); the "
        f"registry with them ({with_native_samples:,} samples) beside without: samples/s "
        f"{mixed[0] / encode[0]:.2f}x, CPU per sample {mixed[1] / encode[1]:.2f}x"
    )
    print(
        f"VictoriaMetrics (same machine, {os.cpu_count()} CPUs) spent {receiver_cpu:.3f} CPU s per 1M samples "
        "receiving them: on a small machine, it bounds the sent rate"
    )
    print(
        f"disk queue: {disk_bytes[1]:.2f} bytes written per sample (1 shard), {disk_bytes[args.shards]:.2f} "
        f"({args.shards} shards); disk queue/memory queue samples/s: 1 shard "
        f"{sent_rows[(True, 1)][0] / sent[0]:.2f}x, {args.shards} shards "
        f"{sent_rows[(True, args.shards)][0] / sent_rows[(False, args.shards)][0]:.2f}x; "
        f"{args.shards} shards/1 shard (memory): {sent_rows[(False, args.shards)][0] / sent[0]:.2f}x"
    )
    one_core = 1 / sent[1] * 1e6
    print(
        f"target: >= 1,000,000 samples/s on one core (sent: {one_core:,.0f} per CPU second) and >= 10x the "
        f"reference (sent: {sent[0] / reference[0]:.1f}x)"
    )


if __name__ == "__main__":
    main()
