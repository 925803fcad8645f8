"""Remote write: obsagent.RemoteWriter against a real Prometheus (--web.enable-remote-write-receiver)
and a real VictoriaMetrics, every sample queried back exact; an outage of the receiver with a
buffer big enough and one too small; statuses (400, 503, 429 + Retry-After) from a tiny local
server, which tests our own behaviour; the daemon's --remote-write flags."""

from __future__ import annotations

import contextlib
import http.server
import json
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prompb import decode

import obsagent
from conftest import OBSAGENT, free_port, peer, start_daemon, stop_daemon, wait_for
from obsagent.config import RemoteWriteSettings

Series = tuple[tuple[str, str], ...]


@contextlib.contextmanager
def running_victoria_metrics(data: Path, port: int | None = None) -> Iterator[str]:
    """VictoriaMetrics on loopback storing in `data`; yields its URL."""
    binary = peer("victoria-metrics")
    port = port or free_port()
    process = subprocess.Popen(
        [
            binary,
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={data}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",  # answer with samples written a moment ago
            "-search.disableCache",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: urllib.request.urlopen(base + "/health", timeout=2).read() == b"OK", timeout=30)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def running_prometheus_receiver(tmp_path: Path, *flags: str, port: int | None = None) -> Iterator[str]:
    """Prometheus receiving remote write, scraping nothing, storing in `tmp_path`, with `flags`
    added; yields its URL."""
    binary = peer("prometheus")
    port = port or free_port()
    config = tmp_path / "receiver.yml"
    config.write_text("global: {}\n")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'receiver-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            *flags,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: urllib.request.urlopen(base + "/-/ready", timeout=2).status == 200, timeout=30)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(params=["prometheus", "victoria-metrics"])
def receiver(request, tmp_path) -> Iterator[str]:
    """A real receiver; yields its base URL (write endpoint: <base>/api/v1/write)."""
    if request.param == "prometheus":
        with running_prometheus_receiver(tmp_path) as base:
            yield base
    else:
        with running_victoria_metrics(tmp_path / "vm") as base:
            yield base


def stored(base: str, selector: str) -> dict[Series, list[tuple[int, float]]]:
    """Every raw sample of `selector` in the last day: sorted labels -> [(timestamp ms, value)]."""
    query = urllib.parse.urlencode({"query": f"{selector}[1d]", "time": f"{time.time() + 1:.3f}"})
    with urllib.request.urlopen(f"{base}/api/v1/query?{query}", timeout=10) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return {
        tuple(sorted(series["metric"].items())): [(round(float(t) * 1000), float(v)) for t, v in series["values"]]
        for series in answer["data"]["result"]
    }


def self_metric(name: str, url: str) -> float:
    return obsagent.REGISTRY.get_sample_value(f"obsagent_remote_write_{name}", {"url": url})


def expected_series(registry: obsagent.CollectorRegistry, **external: str) -> dict[Series, float]:
    """What one scrape of `registry` must store: sorted labels with __name__ -> value."""
    out = {}
    for metric in registry.collect():
        for sample in metric.samples:
            labels = {name: value for name, value in sample.labels.items() if value}
            labels = {**external, **labels, "__name__": sample.name}
            out[tuple(sorted(labels.items()))] = sample.value
    return out


class Imported:
    """A custom collector whose samples carry their own timestamps (the nth collect: value n at
    `base` + n seconds), which must be stored as they are."""

    def __init__(self, base_ms: int) -> None:
        self.base_ms, self.made = base_ms, []

    def collect(self):
        n = len(self.made) + 1
        self.made.append((self.base_ms + 1000 * n, float(n)))
        family = obsagent.GaugeMetricFamily("rw_imported", "Imported with timestamps.", labels=["src"])
        family.add_metric(["batch"], float(n), timestamp=(self.base_ms + 1000 * n) / 1000)
        yield family


def test_every_sample_written_is_queried_back_exactly(receiver, registry):
    requests = obsagent.Counter("rw_requests", "Requests.", ["method", "path"], registry=registry)
    temperature = obsagent.Gauge("rw_temperature_celsius", "Temperature.", registry=registry)
    latency = obsagent.Histogram("rw_latency_seconds", "Latency.", buckets=[0.25, 1, 4], registry=registry)
    payload = obsagent.Summary("rw_payload_bytes", "Payload sizes.", registry=registry)
    obsagent.Info("rw_build", "Build.", registry=registry).info({"version": "1.2.3", "commit": 'a"b\\c'})
    state = obsagent.Enum("rw_state", "State.", states=["up", "down"], registry=registry)
    # Timestamps in whole milliseconds plus a quarter, so that seconds * 1000 is exact in floats.
    imported = Imported(int(time.time()) * 1000 - 120_000 + 250)
    registry.register(imported)

    requests.labels("GET", "/api/é").inc(3)
    requests.labels("POST", "").inc(0.5)  # an empty label value is left out, as Prometheus does
    temperature.set(-12.75)
    for value in (0.125, 0.5, 2, 8):
        latency.observe(value)
    payload.observe(1536)
    url = receiver + "/api/v1/write"
    before = int(time.time() * 1000)
    writer = obsagent.RemoteWriter(url, registry=registry, interval=3600, external_labels={"cluster": "eu-1"})
    try:
        assert writer.flush(timeout=20)
        first = expected_series(registry, cluster="eu-1")
        middle = int(time.time() * 1000)
        requests.labels("GET", "/api/é").inc(1e6)
        # Not 1e300: VictoriaMetrics stores a block's values as integers with one shared
        # decimal exponent, and -12.75 beside 1e300 comes back as 0 there.
        temperature.set(1_234_567.25)
        latency.observe(0.25)
        state.state("down")
        assert writer.flush(timeout=20)
        second = expected_series(registry, cluster="eu-1")
    finally:
        writer.stop()
    after = int(time.time() * 1000)
    del first[(("__name__", "rw_imported"), ("cluster", "eu-1"), ("src", "batch"))]  # checked below
    del second[(("__name__", "rw_imported"), ("cluster", "eu-1"), ("src", "batch"))]

    got = wait_for(lambda: stored(receiver, '{cluster="eu-1"}') or None, timeout=20)
    imported_series = got.pop((("__name__", "rw_imported"), ("cluster", "eu-1"), ("src", "batch")))
    assert set(got) == set(first) == set(second)
    # Three scrapes: two flushes and the last one at stop; one timestamp per scrape.
    scrape_times = {tuple(t for t, _ in points) for points in got.values()}
    assert len(scrape_times) == 1, scrape_times
    times = next(iter(scrape_times))
    # Scrapes within one millisecond get the next one: times only go forward.
    assert len(times) == 3 and before <= times[0] <= middle + 1 <= times[1] + 1 <= times[2] <= after + 2
    for series, points in got.items():
        assert [v for _, v in points] == [first[series]] + [second[series]] * 2, series
    assert got[(("__name__", "rw_latency_seconds_bucket"), ("cluster", "eu-1"), ("le", "1.0"))][-1][1] == 3
    assert (
        got[(("__name__", "rw_requests_total"), ("cluster", "eu-1"), ("method", "GET"), ("path", "/api/é"))][-1][1]
        == 1_000_003
    )
    assert len(imported_series) == 3 and set(imported_series) <= set(imported.made)
    assert self_metric("samples_sent_total", url) == 3 * (len(got) + 1)
    assert self_metric("samples_dropped_total", url) == 0
    assert self_metric("queue_samples", url) == 0
    assert abs(self_metric("last_success_timestamp_seconds", url) - after / 1000) < 5


def gaps(points: list[tuple[int, float]], longer_than_ms: int) -> list[tuple[int, int]]:
    """(last time before, first time after) of each pause between samples over `longer_than_ms`."""
    times = [t for t, _ in points]
    return [(a, b) for a, b in zip(times, times[1:], strict=False) if b - a > longer_than_ms]


def test_an_outage_keeps_what_fits_the_buffer_and_drops_the_oldest_beyond_it(tmp_path, registry):
    counters = [obsagent.Counter(f"rw_outage_{i}", "Keeps moving.", registry=registry) for i in range(10)]
    stop_moving = threading.Event()

    def move() -> None:
        while not stop_moving.wait(0.05):
            for counter in counters:
                counter.inc()

    threading.Thread(target=move, daemon=True).start()
    port, data = free_port(), tmp_path / "vm"
    # VictoriaMetrics takes writes on both paths: one per writer, so each has its own `url`.
    big_url = f"http://127.0.0.1:{port}/api/v1/write"
    small_url = f"http://127.0.0.1:{port}/prometheus/api/v1/write"
    small_buffer = 200  # 20 scrapes of the 10 series; the outage lasts 60 scrapes
    receiver = running_victoria_metrics(data, port)
    base = receiver.__enter__()
    big = obsagent.RemoteWriter(big_url, registry=registry, interval=0.5, external_labels={"writer": "big"})
    small = obsagent.RemoteWriter(
        small_url, registry=registry, interval=0.5, external_labels={"writer": "small"}, max_buffer_samples=small_buffer
    )
    try:
        time.sleep(2)
        receiver.__exit__(None, None, None)
        receiver = None
        outage_start = time.time()
        highest_queue = 0
        while time.time() - outage_start < 30:
            highest_queue = max(highest_queue, small.queued, self_metric("queue_samples", small_url))
            time.sleep(0.25)
        queued_at_end = small.queued
        outage_end = time.time()
        receiver = running_victoria_metrics(data, port)
        receiver.__enter__()
        assert big.flush(timeout=30) and small.flush(timeout=30)
    finally:
        big.stop()
        small.stop()
        stop_moving.set()
        if receiver is not None:
            receiver.__exit__(None, None, None)
        receiver = running_victoria_metrics(data, port)  # to query what was stored
        receiver.__enter__()
    try:
        big_got = stored(base, '{writer="big"}')
        small_got = stored(base, '{writer="small"}')
    finally:
        receiver.__exit__(None, None, None)
    assert len(big_got) == len(small_got) == 10
    # Delivery is at least once: a request the receiver stored but could not answer as it went
    # down is sent again, and VictoriaMetrics (without -dedup.minScrapeInterval) keeps both.
    big_got = {series: sorted(set(points)) for series, points in big_got.items()}
    small_got = {series: sorted(set(points)) for series, points in small_got.items()}
    # The big buffer kept everything: no pause longer than about one interval, outage included.
    for points in big_got.values():
        assert gaps(points, 1000) == [], points
        assert points[0][0] < outage_start * 1000 - 1000 and points[-1][0] > outage_end * 1000
        values = [v for _, v in points]
        assert values == sorted(values), "a counter never goes back"
    big_count = sum(len(points) for points in big_got.values())
    assert self_metric("samples_sent_total", big_url) == big_count
    assert self_metric("samples_dropped_total", big_url) == 0
    # The small one kept only its newest 200 samples of the outage: one pause per series, from
    # the outage's start until about 20 scrapes before delivery resumed; none after it.
    assert highest_queue == queued_at_end == small_buffer, "bounded, and full by the end of the outage"
    for points in small_got.values():
        ((last_before, first_after),) = gaps(points, 1000)
        assert last_before <= outage_start * 1000 + 1000
        assert first_after >= outage_end * 1000 - 11_000
    small_count = sum(len(points) for points in small_got.values())
    dropped = self_metric("samples_dropped_total", small_url)
    # The batch in flight as the receiver went down may be stored without an answer, then be
    # dropped for room while retried: stored, yet counted as dropped, not sent (one scrape: 10).
    assert (
        self_metric("samples_sent_total", small_url) <= small_count <= self_metric("samples_sent_total", small_url) + 10
    )
    assert dropped >= 600 - small_buffer - 20
    # Up to two scrapes apart (the writers scrape at their own moments), plus that one batch.
    assert abs((big_count - small_count) - dropped) <= 30, "what is missing is what was counted as dropped"


@contextlib.contextmanager
def status_server(script: list[tuple[int, dict[str, str], bytes]]) -> Iterator[tuple[str, list[dict]]]:
    """A local receiver answering the `script` in order, then 204; yields its write URL and the
    requests it got ({time, headers, series})."""
    received: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {name.lower(): value for name, value in self.headers.items()}
            received.append({"time": time.monotonic(), "headers": headers, "series": decode(body)})
            status, headers, reason = script.pop(0) if script else (204, {}, b"")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reason)))
            self.end_headers()
            self.wfile.write(reason)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/write", received
    finally:
        server.shutdown()
        server.server_close()


