"""obsagent against the real node_exporter over the SAME fixture tree (tests/fixtures, recorded
on the project's machine): every sample of the compared collectors must have the same name,
label set and value, every family the same type and HELP. The only differences accepted are
upstream changes between Debian's node_exporter 1.5.0 and 1.9, listed below with the change
that made each. Bad input for each of these collectors fails that collector alone."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import free_port, peer, samples, scrape, start_daemon, stop_daemon, wait_for

FIXTURES = Path(__file__).parent / "fixtures"
# The collectors compared sample for sample (all read the fixture tree, except timex: a syscall).
COMPARED = [
    *("arp", "bonding", "conntrack", "cpu", "entropy", "filefd", "mdadm", "netclass", "netstat", "os", "schedstat"),
    *("cpufreq", "dmi", "edac", "hwmon", "nvme", "powersupplyclass", "rapl", "selinux"),
    *("sockstat", "softnet", "thermal_zone", "udp_queues", "vmstat"),
    *("bcache", "btrfs", "fibrechannel", "infiniband", "ipvs", "nfs", "nfsd", "tapestats", "xfs", "zfs"),
]

# Families node_exporter >= 1.6 (what obsagent follows) has and 1.5.0 lacks, with the reason.
ONLY_OURS = {
    "node_netstat_TcpExt_TCPOFOQueue": "added to the default --collector.netstat.fields in 1.8.0 (#2867)",
    "node_netstat_TcpExt_TCPRcvQDrop": "added to the default --collector.netstat.fields in 1.9.0 (#3021)",
    "node_softnet_backlog_len": "softnet: more softnet_data columns, 1.6.0 (#2592)",
    "node_softnet_cpu_collision_total": "softnet: more softnet_data columns, 1.6.0 (#2592)",
    "node_softnet_flow_limit_count_total": "softnet: more softnet_data columns, 1.6.0 (#2592)",
    "node_softnet_received_rps_total": "softnet: more softnet_data columns, 1.6.0 (#2592)",
    "node_cpu_online": "cpu: CPU online status from sysfs, 1.9.0 (#3032)",
    "node_cpu_scaling_governor": "cpufreq: the scaling governor, 1.6.0 (fe19fdd1)",
    **dict.fromkeys(
        [f"node_btrfs_{n}" for n in ("commits_total", "last_commit_seconds", "max_commit_seconds")]
        + ["node_btrfs_commit_seconds_total"],
        "btrfs: commit statistics, 1.9.0 (#3010)",
    ),
    "node_zfs_arc_memory_available_bytes": "zfs: signed (type 3) kstats read, 1.6.0 (#2687)",
}
# Labels node_exporter >= 1.6 adds to a family, with the reason.
EXTRA_LABELS = {
    "node_network_info": ("adminstate", "netclass: the interface's administrative state, 1.6.0 (#2515)"),
}
# HELP texts node_exporter >= 1.6 changed, with the reason: 1.5.0's text, then why.
HELP_CHANGED = {
    f"node_cpu_frequency{kind}_hertz": (f"{word} cpu thread frequency in hertz.", "cpufreq: 'CPU', 1.6.0 (3cd9b163)")
    for kind, word in [("", "Current"), ("_min", "Minimum"), ("_max", "Maximum")]
}
# Samples only node_exporter has, with the reason.
ONLY_THEIRS = {
    "node_exporter_build_info": "node_exporter's own version; obsagent is not node_exporter",
    "node_bcache_cache_readaheads_total": "bcache: reported only when non-zero, 1.6.0 (#2583, issue #2103)",
}
# Single samples node_exporter >= 1.6 added or corrected within a family both have, with the
# reason: (name, labels) -> reason. Each must still differ (a value, or present on one side).
SAMPLES_CHANGED = {
    ("node_nfsd_requests_total", (("method", m), ("proto", "4"))): "nfsd: v4 ops index fixed, 1.7.0 (#2824)"
    for m in ("SetClientID", "SetClientIDConfirm", "Verify", "Write")
} | {
    ("node_nfsd_requests_total", (("method", "WdelegGetattr"), ("proto", "4"))): "nfsd: wdeleg_getattr, 1.8.0 (#2810)",
    ("node_zfs_zpool_state", (("state", "suspended"), ("zpool", "pool1"))): "zfs: the suspended state, 1.6.0 (#2449)",
}
# Whose values change between two reads, compared for label sets only.
VARYING = {"node_scrape_collector_duration_seconds"}


def tree_flags(procfs: Path = FIXTURES / "proc", sysfs: Path = FIXTURES / "sys") -> list[str]:
    # The root holds only etc/os-release (the os collector's), so filesystem stays out of it.
    return [f"--path.procfs={procfs}", f"--path.sysfs={sysfs}", f"--path.rootfs={FIXTURES / 'os-rootfs'}"]


def node_exporter_scrape(*flags: str) -> str:
    port = free_port()
    process = subprocess.Popen(
        [peer("prometheus-node-exporter"), f"--web.listen-address=127.0.0.1:{port}", *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return wait_for(lambda: scrape(f"http://127.0.0.1:{port}"), timeout=20)
    finally:
        process.terminate()
        process.wait(timeout=10)


def obsagent_scrape(*flags: str) -> str:
    process, base = start_daemon(*flags)
    try:
        return scrape(base)
    finally:
        stop_daemon(process)


def node_families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text) if f.name.startswith("node_")}


def normalised(series: dict[str, dict[tuple, float]]) -> dict[str, dict[tuple, float]]:
    """The node_ samples less the accepted differences: the added families and labels dropped."""
    out = {}
    for name, values in series.items():
        if not name.startswith("node_") or name in ONLY_OURS or name in ONLY_THEIRS:
            continue
        extra = EXTRA_LABELS.get(name, (None,))[0]
        kept = {labels: v for labels, v in values.items() if (name, labels) not in SAMPLES_CHANGED}
        out[name] = {tuple(kv for kv in labels if kv[0] != extra): v for labels, v in kept.items()}
    return out


def compare(theirs_text: str, ours_text: str) -> tuple[int, set[str]]:
    """Asserts the two expositions agree but for the accepted differences; returns the number of
    samples compared and the accepted differences seen."""
    theirs_families, ours_families = node_families(theirs_text), node_families(ours_text)
    theirs, ours = samples(theirs_text), samples(ours_text)
    only_ours = {n for n in ours if n.startswith("node_")} - set(theirs)
    assert only_ours <= set(ONLY_OURS), only_ours - set(ONLY_OURS)
    for name, (label, _) in EXTRA_LABELS.items():
        if name in ours:
            assert all(label in dict(k) for k in ours[name]), name
            assert not any(label in dict(k) for k in theirs[name]), "an accepted difference that is no longer one"
    for name, labels in SAMPLES_CHANGED:
        if name in ours and name in theirs:
            assert ours[name].get(labels) != theirs[name].get(labels), f"{name}{labels} no longer differs"
    for name in set(theirs_families) & set(ours_families):
        assert ours_families[name].type == theirs_families[name].type, name
        if name in HELP_CHANGED:
            assert theirs_families[name].documentation == HELP_CHANGED[name][0], "no longer a difference"
            continue
        assert ours_families[name].documentation == theirs_families[name].documentation, name
    theirs, ours = normalised(theirs), normalised(ours)
    assert set(ours) == set(theirs), set(ours) ^ set(theirs)
    compared = 0
    for name, values in theirs.items():
        if name in VARYING:
            assert set(ours[name]) == set(values), name
        else:
            assert ours[name] == values, name
        compared += len(values)
    return compared, only_ours


def only(*collectors: str) -> list[str]:
    return ["--collector.disable-defaults", *[f"--collector.{c}" for c in collectors]]


@pytest.mark.parametrize(
    "flags",
    [
        [],
        # The collectors' own options, given to both.
        [
            "--collector.netstat.fields=.*",
            "--collector.netclass.ignored-devices=^ifb",
            "--collector.netclass.ignore-invalid-speed",
            "--collector.arp.device-exclude=^eth",
            "--collector.vmstat.fields=^nr_",
            "--collector.tapestats.ignored-devices=^nst",
            "--collector.ipvs.backend-labels=local_address,proto",
            "--collector.bcache.priorityStats",
            "--collector.cpu.info",
            "--collector.cpu.info.flags-include=^(aes|avx2|sse4_2)$",
            "--collector.cpu.info.bugs-include=spectre",
        ],
    ],
    ids=["defaults", "options"],
)
def test_every_sample_equals_node_exporter_over_the_same_fixtures(flags):
    args = [*tree_flags(), *only(*COMPARED), *flags]
    theirs = node_exporter_scrape(*args, "--web.disable-exporter-metrics")
    ours = obsagent_scrape(*args)
    compared, differences = compare(theirs, ours)
    if not flags:
        assert differences == set(ONLY_OURS), "each accepted difference must still be one"
    success = samples(ours)["node_scrape_collector_success"]
    assert success == {(("collector", c),): 1.0 for c in COMPARED}
    # A floor that catches a collector going quiet on both sides (829 samples by default).
    assert compared > 750, compared
    print(f"{compared} samples compared")


# timex reads adjtimex(2), not the tree: values that drift between the two reads (offset,
# frequency, error bounds) are compared for presence, the rest exactly.
TIMEX_DRIFTING = {
    "node_timex_offset_seconds",
    "node_timex_frequency_adjustment_ratio",
    "node_timex_maxerror_seconds",
    "node_timex_estimated_error_seconds",
}


def test_timex_equals_node_exporter_on_this_machine():
    theirs_text = node_exporter_scrape(*only("timex"), "--web.disable-exporter-metrics")
    ours_text = obsagent_scrape(*only("timex"))
    theirs_families, ours_families = node_families(theirs_text), node_families(ours_text)
    timex = {n for n in theirs_families if n.startswith("node_timex_")}
    assert len(timex) == 17 and {n for n in ours_families if n.startswith("node_timex_")} == timex
    for name in timex:
        assert ours_families[name].type == theirs_families[name].type, name
        assert ours_families[name].documentation == theirs_families[name].documentation, name
    theirs, ours = samples(theirs_text), samples(ours_text)
    for name in {n for n in theirs if n.startswith("node_timex_")}:
        if name in TIMEX_DRIFTING:
            assert set(ours[name]) == set(theirs[name]), name
        else:
            assert ours[name] == theirs[name], name


def test_bad_input_fails_only_its_collector(tmp_path):
    procfs, sysfs = tmp_path / "proc", tmp_path / "sys"
    shutil.copytree(FIXTURES / "proc", procfs)
    shutil.copytree(FIXTURES / "sys", sysfs, symlinks=True)  # sysfs links are cyclic
    (procfs / "net/sockstat").write_text("TCP: inuse five\n")  # garbled
    (procfs / "net/softnet_stat").write_text("000d0d72 00000000\n")  # truncated
    (procfs / "sys/fs/file-nr").write_text("764 0 2466170\n")  # not tab-separated
    (procfs / "net/arp").write_text((FIXTURES / "proc/net/arp").read_text() + "10.0.0.9 0x1 0x2\n")
    (procfs / "net/udp").write_text((FIXTURES / "proc/net/udp").read_text() + "  5: garbage\n")
    (procfs / "net/snmp").write_text("Tcp: A B\nTcp: 1\n")
    (procfs / "net/stat/nf_conntrack").unlink()  # vanished
    shutil.rmtree(procfs / "sys/kernel/random")  # a missing directory
    shutil.rmtree(sysfs / "class/net")  # a missing directory
    (procfs / "schedstat").unlink()
    (procfs / "net/rpc/nfs").write_text("net 1 2 x 4\n")  # garbled
    (procfs / "net/rpc/nfsd").write_text("rc 0 6\n")  # truncated
    (procfs / "net/ip_vs").unlink()  # vanished, while ip_vs_stats is there
    (procfs / "spl/kstat/zfs/arcstats").write_text("6 1 0x01 91 4368 0 0\nname type data\nhits 4 many\n")
    (sysfs / "fs/xfs/sda1/stats/stats").write_text("extent_alloc 92447 97589\n")
    bcache = next((sysfs / "fs/bcache").glob("*-*"))
    (bcache / "bdev0/writeback_rate_debug").unlink()
    shutil.rmtree(next((sysfs / "fs/btrfs").glob("*-*")) / "allocation/system")
    (sysfs / "class/infiniband/mlx4_0/ports/1/state").write_text("ACTIVE\n")
    (sysfs / "class/fc_host/host0/statistics/tx_frames").write_text("0xzz\n")
    shutil.rmtree(sysfs / "class/scsi_tape")  # a missing directory
    broken = {"sockstat", "softnet", "filefd", "arp", "udp_queues", "netstat", "conntrack", "entropy", "netclass"}
    broken |= {"schedstat", "nfs", "nfsd", "ipvs", "zfs", "xfs", "bcache", "btrfs", "infiniband", "fibrechannel"}
    broken |= {"tapestats"}
    process, base = start_daemon(*tree_flags(procfs, sysfs), *only(*broken, "loadavg", "timex"))
    try:
        scraped = samples(scrape(base))
        again = samples(scrape(base))  # the same failures: logged once, when they start
    finally:
        records = stop_daemon(process)
    success = {dict(k)["collector"]: v for k, v in scraped["node_scrape_collector_success"].items()}
    assert {name for name, ok in success.items() if not ok} == broken
    assert again["node_scrape_collector_success"] == scraped["node_scrape_collector_success"]
    assert success["loadavg"] == 1 and success["timex"] == 1
    assert "node_load1" in scraped and "node_timex_sync_status" in scraped
    assert not [n for n in scraped if n.startswith(("node_sockstat_", "node_softnet_", "node_netstat_", "node_arp_"))]
    failures = [r for r in records if r.get("msg") == "collector failed"]
    # A source that isn't there is node_exporter's "no data": success 0, logged at debug only.
    no_data = {"conntrack", "schedstat", "netclass", "tapestats"}
    assert sorted(r["collector"] for r in failures) == sorted(broken - no_data), "one log line per failure"
    assert all(r["error"] for r in failures)


def test_btrfs_device_stats_equal_node_exporter_where_a_btrfs_is_mounted():
    """The ioctl half of btrfs (device sizes, unused bytes, error counters) needs a mounted btrfs:
    compared live where this machine has one (`mkfs.btrfs` on a loop file will do)."""
    if " - btrfs " not in Path("/proc/self/mountinfo").read_text():
        pytest.skip("no btrfs mounted on this machine")
    theirs = samples(node_exporter_scrape(*only("btrfs"), "--web.disable-exporter-metrics"))
    ours = samples(obsagent_scrape(*only("btrfs")))
    for name in ("node_btrfs_device_size_bytes", "node_btrfs_device_unused_bytes", "node_btrfs_device_errors_total"):
        assert ours[name] == theirs[name], name
        assert all("btrfs_dev_uuid" in dict(labels) for labels in ours[name]), name
