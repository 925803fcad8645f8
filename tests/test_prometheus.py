"""A real Prometheus 2.42 scrapes a running obsagent server on loopback and its HTTP API
returns what the test recorded: `up == 1`, a counter's value, and `histogram_quantile`."""

from __future__ import annotations

import json
import urllib.request

import pytest

import obsagent
from conftest import query, wait_for


def test_prometheus_scrapes_obsagent(prometheus, registry):
    base, target_port = prometheus
    requests = obsagent.Counter("e2e_requests", "Requests.", ["method"], registry=registry)
    requests.labels("GET").inc(42)
    requests.labels("POST").inc(2.5)
    latency = obsagent.Histogram("e2e_latency_seconds", "Latency.", buckets=[0.1, 0.2, 0.5, 1], registry=registry)
    latency.observe_many([0.05] * 50 + [0.15] * 30 + [0.3] * 20)
    obsagent.Gauge("e2e_temperature", 'Quotes " and \\ in help.', ["room"], registry=registry).labels('a"b').set(-3.5)
    server = obsagent.start_http_server(target_port, addr="127.0.0.1", registry=registry)
    try:
        up = wait_for(lambda: [r for r in query(base, 'up{job="obsagent"}') if r["value"][1] == "1"])
        assert len(up) == 1
        assert query(base, 'e2e_requests_total{method="GET"}')[0]["value"][1] == "42"
        assert query(base, 'e2e_requests_total{method="POST"}')[0]["value"][1] == "2.5"
        assert query(base, 'e2e_temperature{room="a\\"b"}')[0]["value"][1] == "-3.5"
        # 90th of 100 observations lies in (0.2, 0.5], which holds ranks 81..100: 0.2 + 0.3 * 10/20.
        quantile = query(base, "histogram_quantile(0.9, e2e_latency_seconds_bucket)")
        assert float(quantile[0]["value"][1]) == pytest.approx(0.35)
        assert query(base, "e2e_latency_seconds_count")[0]["value"][1] == "100"
        assert float(query(base, "e2e_latency_seconds_sum")[0]["value"][1]) == pytest.approx(
            50 * 0.05 + 30 * 0.15 + 20 * 0.3
        )
        # Prometheus negotiated OpenMetrics with us and found nothing to complain about.
        targets = json.load(urllib.request.urlopen(f"{base}/api/v1/targets", timeout=5))["data"]["activeTargets"]
        assert targets[0]["health"] == "up" and targets[0]["lastError"] == ""
    finally:
        server.stop()
