#!/usr/bin/env python3
"""obsagent's daemon beside node_exporter, measured in the same run on the same machine.

Both daemons run the same collectors with the same flags on loopback. Scrapes alternate
between them (A, B, A, B, ...) so they share the machine's noise, each on a new connection
with the headers Prometheus sends (OpenMetrics or text, gzip). Reported per daemon:
- CPU per scrape: utime + stime of the serving process over a round of scrapes, read from
  /proc/<pid>/stat before and after, divided by the number of scrapes; the median of several
  rounds, since other tenants of the machine come and go;
- scrape latency p50 and p99, measured by the client;
- RSS after the run (VmRSS).
The ratio column is node_exporter / obsagent (higher is better for obsagent).
Usage: bench_node.py [--scrapes N] [--rounds R]
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

from obsagent._native import node_collectors

# node_exporter's default collectors, all of which obsagent has (node_exporter has no GPU one).
COLLECTORS = [name for name, enabled in node_collectors() if enabled and name != "gpu"]
ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def scrape(url: str) -> float:
    request = urllib.request.Request(url, headers={"Accept": ACCEPT, "Accept-Encoding": "gzip"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
    return time.perf_counter() - started


def start(command: list[str], url: str) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            scrape(url)
            return process
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scrapes", type=int, default=3000, help="per daemon, over all rounds")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    node_exporter = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if node_exporter is None:
        sys.exit("node_exporter is not installed (make peers)")
    textfile_dir = tempfile.mkdtemp(prefix="obsagent-bench-textfile-")  # empty, as on most hosts
    # The collectors both have: an older node_exporter lacks some (1.5 has no watchdog).
    help_text = subprocess.run([node_exporter, "--help"], capture_output=True, text=True)
    known = help_text.stdout + help_text.stderr
    collectors = [c for c in COLLECTORS if f"--collector.{c} " in known or f"--[no-]collector.{c} " in known]
    flags = [
        "--collector.disable-defaults",
        *[f"--collector.{c}" for c in collectors],
        "--collector.netdev.device-exclude=",
        f"--collector.textfile.directory={textfile_dir}",
    ]
    ports = {"node_exporter": free_port(), "obsagent": free_port()}
    urls = {name: f"http://127.0.0.1:{port}/metrics" for name, port in ports.items()}
    commands = {
        "node_exporter": [node_exporter, f"--web.listen-address=127.0.0.1:{ports['node_exporter']}", *flags],
        "obsagent": [sys.executable, "-m", "obsagent", f"--web.listen-address=127.0.0.1:{ports['obsagent']}", *flags],
    }
    processes = {name: start(command, urls[name]) for name, command in commands.items()}
    try:
        for _ in range(20):  # warm up: page cache, first-scrape allocations
            for url in urls.values():
                scrape(url)
        latencies: dict[str, list[float]] = {name: [] for name in urls}
        rounds: dict[str, list[float]] = {name: [] for name in urls}
        per_round = max(1, args.scrapes // args.rounds)
        for _ in range(args.rounds):
            cpu_before = {name: cpu_seconds(p.pid) for name, p in processes.items()}
            for _ in range(per_round):
                for name, url in urls.items():
                    latencies[name].append(scrape(url))
            for name, p in processes.items():
                rounds[name].append((cpu_seconds(p.pid) - cpu_before[name]) / per_round)
        cpu = {name: statistics.median(values) for name, values in rounds.items()}
        rss = {name: rss_bytes(p.pid) for name, p in processes.items()}
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(timeout=10)
        os.rmdir(textfile_dir)

    def pct(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1]

    rows = [
        ("CPU per scrape (ms, median)", {n: cpu[n] * 1e3 for n in urls}),
        ("scrape latency p50 (ms)", {n: pct(latencies[n], 50) * 1e3 for n in urls}),
        ("scrape latency p99 (ms)", {n: pct(latencies[n], 99) * 1e3 for n in urls}),
        ("RSS after (MiB)", {n: rss[n] / 2**20 for n in urls}),
    ]
    print(
        f"{per_round * args.rounds} scrapes each in {args.rounds} rounds, collectors: {', '.join(collectors)}; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    ratios = " ".join(f"{n / o:.1f}x" for n, o in zip(rounds["node_exporter"], rounds["obsagent"], strict=True) if o)
    print(f"CPU ratio per round: {ratios}")
    print(f"{'':26} {'node_exporter':>14} {'obsagent':>10} {'ratio':>8}")
    for label, values in rows:
        ratio = values["node_exporter"] / values["obsagent"] if values["obsagent"] else float("inf")
        print(f"{label:26} {values['node_exporter']:14.3f} {values['obsagent']:10.3f} {ratio:7.1f}x")
    target = cpu["node_exporter"] / cpu["obsagent"] >= 8 if cpu["obsagent"] else True
    print(
        f"target CPU per scrape <= 1/8 of node_exporter's: {'met' if target else 'MISSED'}; "
        f"RSS <= node_exporter's: {'met' if rss['obsagent'] <= rss['node_exporter'] else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
