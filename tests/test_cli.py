"""`obsagent` the command: the daemon with process metrics, checked by promtool; signals; scrape."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import obsagent
from conftest import OBSAGENT, promtool_problems, start_daemon, stop_daemon


@pytest.mark.parametrize("args", [(), ("run",)])
def test_daemon_serves_process_metrics_and_exits_cleanly_on_sigterm(args):
    process, base = start_daemon(*args)
    try:
        body = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
    finally:
        records = stop_daemon(process)
    assert process.returncode == 0
    assert [r["msg"] for r in records] == ["stopping", "stopped"]
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in body.splitlines()
        if line and not line.startswith("#") and "{" not in line
    }
    assert abs(values["process_start_time_seconds"] - time.time()) < 120
    assert values["process_resident_memory_bytes"] > 1_000_000
    assert values["process_open_fds"] >= 3 and values["process_max_fds"] >= values["process_open_fds"]
    assert values["process_cpu_seconds_total"] > 0
    assert 'python_info{implementation="CPython"' in body
    assert "python_gc_objects_collected_total" in body


def test_promtool_finds_no_problem_in_a_scrape_of_obsagent_run():
    process, base = start_daemon("run")
    try:
        body = urllib.request.urlopen(base + "/metrics", timeout=5).read()
    finally:
        stop_daemon(process)
    assert promtool_problems(body) == []


def test_sigint_also_stops_the_daemon():
    process, _ = start_daemon()
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=10)
    assert process.returncode == 0


def test_taken_port_is_a_clear_error():
    process, base = start_daemon()
    try:
        port = base.rsplit(":", 1)[1]
        result = subprocess.run(
            [*OBSAGENT, "--web.listen-address", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=20
        )
    finally:
        stop_daemon(process)
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stderr.splitlines()]
    record = next(r for r in records if r["level"] == "error")
    assert record["msg"] == "cannot listen" and "in use" in record["error"]


def test_bad_listen_address_and_unknown_flag():
    result = subprocess.run([*OBSAGENT, "--web.listen-address", "nonsense"], capture_output=True, text=True)
    assert result.returncode == 2 and "is not host:port" in result.stderr
    result = subprocess.run([*OBSAGENT, "--no-such-flag"], capture_output=True, text=True)
    assert result.returncode == 2 and "No such option '--no-such-flag'" in result.stderr


def test_version():
    result = subprocess.run([*OBSAGENT, "--version"], capture_output=True, text=True)
    assert result.stdout.strip() == f"obsagent, version {obsagent.__version__}"


def test_scrape_prints_the_exposition_and_fails_clearly_when_down(registry):
    obsagent.Counter("scraped", "Scraped.", registry=registry).inc(3)
    server = obsagent.start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        result = subprocess.run([*OBSAGENT, "scrape", url], capture_output=True, text=True, timeout=20)
        assert result.returncode == 0 and "scraped_total 3.0\n" in result.stdout
        result = subprocess.run([*OBSAGENT, "scrape", "--openmetrics", url], capture_output=True, text=True)
        assert result.stdout.endswith("# EOF\n")
    finally:
        server.stop()
    result = subprocess.run([*OBSAGENT, "scrape", url], capture_output=True, text=True, timeout=20)
    assert result.returncode == 1 and f"cannot scrape {url}" in result.stderr


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "obsagent"
    assert script.exists() and os.access(script, os.X_OK)
