"""node_exporter's command line works on obsagent: every flag the real node_exporter's --help
lists is accepted; collectors obsagent lacks can be disabled (a no-op) and enabling one is an
error naming it; options of features obsagent lacks are accepted at their default only."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import OBSAGENT, free_port, peer, samples, scrape, start_daemon, stop_daemon, wait_for
from obsagent import cli

FIXTURES = Path(__file__).parent / "fixtures"
TREE = [
    f"--path.procfs={FIXTURES / 'proc'}",
    f"--path.sysfs={FIXTURES / 'sys'}",
    f"--path.rootfs={FIXTURES / 'rootfs'}",
    f"--collector.gpu.nvml-library={FIXTURES / 'gpu' / 'absent' / 'libnvidia-ml.so.1'}",
]
OURS = {name for name, _ in cli.NODE_COLLECTORS}
BOOL_DEFAULTS = {flag: default for flag, kind, default in cli.IGNORED_FLAGS + cli.DEFAULT_ONLY_FLAGS if kind == "bool"}
# Boolean flags obsagent implements, all off by default as in node_exporter.
NATIVE_BOOLS = [
    "--collector.netclass.ignore-invalid-speed",
    "--collector.disable-defaults",
    "--web.disable-exporter-metrics",
    "--collector.bcache.priorityStats",
    "--collector.cpu.info",
]
BOOL_DEFAULTS |= dict.fromkeys(NATIVE_BOOLS, False)
# Flags of node_exporter's --help whose value is this machine's, not a default to pass along.
NOT_PASSED = {"--help", "--help-long", "--version", "--web.listen-address", "--collector.textfile.directory"}
# node_exporter's default format, logfmt, isn't the JSON lines these tests read (and obsagent's
# default); test_log_level_and_format covers it.
NOT_PASSED |= {"--log.format"}


def node_exporter_flags() -> list[str]:
    """Every flag of the real node_exporter's --help, as a node_exporter user would spell out its
    default: `--flag=default` for valued flags (unquoted), `--[no-]flag` per the default for
    booleans, `--collector.X` for each collector obsagent has and `--no-collector.X` otherwise."""
    result = subprocess.run([peer("prometheus-node-exporter"), "--help"], capture_output=True, text=True)
    out = []
    for match in re.finditer(r"^\s+(?:-\w, )?(--[\w.-]+)(?:=(\S+))?", result.stdout + result.stderr, re.M):
        flag, value = match.groups()
        if flag in NOT_PASSED:
            continue
        collector = flag.removeprefix("--collector.")
        if value is not None:
            if value.isupper() or value.startswith("COLLECTOR."):  # a placeholder, no default
                value = ""
            out.append(f"{flag}={value.strip(chr(34)).encode().decode('unicode_escape')}")
        elif flag.startswith("--collector.") and re.fullmatch(r"[a-z0-9_]+", collector):
            out.append(flag if collector in OURS else f"--no-collector.{collector}")
        else:
            assert flag in BOOL_DEFAULTS, f"{flag} of node_exporter's --help is unknown to obsagent"
            if BOOL_DEFAULTS[flag]:
                out.append(flag)
    return out


def test_every_flag_of_node_exporters_help_is_accepted():
    flags = node_exporter_flags()
    assert len(flags) > 100, flags  # 1.5.0: 79 collectors and 40 more options
    process, base = start_daemon(*flags, *TREE, "--web.disable-exporter-metrics")
    try:
        scraped = samples(scrape(base))
    finally:
        stop_daemon(process)
    success = {dict(k)["collector"] for k in scraped["node_scrape_collector_success"]}
    assert success == OURS, "every collector obsagent has was named on (gpu is on by default) and runs"
    assert not [name for name in scraped if name.startswith(("process_", "python_"))]


@pytest.mark.parametrize("name", ["wifi", "systemd", "drbd", "ntp", "perf"])
def test_enabling_a_collector_obsagent_lacks_is_an_error_naming_it(name):
    result = subprocess.run([*OBSAGENT, f"--collector.{name}"], capture_output=True, text=True, timeout=20)
    assert result.returncode == 2, result.stderr
    assert f"--collector.{name}: obsagent has no {name} collector" in result.stderr


def test_every_node_exporter_collector_can_be_disabled():
    every = [*cli.ABSENT_COLLECTORS, *(n for n in OURS if n != "gpu")]
    assert len(every) == 73, "node_exporter 1.9 has 73 Linux collectors, 46 on by default"
    process, base = start_daemon(*TREE, *[f"--no-collector.{n}" for n in every], "--collector.loadavg")
    try:
        success = samples(scrape(base))["node_scrape_collector_success"]
    finally:
        stop_daemon(process)
    assert set(success) == {(("collector", "gpu"),), (("collector", "loadavg"),)}


@pytest.mark.parametrize(
    "flag",
    [
        "--web.telemetry-path=/node",
        "--collector.netdev.address-info",
        "--no-collector.cpu.guest",
        "--collector.stat.softirq",
    ],
)
def test_options_obsagent_lacks_are_an_error_unless_at_their_default(flag):
    result = subprocess.run([*OBSAGENT, flag], capture_output=True, text=True, timeout=20)
    assert result.returncode == 2, result.stderr
    assert "obsagent doesn't implement this node_exporter option" in result.stderr
    assert flag in result.stderr


def test_exporter_metrics_are_dropped_on_request_and_old_flag_names_work():
    process, base = start_daemon(*TREE, "--collector.netdev.device-blacklist=^eth", "--log.level=debug")
    try:
        with_own = samples(scrape(base))
    finally:
        stop_daemon(process)
    assert "process_cpu_seconds_total" in with_own
    assert with_own["process_virtual_memory_max_bytes"][()] > 0, "node_exporter's process metrics have it"
    devices = {dict(k)["device"] for k in with_own["node_network_receive_bytes_total"]}
    assert "eth0" not in devices and "lo" in devices, "--collector.netdev.device-blacklist is device-exclude's old name"
    process, base = start_daemon(*TREE, "--web.disable-exporter-metrics", f"--web.listen-address=:{free_port()}")
    try:
        without = samples(scrape(base))
    finally:
        stop_daemon(process)
    assert "process_cpu_seconds_total" not in without and "node_load1" in without
    assert "process_virtual_memory_max_bytes" not in without


def test_device_include_flags():
    process, base = start_daemon(
        *TREE,
        "--collector.netdev.device-whitelist=^eth",  # device-include's old name
        "--collector.diskstats.device-exclude=",
        "--collector.diskstats.device-include=^zram",
    )
    try:
        scraped = samples(scrape(base))
    finally:
        stop_daemon(process)
    assert {dict(k)["device"] for k in scraped["node_network_receive_bytes_total"]} == {"eth0"}
    assert {dict(k)["device"] for k in scraped["node_disk_read_bytes_total"]} == {"zram0"}
    both = subprocess.run(
        [*OBSAGENT, *TREE, "--collector.diskstats.device-include=^sd", "--web.listen-address=127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert both.returncode == 1 and "mutually exclusive" in both.stderr, "beside the default exclude, as upstream"


def daemon_lines(*flags: str) -> list[str]:
    """The stderr lines of a daemon over a tree where nfs is garbled and tapestats has no data,
    after one scrape and SIGTERM."""
    port = free_port()
    process = subprocess.Popen(
        [*OBSAGENT, *flags, "--collector.disable-defaults", "--collector.nfs", "--collector.tapestats"]
        + ["--collector.loadavg", f"--web.listen-address=127.0.0.1:{port}"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: scrape(f"http://127.0.0.1:{port}"), timeout=20)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    return err.splitlines()


def test_log_level_and_format(tmp_path):
    procfs = tmp_path / "proc"
    (procfs / "net/rpc").mkdir(parents=True)
    (procfs / "net/rpc/nfs").write_text("net 1 x\n")
    (procfs / "loadavg").write_text((FIXTURES / "proc/loadavg").read_text())
    tree = [f"--path.procfs={procfs}", f"--path.sysfs={tmp_path / 'sys'}"]
    records = [json.loads(line) for line in daemon_lines(*tree, "--log.level=debug", "--log.format=json")]
    by_message = {r["msg"]: r for r in records}
    assert by_message["collector failed"]["collector"] == "nfs"
    assert by_message["collector has no data"]["collector"] == "tapestats", "no data: at debug only"
    assert {"listening", "stopped"} <= set(by_message)
    default = [json.loads(line) for line in daemon_lines(*tree)]
    assert {r["level"] for r in default} == {"info", "error"}, "info by default: no debug lines"
    warned = [json.loads(line) for line in daemon_lines(*tree, "--log.level=warn")]
    assert [r["msg"] for r in warned] == ["collector failed"], "warn: only the failure"
    logfmt = daemon_lines(*tree, "--log.format=logfmt")
    failure = next(line for line in logfmt if "collector failed" in line)
    assert re.fullmatch(r'time=\S+Z level=ERROR msg="collector failed" collector=nfs error=".*"', failure), failure
    assert any(re.match(r"time=\S+ level=INFO msg=listening address=", line) for line in logfmt), logfmt
    result = subprocess.run([*OBSAGENT, "--log.level=verbose"], capture_output=True, text=True, timeout=20)
    assert result.returncode == 2 and "--log.level" in result.stderr
