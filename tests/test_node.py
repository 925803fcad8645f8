"""The daemon as node_exporter: an end-to-end golden scrape of the fixtures, live parity with
the real node_exporter on this machine, a real Prometheus running dashboard queries, bad input
and the collector flags."""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import (
    OBSAGENT,
    compare_golden,
    free_port,
    peer,
    promtool_problems,
    query,
    samples,
    scrape,
    start_daemon,
    stop_daemon,
    wait_for,
)

FIXTURES = Path(__file__).parent / "fixtures"
COLLECTORS = [
    "arp",
    "bcache",
    "bonding",
    "btrfs",
    "conntrack",
    "cpu",
    "cpufreq",
    "diskstats",
    "dmi",
    "edac",
    "entropy",
    "fibrechannel",
    "filefd",
    "filesystem",
    "hwmon",
    "infiniband",
    "ipvs",
    "loadavg",
    "mdadm",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "nfs",
    "nfsd",
    "nvme",
    "os",
    "powersupplyclass",
    "pressure",
    "rapl",
    "schedstat",
    "selinux",
    "sockstat",
    "softnet",
    "stat",
    "tapestats",
    "textfile",
    "thermal_zone",
    "time",
    "timex",
    "udp_queues",
    "uname",
    "vmstat",
    "watchdog",
    "xfs",
    "zfs",
]
# node_exporter's upstream defaults, given to both daemons so Debian's patched defaults
# (which also exclude lo, /run, /mnt, /media, and not zram) don't make them differ.
UPSTREAM_FLAGS = [
    "--collector.filesystem.mount-points-exclude=^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
    "--collector.filesystem.fs-types-exclude=^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$",
    r"--collector.diskstats.device-exclude=^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$",
]
# Series whose values change from run to run; the one filter applied to the golden scrape.
NON_DETERMINISTIC = re.compile(
    r"^(# (HELP|TYPE) )?(process_|python_|node_scrape_collector_duration_seconds|node_time_seconds"
    r"|node_time_zone_offset_seconds|node_textfile_mtime_seconds|node_timex_"
    # rapl's path label is the fixture's directory on this machine.
    r"|node_rapl_)"
)


def fixture_daemon(*extra: str, procfs: Path = FIXTURES / "proc"):
    """The daemon on the fixtures. The root file system path does not exist, so every mount
    of the fixture's mountinfo takes the statfs-failed path (`device_error`), the same on any
    machine."""
    return start_daemon(
        f"--path.procfs={procfs}",
        f"--path.sysfs={FIXTURES / 'sys'}",
        f"--path.rootfs={FIXTURES / 'rootfs'}",
        f"--collector.textfile.directory={FIXTURES / 'textfile'}",
        # No NVML anywhere, so the GPU families are the same on a machine with a GPU.
        f"--collector.gpu.nvml-library={FIXTURES / 'gpu' / 'absent' / 'libnvidia-ml.so.1'}",
        *extra,
    )


def test_golden_scrape_of_the_fixtures():
    process, base = fixture_daemon()
    try:
        body = scrape(base)
    finally:
        stop_daemon(process)
    kept = "".join(line + "\n" for line in body.splitlines() if not NON_DETERMINISTIC.match(line))
    compare_golden("e2e-node.prom", kept.encode())
    assert promtool_problems(body.encode()) == []


def test_every_collector_succeeds_on_the_fixtures_and_collect_filters():
    process, base = fixture_daemon()
    try:
        success = samples(scrape(base))["node_scrape_collector_success"]
        only = samples(scrape(base, "?collect[]=loadavg&collect[]=uname"))
        without = samples(scrape(base, "?exclude[]=cpu"))
    finally:
        stop_daemon(process)
    # os reads <rootfs>/etc/os-release, and the fixtures' rootfs does not exist (see fixture_daemon).
    assert success == {(("collector", name),): 0.0 if name == "os" else 1.0 for name in [*COLLECTORS, "gpu"]}
    assert set(only["node_scrape_collector_success"]) == {(("collector", "loadavg"),), (("collector", "uname"),)}
    assert "node_cpu_seconds_total" not in only and "node_load1" in only
    assert "node_cpu_seconds_total" not in without and "node_memory_MemTotal_bytes" in without


def test_a_broken_proc_file_fails_only_its_collectors(tmp_path):
    procfs = tmp_path / "proc"
    shutil.copytree(FIXTURES / "proc", procfs)
    (procfs / "stat").write_text("cpu  12 garbage\nintr\n")
    (procfs / "meminfo").write_text("MemTotal: lots kB\n")
    process, base = fixture_daemon(procfs=procfs)
    try:
        scraped = samples(scrape(base))
        (procfs / "loadavg").unlink()  # a file that vanishes while running
        after = samples(scrape(base))
    finally:
        records = stop_daemon(process)
    success = {dict(k)["collector"]: v for k, v in scraped["node_scrape_collector_success"].items()}
    # os too: the fixtures' rootfs, with its etc/os-release, does not exist (see fixture_daemon).
    assert {name for name, ok in success.items() if not ok} == {"cpu", "stat", "meminfo", "os"}
    assert "node_cpu_seconds_total" not in scraped and "node_memory_MemTotal_bytes" not in scraped
    assert "node_load1" in scraped and "node_network_receive_bytes_total" in scraped
    assert after["node_scrape_collector_success"][(("collector", "loadavg"),)] == 0
    failures = [r for r in records if r.get("msg") == "collector failed"]
    # os has no os-release to read: node_exporter's "no data", success 0 without a log line.
    assert {r["collector"] for r in failures} == {"cpu", "stat", "meminfo", "loadavg"}
    assert all(r["error"] for r in failures)