def test_a_400_is_dropped_with_its_reason_and_5xx_and_429_are_retried_honouring_retry_after(registry, capfd):
    counter = obsagent.Counter("rw_status", "Counts.", ["k"], registry=registry)
    counter.labels("b").inc()
    counter.labels("a").inc(2)
    script = [
        (400, {}, b"out of order sample"),
        (503, {}, b"overloaded"),
        (429, {"Retry-After": "1"}, b"slow down"),
    ]
    with status_server(script) as (url, received):
        writer = obsagent.RemoteWriter(url, registry=registry, interval=3600)
        try:
            assert writer.flush(timeout=20)  # 400: dropped
            assert writer.flush(timeout=20)  # 503, 429, then 204
        finally:
            writer.stop(timeout=0)  # no time left: the last scrape is dropped unsent
    assert len(received) == 4
    assert self_metric("samples_failed_total", url) == 2
    assert self_metric("retries_total", url) == 2
    assert self_metric("samples_sent_total", url) == 2
    assert self_metric("samples_dropped_total", url) == 2
    assert received[1]["series"] == received[2]["series"] == received[3]["series"], "the same batch again"
    assert received[0]["series"] != received[1]["series"], "the refused batch did not block the next one"
    assert received[3]["time"] - received[2]["time"] >= 1.0, "Retry-After honoured"
    assert received[2]["time"] - received[1]["time"] < 0.5, "the first retry comes after a short backoff"
    for request in received:
        headers = request["headers"]
        assert headers["content-encoding"] == "snappy"
        assert headers["content-type"] == "application/x-protobuf"
        assert headers["x-prometheus-remote-write-version"] == "0.1.0"
        assert headers["user-agent"].startswith("obsagent/")
    labels = [series for series, _ in received[1]["series"]]
    assert labels == [(("__name__", "rw_status_total"), ("k", "b")), (("__name__", "rw_status_total"), ("k", "a"))]
    log = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    refused = [r for r in log if r["msg"].startswith("remote write: receiver refused")]
    assert refused and refused[0]["status"] == "400" and refused[0]["reason"] == "out of order sample"


