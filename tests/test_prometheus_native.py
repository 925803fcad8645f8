"""A real Prometheus 2.42 with `--enable-feature=native-histograms` scrapes obsagent over
protobuf (issue 17): `histogram_count` and `histogram_sum` of a native histogram are exact and
`histogram_quantile(0.5|0.9|0.99)` lies within the schema's relative error of the exact
quantile of the observations; in one process, and across 4 gunicorn workers in multiprocess
mode served merged by the daemon."""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import obsagent
from conftest import exact_quantile, free_port, query, running_prometheus, start_daemon, stop_daemon, wait_for

QUANTILES = (0.5, 0.9, 0.99)


def native_prometheus(tmp_path: Path, target_port: int) -> contextlib.AbstractContextManager[str]:
    """Prometheus with native histograms on, scraping 127.0.0.1:<target_port> every second."""
    return running_prometheus(tmp_path, {"obsagent": target_port}, flags=("--enable-feature=native-histograms",))


def check_against_prometheus(base: str, name: str, values: list[float], schema: int) -> dict[str, float]:
    """Waits for a scrape holding every observation, then checks count, sum and quantiles;
    returns what Prometheus answered."""

    def scraped_all() -> bool:
        result = query(base, f"histogram_count({name})")
        return bool(result) and float(result[0]["value"][1]) == len(values)

    wait_for(scraped_all, timeout=60)
    answered = {"count": float(query(base, f"histogram_count({name})")[0]["value"][1])}
    answered["sum"] = float(query(base, f"histogram_sum({name})")[0]["value"][1])
    assert answered["sum"] == pytest.approx(math.fsum(values), rel=1e-9)
    error = 2 ** (2**-schema) - 1  # the widest bucket's upper bound is (1 + error) times its lower
    for q in QUANTILES:
        estimate = float(query(base, f"histogram_quantile({q}, {name})")[0]["value"][1])
        exact = exact_quantile(values, q)
        answered[f"q{q}"] = estimate
        print(f"{name} q{q}: Prometheus {estimate:.6g}, exact {exact:.6g}, relative error {estimate / exact - 1:+.4f}")
        assert abs(estimate - exact) / exact <= error, (q, estimate, exact, error)
    targets = json.load(urllib.request.urlopen(f"{base}/api/v1/targets", timeout=5))["data"]["activeTargets"]
    assert targets[0]["health"] == "up" and targets[0]["lastError"] == ""
    return answered


def test_prometheus_reads_a_native_histogram_over_protobuf(tmp_path, registry):
    rng = random.Random(42)
    values = [rng.lognormvariate(-2.5, 1.2) for _ in range(20_000)]
    latency = obsagent.Histogram(
        "native_latency_seconds", "Latency.", registry=registry, native_histogram_bucket_factor=1.1
    )
    latency.observe_many(values)
    port = free_port()
    server = obsagent.start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        with native_prometheus(tmp_path, port) as base:
            check_against_prometheus(base, "native_latency_seconds", values, latency._native_histogram_schema)
            # Prometheus 2.42 keeps only the native part of a histogram that has one.
            assert query(base, "native_latency_seconds_count") == []
    finally:
        server.stop()


WORKER_APP = """
from urllib.parse import parse_qs

from obsagent import Histogram

LATENCY = Histogram("mp_latency_seconds", "Latency.", native_histogram_bucket_factor=1.1)


def app(environ, start_response):
    for value in parse_qs(environ["QUERY_STRING"])["v"][0].split(","):
        LATENCY.observe(float(value))
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
"""


def test_prometheus_reads_native_histograms_merged_across_gunicorn_workers(tmp_path: Path):
    directory = tmp_path / "multiproc"
    (tmp_path / "served.py").write_text(WORKER_APP)
    app_port = free_port()
    master = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "4", "-b", f"127.0.0.1:{app_port}", "served:app"],
        cwd=tmp_path,
        env={**os.environ, "OBSAGENT_MULTIPROC_DIR": str(directory)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    daemon, daemon_url = start_daemon("--collector.disable-defaults", "--multiproc.dir", str(directory))
    rng = random.Random(7)
    batches = [[round(rng.expovariate(20), 6) for _ in range(50)] for _ in range(400)]
    try:
        url = f"http://127.0.0.1:{app_port}/"

        def send(batch: list[float]) -> set[str]:
            with urllib.request.urlopen(url + "?v=" + ",".join(map(str, batch)), timeout=10) as response:
                assert response.status == 200
            return {path.name for path in directory.glob("p-*.shm")}

        wait_for(lambda: urllib.request.urlopen(url + "?v=0.5", timeout=2).status == 200, timeout=60)
        with ThreadPoolExecutor(8) as pool:
            files = set().union(*pool.map(send, batches))
        values = [0.5] + [value for batch in batches for value in batch]
        assert len(files) >= 4, f"the load reached {len(files)} worker files"
        daemon_port = int(daemon_url.rsplit(":", 1)[1])
        with native_prometheus(tmp_path, daemon_port) as base:
            check_against_prometheus(base, "mp_latency_seconds", values, 3)
    finally:
        master.terminate()
        master.wait(timeout=30)
        stop_daemon(daemon)
