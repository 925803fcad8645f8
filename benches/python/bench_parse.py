#!/usr/bin/env python3
"""obsagent's text parsers beside prometheus_client's, measured in the same run on the same machine.

Method
------
* The input: one exposition of 100,000 lines (``--lines``), written by prometheus_client's own
  encoder from a registry of 100 families (counters, gauges, histograms with 10 buckets and
  summaries), each with two labels (``method`` from 5 values, ``path`` unique per series) and
  series enough to reach the line count; values are varied floats. The same registry is written
  in the Prometheus text format (0.0.4) and in OpenMetrics 1.0 (``_created`` series on, as by
  default), and each text is parsed by its parser: ``prometheus_client.parser`` against
  ``obsagent.parser``, ``prometheus_client.openmetrics.parser`` against
  ``obsagent.openmetrics.parser``, each ``list(text_string_to_metric_families(text))``.
* Before timing, both parsers' families are checked to be the same (names, types, help,
  samples with their labels, values and timestamps), so the two do the same work.
* Each parse is timed whole with ``time.perf_counter`` (the garbage collector on, as in
  ordinary use), 5 repeats (3 with ``--quick``), the two libraries interleaved so that both see
  the same noise; the median is reported in ms per parse, and the ratio (prometheus_client's
  median / obsagent's: "x faster"). obsagent's time includes making every ``Metric`` and
  ``Sample`` object, not only the Rust parse.

The target (>= 20x) is printed as met or MISSED; missing it does not change the exit status:
speed is reported, not asserted. Python, library versions and the load average at the start
and the end are printed, since this machine may be shared and noisy.

Usage: bench_parse.py [--quick] [--lines N]
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
from importlib.metadata import version

import prometheus_client
import prometheus_client.openmetrics.exposition as peer_openmetrics_exposition
import prometheus_client.openmetrics.parser as peer_openmetrics
import prometheus_client.parser as peer_text

import obsagent.openmetrics.parser as our_openmetrics
import obsagent.parser as our_text

TARGET = 20.0
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def exposition_registry(lines: int) -> prometheus_client.CollectorRegistry:
    """prometheus_client's registry of about `lines` text lines (see Method)."""
    registry = prometheus_client.CollectorRegistry()
    families = []
    for i in range(100):
        kind = ("counter", "gauge", "histogram", "summary")[i % 4]
        name = f"bench_{kind}_{i}"
        if kind == "counter":
            families.append((prometheus_client.Counter(name, f"Help {i}.", ["method", "path"], registry=registry), 1))
        elif kind == "gauge":
            families.append((prometheus_client.Gauge(name, f"Help {i}.", ["method", "path"], registry=registry), 1))
        elif kind == "histogram":
            metric = prometheus_client.Histogram(
                name, f"Help {i}.", ["method", "path"], registry=registry, buckets=BUCKETS
            )
            families.append((metric, len(BUCKETS) + 3))
        else:
            families.append((prometheus_client.Summary(name, f"Help {i}.", ["method", "path"], registry=registry), 2))
    lines_per_round = sum(per_series for _, per_series in families)
    for series in range(max(1, lines // lines_per_round)):
        for metric, _ in families:
            child = metric.labels(METHODS[series % 5], f"/path/{series}")
            value = (series * 7919 % 1000) / 7.0
            if isinstance(metric, prometheus_client.Counter):
                child.inc(value)
            elif isinstance(metric, prometheus_client.Gauge):
                child.set(value - 50)
            else:
                child.observe(value / 100)
    return registry


def same_families(ours: list, theirs: list) -> None:
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    for mine, peer in zip(ours, theirs, strict=True):
        assert (mine.name, mine.type, mine.documentation, mine.unit) == (
            peer.name,
            peer.type,
            peer.documentation,
            peer.unit,
        ), (mine, peer)
        assert len(mine.samples) == len(peer.samples)
        for a, b in zip(mine.samples, peer.samples, strict=True):
            assert (a.name, a.labels, a.timestamp) == (b.name, b.labels, b.timestamp), (a, b)
            assert a.value == b.value or (math.isnan(a.value) and math.isnan(b.value)), (a, b)


def timed(parse, text: str) -> float:
    start = time.perf_counter()
    list(parse(text))
    return (time.perf_counter() - start) * 1000


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    arguments.add_argument("--quick", action="store_true", help="3 repeats instead of 5")
    arguments.add_argument("--lines", type=int, default=100_000, help="lines of the exposition (100,000)")
    options = arguments.parse_args()
    repeats = 3 if options.quick else 5

    print(f"Python {platform.python_version()}, prometheus_client {version('prometheus-client')}, obsagent")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    registry = exposition_registry(options.lines)
    texts = {
        "text 0.0.4": prometheus_client.generate_latest(registry).decode(),
        "OpenMetrics 1.0": peer_openmetrics_exposition.generate_latest(registry).decode(),
    }
    parsers = {
        "text 0.0.4": (our_text.text_string_to_metric_families, peer_text.text_string_to_metric_families),
        "OpenMetrics 1.0": (
            our_openmetrics.text_string_to_metric_families,
            peer_openmetrics.text_string_to_metric_families,
        ),
    }
    print(f"{'format':<16} {'lines':>8} {'prometheus_client ms':>21} {'obsagent ms':>12} {'ratio':>8}  target")
    for label, text in texts.items():
        ours, theirs = parsers[label]
        same_families(list(ours(text)), list(theirs(text)))
        our_times, peer_times = [], []
        for _ in range(repeats):
            gc.collect()
            peer_times.append(timed(theirs, text))
            gc.collect()
            our_times.append(timed(ours, text))
        peer_ms, our_ms = statistics.median(peer_times), statistics.median(our_times)
        ratio = peer_ms / our_ms
        verdict = "met" if ratio >= TARGET else "MISSED"
        print(
            f"{label:<16} {text.count(chr(10)):>8} {peer_ms:>21.1f} {our_ms:>12.1f} {ratio:>7.1f}x  "
            f">= {TARGET:.0f}x {verdict}"
        )
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