def test_bad_writer_settings_are_value_errors(registry):
    with pytest.raises(ValueError, match="http:// or https://"):
        obsagent.RemoteWriter("localhost:9090/api/v1/write", registry=registry)
    with pytest.raises(ValueError, match="interval must be more than 0"):
        obsagent.RemoteWriter("http://127.0.0.1:1/api/v1/write", registry=registry, interval=0)
    with pytest.raises(ValueError, match="Invalid label name"):
        obsagent.RemoteWriter("http://127.0.0.1:1/", registry=registry, external_labels={"not-valid": "x"})
    with pytest.raises(ValueError, match="not both"):
        obsagent.RemoteWriter("http://127.0.0.1:1/", registry=registry, basic_auth=("u", "p"), bearer_token="t")


def test_the_daemon_writes_to_each_url_with_its_flags_and_flushes_on_sigterm(tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    with running_victoria_metrics(tmp_path / "vm") as base, status_server([]) as (local, received):
        process, _ = start_daemon(
            "--collector.disable-defaults",
            "--collector.loadavg",
            f"--remote-write.url={base}/api/v1/write",
            f"--remote-write.url={local}",
            "--remote-write.interval=200ms",
            "--remote-write.external-label=host=db-1",
            "--remote-write.external-label=dc=eu",
            f"--remote-write.bearer-token-file={token}",
        )
        try:
            wait_for(lambda: stored(base, 'node_load1{host="db-1",dc="eu"}'), timeout=20)
            wait_for(lambda: stored(base, '{__name__="obsagent_remote_write_samples_sent_total"}'), timeout=20)
            requests_before_stop = len(received)
            stopped_at = time.time()
        finally:
            records = stop_daemon(process)
        assert process.returncode == 0, records
        assert len(received) > requests_before_stop, "a last scrape sent on SIGTERM"
        last_time = max(t for series, points in received[-1]["series"] for t, _ in points)
        assert last_time >= int(stopped_at * 1000)  # timestamps are whole milliseconds, truncated
    assert {request["headers"]["authorization"] for request in received} == {"Bearer s3cret"}
    names = {dict(series)["__name__"] for request in received for series, _ in request["series"]}
    assert {"node_load1", "node_load5", "obsagent_remote_write_queue_samples"} <= names
    assert all(dict(series)["host"] == "db-1" for request in received for series, _ in request["series"])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--remote-write.external-label=novalue"], "is not name=value"),
        (["--remote-write.url=localhost:9090/api/v1/write"], "http:// or https://"),
        (["--remote-write.url=http://127.0.0.1:1/", "--remote-write.basic-auth-username=u"], "needs both"),
        (["--remote-write.url=http://127.0.0.1:1/", "--remote-write.bearer-token-file=/nonexistent"], "cannot read"),
        (["--remote-write.max-buffer-samples=0"], "0 is not in the range"),
        (["--remote-write.queue-fsync=soon"], "--remote-write.queue-fsync"),
        (
            ["--remote-write.url=http://127.0.0.1:1/", "--remote-write.min-shards=5", "--remote-write.max-shards=2"],
            "min_shards at most max_shards",
        ),
    ],
)
def test_bad_remote_write_flags_are_clear_errors(flags, message):
    result = subprocess.run(
        [*OBSAGENT, *flags, "--web.listen-address=127.0.0.1:0"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_a_native_writer_dropped_unstopped_stops_without_holding_the_gil(registry):
    imported = Imported(int(time.time()) * 1000)
    registry.register(imported)  # a Python collector: the last scrape needs the GIL
    settings = RemoteWriteSettings(url=f"http://127.0.0.1:{free_port()}/", interval=3600.0)
    writer = obsagent._native.RemoteWriter(registry._native, settings)
    del writer  # stops: the last scrape runs while the GIL is released
    assert len(imported.made) == 1