def test_textfile_errors_are_reported_and_good_files_still_served():
    process, base = fixture_daemon()
    try:
        scraped = samples(scrape(base))
    finally:
        stop_daemon(process)
    assert scraped["node_textfile_scrape_error"] == {(): 1.0}
    files = {dict(k)["file"] for k in scraped["node_textfile_mtime_seconds"]}
    assert all(f.endswith("good.prom") for f in files) and files


def test_mounts_and_unmounts_are_seen_at_the_next_scrape(tmp_path):
    """The daemon re-reads the mount table only when the kernel marks it changed; a tmpfs
    mounted and unmounted in the daemon's own mount namespace must show up and go away."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter"):
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs as root with util-linux: this test must run there")
        pytest.skip("needs root and util-linux's unshare/nsenter")
    target = tmp_path / "fresh mount"
    target.mkdir()
    port = free_port()
    # Own mount and pid namespaces: the daemon is pid 1 there, so /proc/1/mountinfo is its own.
    unshare = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc", "--kill-child"]
    daemon = subprocess.Popen(
        [*unshare, *OBSAGENT, "--collector.disable-defaults", "--collector.filesystem"]
        + ["--web.listen-address", f"127.0.0.1:{port}"],
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    label = f'mountpoint="{target}"'
    try:
        assert "listening" in daemon.stderr.readline()
        child = Path(f"/proc/{daemon.pid}/task/{daemon.pid}/children").read_text().split()[0]
        in_namespace = ["nsenter", "--target", child, "--mount"]
        assert label not in scrape(base)
        subprocess.run([*in_namespace, "mount", "-t", "tmpfs", "-o", "size=1m", "obsagent", str(target)], check=True)
        mounted = scrape(base)
        assert (
            f'node_filesystem_size_bytes{{device="obsagent",device_error="",fstype="tmpfs",{label}}} 1.048576e+06'
            in mounted
        )
        subprocess.run([*in_namespace, "umount", str(target)], check=True)
        assert label not in scrape(base)
        os.kill(int(child), signal.SIGTERM)  # unshare waits for it and exits with it
        daemon.communicate(timeout=10)
    finally:
        daemon.kill()
        daemon.wait()


def test_collector_flags():
    process, base = fixture_daemon("--no-collector.cpu", "--no-collector.textfile")
    try:
        names = samples(scrape(base))
    finally:
        stop_daemon(process)
    assert "node_cpu_seconds_total" not in names and "node_textfile_scrape_error" not in names
    process, base = fixture_daemon("--collector.disable-defaults", "--collector.loadavg")
    try:
        success = samples(scrape(base))["node_scrape_collector_success"]
    finally:
        stop_daemon(process)
    assert list(success) == [(("collector", "loadavg"),)]
    result = subprocess.run(
        [*OBSAGENT, "--collector.netdev.device-exclude=(", "--web.listen-address=127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 1 and "--collector.netdev.device-exclude" in result.stderr


# Collectors Debian's node_exporter 1.5.0 doesn't have yet (watchdog: 1.8.0).
NEWER_THAN_1_5 = {"watchdog"}


def start_node_exporter(textfile_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            peer("prometheus-node-exporter"),
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            *[f"--collector.{name}" for name in COLLECTORS if name not in NEWER_THAN_1_5],
            f"--collector.textfile.directory={textfile_dir}",
            "--collector.netdev.device-exclude=",
            *UPSTREAM_FLAGS,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: scrape(base), timeout=20)
    return process, base


# What the two may differ in, and why: upstream >= 1.8 behaviour we follow where Debian's
# node_exporter 1.5.0 is older.
ONLY_OURS = {
    "node_filesystem_mount_info": "filesystem: mount information, 1.9.0 (#2970)",
    "node_cpu_online": "cpu: CPU online status, 1.9.0 (#3032), where cpu0 has an online file",
    "node_netstat_TcpExt_TCPOFOQueue": "default netstat field since 1.8.0 (#2867)",
    "node_netstat_TcpExt_TCPRcvQDrop": "default netstat field since 1.9.0 (#3021)",
    "node_softnet_backlog_len": "softnet_data columns added in 1.6.0 (#2592)",
    "node_softnet_cpu_collision": "softnet_data columns added in 1.6.0 (#2592)",
    "node_softnet_flow_limit_count": "softnet_data columns added in 1.6.0 (#2592)",
    "node_softnet_received_rps": "softnet_data columns added in 1.6.0 (#2592)",
    # Where a btrfs is mounted:
    **dict.fromkeys(
        ["node_btrfs_commits", "node_btrfs_commit_seconds", "node_btrfs_last_commit_seconds"]
        + ["node_btrfs_max_commit_seconds"],
        "btrfs commit statistics, 1.9.0 (#3010)",
    ),
}
ONLY_THEIRS = {
    "node_exporter_build_info": "node_exporter's own build info",
}
# Upstream 1.8+ filesystem label and 1.6+ netclass node_network_info label, absent in 1.5.0.
EXTRA_LABELS = {"device_error", "adminstate"}
STATIC = ["node_memory_MemTotal_bytes", "node_boot_time_seconds", "node_filesystem_size_bytes", "node_uname_info"]
COUNTERS = [
    "node_cpu_seconds_total",
    "node_context_switches_total",
    "node_forks_total",
    "node_network_receive_packets_total",
    "node_disk_reads_completed_total",
]


def families(text: str) -> dict:
    """The node_ families (and the textfile's app_ one) by name."""
    return {f.name: f for f in text_string_to_metric_families(text) if f.name.startswith(("node_", "app_"))}


def without_extra_labels(series: dict[tuple, float]) -> dict[tuple, float]:
    return {tuple((k, v) for k, v in labels if k not in EXTRA_LABELS): value for labels, value in series.items()}


def test_parity_with_the_real_node_exporter(tmp_path):
    (tmp_path / "app.prom").write_text('# HELP app_jobs Jobs.\n# TYPE app_jobs gauge\napp_jobs{queue="a"} 3\n')
    theirs_process, theirs_base = start_node_exporter(tmp_path)
    ours_process, ours_base = start_daemon(
        "--collector.disable-defaults",
        *[f"--collector.{name}" for name in COLLECTORS],
        f"--collector.textfile.directory={tmp_path}",
        *UPSTREAM_FLAGS,
    )
    try:
        theirs_text, ours_text = scrape(theirs_base), scrape(ours_base)
    finally:
        stop_daemon(ours_process)
        theirs_process.terminate()
        theirs_process.wait(timeout=10)
    theirs_families = {
        f.name: f for f in text_string_to_metric_families(theirs_text) if f.name.startswith(("node_", "app_"))
    }
    ours_families = {
        f.name: f for f in text_string_to_metric_families(ours_text) if f.name.startswith(("node_", "app_"))
    }
    assert set(ours_families) - set(theirs_families) <= set(ONLY_OURS), set(ours_families) - set(theirs_families)
    assert set(theirs_families) - set(ours_families) <= set(ONLY_THEIRS), set(theirs_families) - set(ours_families)
    theirs, ours = samples(theirs_text), samples(ours_text)
    for name in set(ours_families) & set(theirs_families):
        assert ours_families[name].type == theirs_families[name].type, name
        assert ours_families[name].documentation == theirs_families[name].documentation, name
    for name in set(ours) & set(theirs):
        if name in ("node_scrape_collector_duration_seconds", "node_textfile_mtime_seconds"):
            continue
        series = set(without_extra_labels(ours[name]))
        if name == "node_scrape_collector_success":
            series = {k for k in series if dict(k)["collector"] not in NEWER_THAN_1_5}
        assert series == set(theirs[name]), name
    for name in STATIC:
        assert without_extra_labels(ours[name]) == theirs[name], name
    for name in COUNTERS:
        for labels, value in theirs[name].items():
            assert math.isclose(ours[name][labels], value, rel_tol=0.05, abs_tol=50), (name, labels)
    cpus = {dict(k)["cpu"] for k in ours["node_cpu_seconds_total"]}
    assert len(cpus) == len({dict(k)["cpu"] for k in theirs["node_cpu_seconds_total"]})


DASHBOARD_QUERIES = [
    '100 - (avg by (instance) (irate(node_cpu_seconds_total{mode="idle"}[1m])) * 100)',
    "(node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes) / node_memory_MemTotal_bytes",
    'node_filesystem_avail_bytes{fstype!="tmpfs"} / node_filesystem_size_bytes{fstype!="tmpfs"}',
    "rate(node_network_receive_bytes_total[1m])",
    "node_load1",
]


def test_prometheus_answers_the_dashboard_queries(prometheus):
    base, target_port = prometheus
    process, _ = start_daemon(port=target_port)
    try:
        wait_for(lambda: [r for r in query(base, 'up{job="obsagent"}') if r["value"][1] == "1"])
        # irate and rate need two scrapes inside the window.
        wait_for(lambda: query(base, "count_over_time(node_load1[1m]) >= 3"))
        for expr in DASHBOARD_QUERIES:
            result = query(base, expr)
            assert result, expr
            # A mount reporting size 0 makes one ratio NaN on some hosts; the query itself must work.
            assert any(math.isfinite(float(r["value"][1])) for r in result), (expr, result)
    finally:
        stop_daemon(process)
