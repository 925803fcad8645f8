#!/usr/bin/env python3
"""Multiprocess mode: obsagent beside prometheus_client's, measured in the same run.

Method
------
* Updates: ``child.inc()`` and ``child.observe(0.3)`` on a child held in a variable, timed with
  ``timeit`` (autorange, then 5 repeats, median) in a fresh process per library and mode, since
  both multiprocess modes are chosen at import: prometheus_client with
  ``PROMETHEUS_MULTIPROC_DIR``, obsagent with ``OBSAGENT_MULTIPROC_DIR``, and obsagent without
  (single process). Three rounds, the libraries interleaved within each; the median of the
  rounds is reported, in ns per update.
* Scrapes: P worker processes (4, 16, 64), forked by a driver, each create the same 1,000
  counter series and wait. The driver then times ``generate_latest`` of a registry holding only
  the library's ``MultiProcessCollector``: one untimed scrape first, then the median of 5
  (ms per scrape). Both expositions are checked to hold the same totals.
* Churn: with 16 live workers x 1,000 series, the scrape is timed, then 1,000 more workers are
  forked one after another, each creating the same 1,000 series, counting, and exiting (the
  reader scrapes every 100 of them, as a Prometheus would), and the scrape is timed again.
  prometheus_client keeps every exited worker's file, so it is shown too.

Speed is reported, not asserted: targets print as met or MISSED.

Usage: bench_multiprocess.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

LIBS = {
    "prometheus_client (multiprocess)": ("prometheus_client", "PROMETHEUS_MULTIPROC_DIR"),
    "obsagent (multiprocess)": ("obsagent", "OBSAGENT_MULTIPROC_DIR"),
    "obsagent (single process)": ("obsagent", None),
}

UPDATE = """
import json, statistics, timeit
from {lib} import Counter, Histogram
child = Counter("c", "c", ["k"]).labels("x")
histogram = Histogram("h", "h", ["k"]).labels("x")
out = {{}}
for name, stmt in (("inc", child.inc), ("observe", lambda: histogram.observe(0.3))):
    timer = timeit.Timer(stmt)
    loops, _ = timer.autorange()
    out[name] = statistics.median(timer.timeit(loops) / loops * 1e9 for _ in range(5))
print(json.dumps(out))
"""

# Forks WORKERS processes that each make SERIES counter series; then times the scrape.
SCRAPE = """
import json, os, statistics, sys, time
from {lib} import CollectorRegistry, Counter, generate_latest
from {lib}.multiprocess import MultiProcessCollector

WORKERS, SERIES, CHURN = {workers}, {series}, {churn}
requests = Counter("requests", "Requests.", ["path"])
paths = [f"/path/{{i}}" for i in range(SERIES)]

def work_and(then):
    for path in paths:
        requests.labels(path).inc()
    then()

go_r, go_w = os.pipe()
ready_r, ready_w = os.pipe()
for _ in range(WORKERS):
    if os.fork() == 0:
        work_and(lambda: (os.write(ready_w, b"1"), os.read(go_r, 1)))
        os._exit(0)
for _ in range(WORKERS):
    os.read(ready_r, 1)
registry = CollectorRegistry()
MultiProcessCollector(registry)

def timed():
    generate_latest(registry)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        generate_latest(registry)
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)

out = {{"scrape_ms": timed()}}
text = generate_latest(registry).decode()
out["total"] = sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("requests_total"))
if CHURN:
    for i in range(CHURN):
        pid = os.fork()
        if pid == 0:
            work_and(lambda: None)
            os._exit(0)
        os.waitpid(pid, 0)
        if i % 100 == 99:
            generate_latest(registry)
    out["after_churn_ms"] = timed()
    out["files_after_churn"] = len(os.listdir(os.environ["{env}"]))
os.write(go_w, b"x" * WORKERS)
for _ in range(WORKERS):
    os.wait()
print(json.dumps(out))
"""


def run(source: str, env_name: str | None) -> dict:
    with tempfile.TemporaryDirectory(dir="/dev/shm") as directory:
        env = {k: v for k, v in os.environ.items() if not k.endswith("MULTIPROC_DIR")}
        if env_name:
            env[env_name] = directory
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(source)], env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise SystemExit(result.stderr)
        return json.loads(result.stdout)


def verdict(ratio: float, target: float, higher_is_better: bool = True) -> str:
    met = ratio >= target if higher_is_better else ratio <= target
    return "met" if met else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, no 64-process row, smaller churn")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")

    rounds: dict[str, list[dict]] = {name: [] for name in LIBS}
    for _ in range(1 if args.quick else 3):
        for name, (lib, env_name) in LIBS.items():
            rounds[name].append(run(UPDATE.format(lib=lib), env_name))
    updates = {
        name: {op: statistics.median(r[op] for r in runs) for op in ("inc", "observe")} for name, runs in rounds.items()
    }
    pc, oa, single = (updates[name] for name in LIBS)
    print("\nHeld child updates (ns per call, median)")
    print(f"{'':12}{'prometheus_client mp':>22}{'obsagent mp':>14}{'obsagent single':>17}{'vs pc':>9}{'vs single':>11}")
    for op in ("inc", "observe"):
        speedup, cost = pc[op] / oa[op], oa[op] / single[op]
        print(
            f"{op:12}{pc[op]:>22.1f}{oa[op]:>14.1f}{single[op]:>17.1f}{speedup:>8.1f}x{cost:>10.2f}x"
            f"   (>= 10x faster: {verdict(speedup, 10)}; <= 1.2x single: {verdict(cost, 1.2, False)})"
        )

    print("\nScrape of P processes x 1,000 series (ms, median of 5)")
    for workers in (4, 16) if args.quick else (4, 16, 64):
        figures = {}
        for name in list(LIBS)[:2]:
            lib, env_name = LIBS[name]
            figures[name] = run(SCRAPE.format(lib=lib, workers=workers, series=1000, churn=0, env=env_name), env_name)
        theirs, ours = (figures[name] for name in list(LIBS)[:2])
        assert theirs["total"] == ours["total"] == workers * 1000, (theirs, ours)
        ratio = theirs["scrape_ms"] / ours["scrape_ms"]
        target = f"   (>= 20x at 64: {verdict(ratio, 20)})" if workers == 64 else ""
        print(
            f"  P={workers:<3} prometheus_client {theirs['scrape_ms']:9.2f}   obsagent {ours['scrape_ms']:7.3f}"
            f"   {ratio:6.1f}x{target}"
        )

    churn = 200 if args.quick else 1000
    print(f"\nScrape of 16 live processes x 1,000 series, before and after {churn} workers lived and died (ms)")
    for name in list(LIBS)[:2]:
        lib, env_name = LIBS[name]
        figures = run(SCRAPE.format(lib=lib, workers=16, series=1000, churn=churn, env=env_name), env_name)
        slower = figures["after_churn_ms"] / figures["scrape_ms"] - 1
        target = f"   (< 10% slower: {verdict(-slower, -0.10)})" if lib == "obsagent" else ""
        print(
            f"  {name:34} {figures['scrape_ms']:9.3f} -> {figures['after_churn_ms']:9.3f}  ({slower:+.0%}; "
            f"{figures['files_after_churn']} files){target}"
        )
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
