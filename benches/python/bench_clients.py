#!/usr/bin/env python3
"""obsagent beside prometheus_client, measured in the same run on the same machine.

Method
------
* Both libraries are imported into this one process and measured one after the other on the
  same machine, so the ratio (prometheus_client's figure / obsagent's: "x faster", or for
  memory "x smaller") cancels most of the machine's speed. Each library gets a fresh
  ``CollectorRegistry``; both libraries' ``_created`` series (on by default in both) are
  switched off (``disable_created_metrics()``), so both expose the same
  series.
* Microbenchmarks (rows 1-9; row 6 attaches an exemplar, a W3C trace and span id, to each
  observation, as both libraries keep it: the latest per bucket; row 7 is obsagent's native
  histogram (factor 1.1) against prometheus_client's classic one, which is all it has, and the
  line after the table gives native against classic within obsagent, same run; row 8 is
  obsagent's Summary with three targeted quantiles against prometheus_client's Summary, which
  keeps count and sum only): ``timeit.Timer(stmt,
  globals=...)``, ``autorange()`` to pick the loop count (and warm up), then 7 repeats (3 with
  ``--quick``) whose median is reported in ns per operation. The repeats of the two
  libraries are interleaved (prometheus_client, obsagent, prometheus_client, obsagent, ...)
  so that both see the same noise; this is ``Timer.repeat(7)`` split into single
  ``Timer.timeit()`` calls.
* Batch (row 10): obsagent's ``Histogram.observe_many`` on a numpy float64 array of 1e6 values
  against a Python ``for`` loop calling prometheus_client's ``Histogram.observe`` on the same
  values (prometheus_client has no batch API; the loop runs over ``array.tolist()``, Python
  floats, which is the fastest way to feed it). Reported in ms per batch of 1e6 values, so the
  ratio is also the per-value ratio. Before timing, both histograms are fed the batch once and
  their exposed buckets, count and sum are checked to agree.
* Exposition (rows 11-12): ``generate_latest`` of a registry holding one counter family
  ``http_requests`` with labels ``method`` (5 values) and ``path`` (unique per series), 10k and
  100k series (10k only with ``--quick``). Before timing, both outputs are parsed and checked to
  hold the same number of sample lines, with the same series and values (the two format
  integers differently, ``3.0`` and ``3``, so bytes are not compared). Timed like the
  microbenchmarks (autorange, interleaved repeats, median), reported in ms per call.
* timeit switches the garbage collector off while it times, for both libraries; with it on,
  prometheus_client's exposition (many short-lived Python objects) is slower, so the reported
  ratios are conservative.
* Memory (row 13): each library runs in a fresh subprocess (``--memory LIB``) so that the two
  do not share a heap. The child makes the label strings first (and keeps them), registers the
  counter, runs one warm-up ``labels()`` call, ``gc.collect()``, reads RSS from
  ``/proc/self/statm``, creates 100,000 new series with ``labels(method, path)``,
  ``gc.collect()`` again and reads RSS again: bytes per series = RSS growth / 100,000. The child
  returned by ``labels()`` is dropped, as in ordinary use: obsagent keeps the series in its Rust
  core and makes a child object per call (only the few most recent are cached), while
  prometheus_client keeps every child in its ``_metrics`` dict. The child then checks that all
  the series are exposed.

Targets (ratios) are printed as met or MISSED; missing one does not change the exit status,
speed is reported, not asserted. Python, library versions and the load average at the start
and the end are printed, since this machine may be shared and noisy.

Usage: bench_clients.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import timeit
from dataclasses import asdict, dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

PC, OA = "prometheus_client", "obsagent"
LIBS = (PC, OA)  # the order in which each round runs them
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
MEMORY_SERIES = 100_000
BATCH_VALUES = 1_000_000


@dataclass
class Row:
    operation: str
    unit: str
    values: dict[str, float]  # library -> median
    target: float | None = None  # minimum ratio prometheus_client / obsagent
    samples: dict[str, list[float]] = field(default_factory=dict)  # library -> every repeat
    kind: str = "faster"  # ratio wording: "faster" (time) or "smaller" (memory)

    @property
    def ratio(self) -> float:
        return self.values[PC] / self.values[OA] if self.values[OA] > 0 else math.inf

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.ratio >= self.target


def load(name: str) -> ModuleType:
    lib = importlib.import_module(name)
    lib.disable_created_metrics()
    return lib


def interleaved(stmts: dict[str, Any], namespaces: dict[str, dict], repeats: int, scale: float) -> Row:
    """Median time per statement, ``scale`` units a second; repeats alternate between libraries.

    Returns a Row with only ``values`` and ``samples`` filled in."""
    timers = {name: timeit.Timer(stmts[name], globals=namespaces[name]) for name in LIBS}
    numbers = {name: timers[name].autorange()[0] for name in LIBS}
    samples: dict[str, list[float]] = {name: [] for name in LIBS}
    for _ in range(repeats):
        for name in LIBS:
            samples[name].append(timers[name].timeit(numbers[name]) / numbers[name] * scale)
    return Row("", "", {name: statistics.median(samples[name]) for name in LIBS}, samples=samples)


def exposed(body: bytes) -> dict[str, float]:
    """The sample lines of a text exposition: series -> value."""
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def micro(libs: dict[str, ModuleType], repeats: int) -> list[Row]:
    namespaces = {}
    for name, lib in libs.items():
        registry = lib.CollectorRegistry()
        counter = lib.Counter("plain", "Plain.", registry=registry)
        labeled = lib.Counter("requests", "Requests.", ["method", "path"], registry=registry)
        labeled_histogram = lib.Histogram("latency_seconds", "Latency.", ["method", "path"], registry=registry)
        native = quantiles = None
        if name == OA:  # prometheus_client has neither: its rows run its classic histogram, its summary
            native = lib.Histogram(
                "native_seconds", "Latency.", ["method", "path"], registry=registry, native_histogram_bucket_factor=1.1
            ).labels("GET", "/api")
            objectives = {0.5: 0.05, 0.9: 0.01, 0.99: 0.001}
            quantiles = lib.Summary("quantiles_seconds", "Latency.", ["path"], registry=registry, quantiles=objectives)
            quantiles = quantiles.labels("/api")
        summary = lib.Summary("summary_seconds", "Latency.", ["path"], registry=registry).labels("/api")
        namespaces[name] = {
            "registry": registry,  # keeps everything alive
            "counter": counter,
            "labeled": labeled,
            "child": labeled.labels("GET", "/api"),
            "labeled_histogram": labeled_histogram,
            "hist_child": labeled_histogram.labels("GET", "/api"),
            "native_child": native,
            "summary_child": summary,
            "quantile_child": quantiles,
            "exemplar": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"},
        }
    cases = [
        ("unlabeled Counter.inc()", "counter.inc()", None),
        ("held child: child.inc()", "child.inc()", 6),
        ("c.labels('GET', '/api').inc()", "labeled.labels('GET', '/api').inc()", 8),
        ("c.labels(method=, path=).inc()", "labeled.labels(method='GET', path='/api').inc()", None),
        ("held histogram child: observe(0.123)", "hist_child.observe(0.123)", 10),
        ("held child: observe(0.123, exemplar=)", "hist_child.observe(0.123, exemplar=exemplar)", None),
        ("h.labels('GET', '/api').observe(0.123)", "labeled_histogram.labels('GET', '/api').observe(0.123)", None),
    ]
    rows = []
    for operation, stmt, target in cases:
        row = interleaved({name: stmt for name in LIBS}, namespaces, repeats, 1e9)
        row.operation, row.unit, row.target = operation, "ns/op", target
        rows.append(row)
    native = {PC: "hist_child.observe(0.123)", OA: "native_child.observe(0.123)"}
    row = interleaved(native, namespaces, repeats, 1e9)
    row.operation, row.unit = "held child: NATIVE observe (pc: classic)", "ns/op"
    rows.insert(6, row)
    quantiles = {PC: "summary_child.observe(0.123)", OA: "quantile_child.observe(0.123)"}
    row = interleaved(quantiles, namespaces, repeats, 1e9)
    row.operation, row.unit = "held Summary: observe, QUANTILES (pc: none)", "ns/op"
    rows.insert(7, row)
    return rows


def batch(libs: dict[str, ModuleType], repeats: int) -> Row:
    import numpy as np

    values = np.random.default_rng(1).exponential(0.2, BATCH_VALUES)  # float64
    floats = values.tolist()
    stmts = {PC: "for value in floats:\n    histogram.observe(value)", OA: "histogram.observe_many(values)"}

    # Same work: one batch into a fresh histogram each, then compare what they expose.
    check = {}
    for name, lib in libs.items():
        registry = lib.CollectorRegistry()
        histogram = lib.Histogram("batch_seconds", "Batch.", registry=registry)
        exec(stmts[name], {"histogram": histogram, "values": values, "floats": floats})
        check[name] = exposed(lib.generate_latest(registry))
    assert check[PC].keys() == check[OA].keys(), (sorted(check[PC]), sorted(check[OA]))
    for series, value in check[PC].items():
        assert math.isclose(value, check[OA][series], rel_tol=1e-9), (series, value, check[OA][series])

    namespaces = {}
    for name, lib in libs.items():
        registry = lib.CollectorRegistry()
        histogram = lib.Histogram("batch_seconds", "Batch.", registry=registry)
        namespaces[name] = {"histogram": histogram, "values": values, "floats": floats}
    row = interleaved(stmts, namespaces, repeats, 1e3)
    row.operation, row.unit = "1e6 values: observe_many vs observe loop", "ms"
    return row


def exposition(libs: dict[str, ModuleType], series: int, repeats: int, target: float | None) -> Row:
    namespaces, outputs = {}, {}
    for name, lib in libs.items():
        registry = lib.CollectorRegistry()
        counter = lib.Counter("http_requests", "Requests.", ["method", "path"], registry=registry)
        for i in range(series):
            counter.labels(METHODS[i % len(METHODS)], f"/api/item/{i}").inc(i)
        namespaces[name] = {"registry": registry, "generate_latest": lib.generate_latest}
        outputs[name] = exposed(lib.generate_latest(registry))
    # Fair comparison: the same sample lines on both sides, checked before timing.
    counts = {name: len(out) for name, out in outputs.items()}
    assert counts[PC] == counts[OA] == series, counts
    assert outputs[PC] == outputs[OA], "the two expositions differ"
    row = interleaved({name: "generate_latest(registry)" for name in LIBS}, namespaces, repeats, 1e3)
    row.operation, row.unit, row.target = f"generate_latest, {series:,} series", "ms", target
    return row


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE")


def memory_child(name: str) -> None:
    """In a fresh process: RSS growth per labeled counter series, as JSON on stdout."""
    lib = load(name)
    pairs = [(METHODS[i % len(METHODS)], f"/api/item/{i}") for i in range(MEMORY_SERIES)]  # kept alive
    registry = lib.CollectorRegistry()
    counter = lib.Counter("http_requests", "Requests.", ["method", "path"], registry=registry)
    counter.labels("GET", "/warm-up")  # one-time allocations are not per series
    gc.collect()
    before = rss()
    for method, path in pairs:
        counter.labels(method, path)  # the child is dropped (prometheus_client keeps its own)
    gc.collect()
    after = rss()
    exposed_series = len(exposed(lib.generate_latest(registry)))
    assert exposed_series == MEMORY_SERIES + 1, exposed_series
    json.dump({"rss_before": before, "rss_after": after, "series": MEMORY_SERIES}, sys.stdout)


def memory() -> Row:
    results = {}
    for name in LIBS:
        done = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--memory", name], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"memory subprocess for {name} failed:\n{done.stderr}")
        results[name] = json.loads(done.stdout)
    values = {name: (r["rss_after"] - r["rss_before"]) / r["series"] for name, r in results.items()}
    return Row(
        f"memory per labeled counter series ({MEMORY_SERIES // 1000}k)",
        "B",
        values,
        target=4,
        samples={name: [r["rss_before"], r["rss_after"]] for name, r in results.items()},
        kind="smaller",
    )


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:.1f}" if value >= 10 else f"{value:#.3g}"


def table(rows: list[Row]) -> None:
    width = max(len(row.operation) for row in rows)
    header = f"{'operation':{width}} | {'prometheus_client':>18} | {'obsagent':>14} | {'ratio':>16} | target"
    print(header)
    print("-" * len(header))
    for row in rows:
        pc = f"{fmt(row.values[PC])} {row.unit}"
        oa = f"{fmt(row.values[OA])} {row.unit}"
        ratio = f"{row.ratio:.1f}x {row.kind}"
        verdict = "" if row.target is None else f">= {row.target:g}x {'met' if row.met else 'MISSED'}"
        print(f"{row.operation:{width}} | {pc:>18} | {oa:>14} | {ratio:>16} | {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and 10k series only (a smoke test)")
    parser.add_argument("--json", metavar="PATH", help="also write the results to PATH as JSON")
    parser.add_argument("--memory", choices=LIBS, help=argparse.SUPPRESS)  # the memory subprocess
    args = parser.parse_args()
    if args.memory:
        memory_child(args.memory)
        return

    libs = {name: load(name) for name in LIBS}
    import numpy as np

    versions = {
        "python": platform.python_version(),
        PC: metadata.version("prometheus-client"),
        OA: libs[OA].__version__,
        "numpy": np.__version__,
    }
    load_start = os.getloadavg()
    print(
        f"Python {versions['python']} ({platform.python_implementation()}), prometheus_client {versions[PC]}, "
        f"obsagent {versions[OA]}, numpy {versions['numpy']}; {os.cpu_count()} CPUs"
    )
    print(f"obsagent native module: {libs[OA]._native.__file__}")
    print(f"load average at start: {loadavg()}{'  (--quick: a smoke test, not for reporting)' if args.quick else ''}")
    sys.stdout.flush()

    micro_repeats, batch_repeats, exposition_repeats = (3, 2, 3) if args.quick else (7, 5, 5)
    rows = micro(libs, micro_repeats)
    rows.append(batch(libs, batch_repeats))
    rows.append(exposition(libs, 10_000, exposition_repeats, None))
    if not args.quick:
        rows.append(exposition(libs, 100_000, exposition_repeats, 20))
    rows.append(memory())
    load_end = os.getloadavg()

    print()
    table(rows)
    print()
    targeted = [row for row in rows if row.target is not None]
    met = [row for row in targeted if row.met]
    summary = "; ".join(
        f"{row.operation} {row.ratio:.1f}x (>= {row.target:g}x) {'met' if row.met else 'MISSED'}" for row in targeted
    )
    print(f"Targets met: {len(met)} of {len(targeted)}: {summary}")
    by_name = {row.operation: row for row in rows}
    native_cost = by_name["held child: NATIVE observe (pc: classic)"].values[OA]
    classic_cost = by_name["held histogram child: observe(0.123)"].values[OA]
    verdict = "met" if native_cost <= 1.5 * classic_cost else "MISSED"
    print(f"obsagent native observe / classic observe: {native_cost / classic_cost:.2f}x (goal <= 1.5x) {verdict}")
    if args.quick:
        print("(--quick: the 100k-series target is not measured)")
    print(f"load average at end: {loadavg()}")

    if args.json:
        report = {
            "quick": args.quick,
            "versions": versions,
            "cpus": os.cpu_count(),
            "loadavg_start": load_start,
            "loadavg_end": load_end,
            "rows": [{**asdict(row), "ratio": row.ratio, "met": row.met} for row in rows],
        }
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
