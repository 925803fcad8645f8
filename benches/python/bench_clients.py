#!/usr/bin/env python3
"""obsagent beside prometheus_client, measured in the same run on the same machine.

Microbenchmarks use timeit's autorange, then 7 repeats, and report the median ns per
operation; the two libraries alternate so they share the machine's noise. Both use a fresh
CollectorRegistry and expose the same series (prometheus_client's `_created` series are
turned off, as they are by default in obsagent); before timing exposition the two outputs are
checked to hold the same number of samples. Memory per labeled series is the RSS growth of a
fresh subprocess per library creating 100,000 children with `labels(a, b)` (label strings
made beforehand). The ratio is prometheus_client's figure divided by obsagent's.
Usage: bench_clients.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import timeit
from importlib import metadata

import numpy as np
import prometheus_client

import obsagent

LIBS = {"prometheus_client": prometheus_client, "obsagent": obsagent}
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def per_op_ns(stmt: str, namespace: dict, repeats: int) -> float:
    timer = timeit.Timer(stmt, globals=namespace)
    number, _ = timer.autorange()
    return statistics.median(timer.repeat(repeats, number)) / number * 1e9


def micro(repeats: int) -> list[tuple[str, dict[str, float], str, float | None]]:
    namespaces = {}
    for name, lib in LIBS.items():
        registry = lib.CollectorRegistry()
        counter = lib.Counter("plain", "Plain.", registry=registry)
        labeled = lib.Counter("requests", "Requests.", ["method", "path"], registry=registry)
        histogram = lib.Histogram("latency", "Latency.", registry=registry)
        labeled_histogram = lib.Histogram("route_latency", "Latency.", ["method", "path"], registry=registry)
        namespaces[name] = {
            "counter": counter,
            "child": labeled.labels("GET", "/api"),
            "labeled": labeled,
            "hist_child": labeled_histogram.labels("GET", "/api"),
            "histogram": histogram,
            "labeled_histogram": labeled_histogram,
        }
    rows = [
        ("unlabeled Counter.inc()", "counter.inc()", None),
        ("held child inc()", "child.inc()", 6),
        ("labels('GET','/api').inc()", "labeled.labels('GET', '/api').inc()", 8),
        ("labels(method=, path=).inc()", "labeled.labels(method='GET', path='/api').inc()", None),
        ("held histogram observe()", "hist_child.observe(0.123)", 10),
        ("labels(...).observe()", "labeled_histogram.labels('GET', '/api').observe(0.123)", None),
    ]
    results = []
    for label, stmt, target in rows:
        results.append((label, {name: per_op_ns(stmt, namespaces[name], repeats) for name in LIBS}, "ns/op", target))
    return results


def batch() -> tuple[str, dict[str, float], str, None]:
    values = np.random.default_rng(1).exponential(0.2, 1_000_000)
    as_list = values.tolist()
    ours = obsagent.Histogram("batch", "Batch.", registry=obsagent.CollectorRegistry())
    theirs = prometheus_client.Histogram("batch", "Batch.", registry=prometheus_client.CollectorRegistry())
    started = time.perf_counter()
    for value in as_list:
        theirs.observe(value)
    loop = time.perf_counter() - started
    best = min(timeit.repeat(lambda: ours.observe_many(values), number=1, repeat=5))
    return ("1e6 values: observe_many vs loop", {"prometheus_client": loop * 1e3, "obsagent": best * 1e3}, "ms", None)


def exposition(series: int) -> tuple[str, dict[str, float], str, float | None]:
    outputs, times = {}, {}
    for name, lib in LIBS.items():
        registry = lib.CollectorRegistry()
        counter = lib.Counter("http_requests", "Requests.", ["method", "path"], registry=registry)
        for i in range(series):
            counter.labels(METHODS[i % 5], f"/api/item/{i}").inc(i)
        repeats = 3 if name == "prometheus_client" else 7
        render = functools.partial(lib.generate_latest, registry)
        times[name] = min(timeit.repeat(render, number=1, repeat=repeats)) * 1e3
        outputs[name] = lib.generate_latest(registry)
    lines = {name: sum(1 for line in out.splitlines() if not line.startswith(b"#")) for name, out in outputs.items()}
    assert lines["obsagent"] == lines["prometheus_client"] == series, lines
    return (f"generate_latest, {series:,} series", times, "ms", 20 if series >= 100_000 else None)


def memory_child(lib_name: str) -> None:
    """Run in a fresh process: bytes of RSS per labeled counter series."""
    lib = LIBS[lib_name]
    if lib_name == "prometheus_client":
        prometheus_client.disable_created_metrics()
    n = 100_000
    paths = [f"/api/item/{i}" for i in range(n)]
    counter = lib.Counter("requests", "Requests.", ["method", "path"], registry=lib.CollectorRegistry())

    def rss() -> int:
        return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGESIZE")

    gc.collect()
    before = rss()
    for i in range(n):
        counter.labels(METHODS[i % 5], paths[i])
    gc.collect()
    print((rss() - before) / n)


def memory() -> tuple[str, dict[str, float], str, float]:
    per_series = {}
    for name in LIBS:
        out = subprocess.run([sys.executable, __file__, "--memory", name], capture_output=True, text=True, check=True)
        per_series[name] = float(out.stdout)
    return ("memory per labeled counter series", per_series, "B", 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 10k series only")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--memory", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory:
        memory_child(args.memory)
        return
    prometheus_client.disable_created_metrics()
    versions = f"prometheus_client {metadata.version('prometheus-client')}, obsagent {obsagent.__version__}"
    print(f"Python {sys.version.split()[0]}, {versions}; load {os.getloadavg()[0]:.2f}")
    results = micro(3 if args.quick else 7)
    results.append(batch())
    results += [exposition(n) for n in ((10_000,) if args.quick else (10_000, 100_000))]
    results.append(memory())
    print(f"{'operation':40} {'prometheus_client':>18} {'obsagent':>12} {'ratio':>9}  target")
    for label, values, unit, target in results:
        ratio = values["prometheus_client"] / values["obsagent"]
        verdict = "" if target is None else (f">= {target}x met" if ratio >= target else f">= {target}x MISSED")
        print(
            f"{label:40} {values['prometheus_client']:14.1f} {unit:>3} {values['obsagent']:8.1f} {unit:>3} "
            f"{ratio:8.1f}x  {verdict}"
        )
    print(f"load at end {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"operation": r[0], "unit": r[2], **r[1]} for r in results], f, indent=2)


if __name__ == "__main__":
    main()
