"""Remote write with a disk queue (issue 18): a receiver outage during which the daemon, or a
Python process with a RemoteWriter, is SIGKILLed and restarted twice, against a real
VictoriaMetrics and a real Prometheus: afterwards every sample scraped while the process was up
is stored, with its original timestamp. Then the faults: a segment cut mid-record, a segment of
another layout version, a full disk (a small tmpfs in a mount namespace of the test's own), an
unwritable directory, two daemons on one directory: each logs its line and the daemon serves on.

The outage lasts OBSAGENT_OUTAGE_SECONDS (8 in `make test`, to keep within its time budget; the
issue's 30 s run: `make test-outage`, or `OBSAGENT_OUTAGE_SECONDS=30 pytest tests/test_remote_write_disk.py`)."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_remote_write import running_prometheus_receiver, running_victoria_metrics, status_server, stored

import obsagent
from conftest import OBSAGENT, free_port, samples, scrape, wait_for
from obsagent.push_daemon import queue_dir_for

OUTAGE = float(os.environ.get("OBSAGENT_OUTAGE_SECONDS", "8"))
INTERVAL_MS = 200


@contextlib.contextmanager
def receiver_at(kind: str, data: Path, port: int) -> Iterator[str]:
    if kind == "prometheus":
        with running_prometheus_receiver(data, port=port) as base:
            yield base
    else:
        with running_victoria_metrics(data / "vm", port) as base:
            yield base


def receiver_took_samples(base: str) -> bool:
    """Whether the receiver has ingested any sample, by its own counters (a query would see them
    only after VictoriaMetrics registers the new series, seconds later)."""
    counted = samples(scrape(base))
    names = ("vm_rows_inserted_total", "prometheus_tsdb_head_samples_appended_total")
    return any(value > 0 for name in names for value in counted.get(name, {}).values())


class Daemon:
    """`obsagent` on loopback with its log in a file, for tests that kill it."""

    def __init__(self, log: Path, *args: str, mount: str | None = None) -> None:
        """`mount`: a mount command run first, in a mount namespace of the daemon's own."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.log_file = log.open("a")
        command = [*OBSAGENT, *args, f"--web.listen-address=127.0.0.1:{self.port}"]
        if mount is not None:
            command = [*in_a_mount_namespace(), f"{mount} && exec {shlex.join(command)}"]
        self.process = subprocess.Popen(command, stderr=self.log_file, stdout=subprocess.DEVNULL)
        wait_for(lambda: self.process.poll() is None and self._answers(), timeout=30)
        self.started = time.time()

    def _answers(self) -> bool:
        try:
            return urllib.request.urlopen(self.base + "/metrics", timeout=2).status == 200
        except OSError:
            return False

    def metric(self, name: str) -> float | None:
        found = samples(scrape(self.base)).get(name, {})
        return sum(found.values()) if found else None

    def kill(self) -> float:
        self.process.send_signal(signal.SIGKILL)
        killed = time.time()
        self.process.wait(timeout=10)
        self.log_file.close()
        return killed

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)
        self.log_file.close()

    def log(self) -> list[dict]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.startswith("{")]


def logged(daemon: Daemon, message: str) -> list[dict]:
    return [record for record in daemon.log() if record["msg"].startswith(message)]


def wait_logged(daemon: Daemon, message: str) -> list[dict]:
    """The lines starting with `message`, once there is one (the writers start after listening)."""
    return wait_for(lambda: logged(daemon, message) or None, timeout=20)


def gaps_within(times: list[int], start: float, end: float, longest_ms: int) -> list[tuple[int, int]]:
    inside = [t for t in times if start * 1000 <= t <= end * 1000]
    return [(a, b) for a, b in zip(inside, inside[1:], strict=False) if b - a > longest_ms]


def daemon_history_problems(got: dict, periods: list[tuple[float, float]]) -> tuple[list[str], list[tuple]]:
    """What is missing from the stored node_time_seconds for each period the daemon was up
    (none: every scrape there, at its own time), and (run, seconds up, scrapes due, stored)."""
    if len(got) != 1:
        return [f"series: {list(got)}"], []
    ((_, points),) = got.items()
    times = sorted({t for t, _ in points})
    problems, report = [], []
    # The original timestamps: node_time_seconds is the clock at the scrape, the sample's time.
    if not all(abs(value - t / 1000) < 1 for t, value in points):
        problems.append("a sample stored at another time than its scrape")
    for index, (start, end) in enumerate(periods):
        inside = [t for t in times if start * 1000 <= t <= end * 1000]
        expected = int((end - start) * 1000 / INTERVAL_MS)
        report.append((index, round(end - start, 1), expected, len(inside)))
        # Every scrape while up: no pause over 2 intervals, from the first interval after it
        # started to the last before it was killed.
        if gaps_within(times, start, end, 2 * INTERVAL_MS):
            problems.append(f"run {index}: gaps {gaps_within(times, start, end, 2 * INTERVAL_MS)}")
        if not inside or inside[0] > (start + 1.0) * 1000 or inside[-1] < (end - 1.0) * 1000:
            problems.append(f"run {index}: stored from {inside[:1]} to {inside[-1:]}, up {start:.3f} to {end:.3f}")
        if len(inside) < expected * 0.8:
            problems.append(f"run {index}: {len(inside)} of {expected}")
    return problems, report


@pytest.mark.parametrize("kind", ["victoria-metrics", "prometheus"])
def test_the_daemon_killed_twice_during_an_outage_loses_no_sample(kind, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v1/write"
    flags = [
        "--collector.disable-defaults",
        "--collector.time",
        f"--remote-write.url={url}",
        f"--remote-write.interval={INTERVAL_MS}ms",
        f"--remote-write.queue-dir={tmp_path / 'queue'}",
    ]
    receiver = receiver_at(kind, tmp_path, port)
    base = receiver.__enter__()
    daemons: list[Daemon] = []
    periods: list[tuple[float, float]] = []
    try:
        daemons.append(Daemon(tmp_path / f"daemon-{len(daemons)}.log", *flags))
        wait_for(lambda: receiver_took_samples(base), timeout=20)
        receiver.__exit__(None, None, None)
        receiver = None
        for _ in range(2):
            time.sleep(OUTAGE / 3)
            periods.append((daemons[-1].started, daemons[-1].kill()))
            daemons.append(Daemon(tmp_path / f"daemon-{len(daemons)}.log", *flags))
        time.sleep(OUTAGE / 3)
        receiver = receiver_at(kind, tmp_path, port)
        receiver.__enter__()
        last = daemons[-1]
        wait_for(lambda: last.metric("obsagent_remote_write_disk_queue_samples") == 0, timeout=60)
        replayed = last.metric("obsagent_remote_write_samples_replayed_total")
        last.stop()
        periods.append((last.started, time.time()))
        # Stored samples become searchable within a second or two: wait for the whole history.
        with contextlib.suppress(TimeoutError):
            wait_for(lambda: not daemon_history_problems(stored(base, "node_time_seconds"), periods)[0], timeout=20)
        problems, report = daemon_history_problems(stored(base, "node_time_seconds"), periods)
    finally:
        for daemon in daemons:
            if daemon.process.poll() is None:
                daemon.stop()
        if receiver is not None:
            receiver.__exit__(None, None, None)
    print(f"\n{kind}: outage {OUTAGE:.0f}s; (run, seconds up, scrapes due, stored) {report}; replayed {replayed}")
    assert problems == [], report
    assert replayed > 0
    for daemon in daemons[1:]:
        assert logged(daemon, "remote write: sending what the disk queue kept"), daemon.log()


CHILD = textwrap.dedent(
    """
    import sys, time, obsagent

    class Ticks:
        # Each collect: the next number, written to a file before the writer has it.
        def __init__(self, path):
            self.path, self.n = path, 0
        def collect(self):
            self.n += 1
            with open(self.path, "a") as f:
                f.write(f"{self.n}\\n")
            family = obsagent.GaugeMetricFamily("rw_kill_tick", "Collect number.", labels=["run"])
            family.add_metric([sys.argv[3]], float(self.n))
            yield family

    registry = obsagent.CollectorRegistry()
    registry.register(Ticks(sys.argv[2]))
    writer = obsagent.RemoteWriter(sys.argv[1], registry=registry, interval=0.2, queue_dir=sys.argv[4])
    print("started", flush=True)
    time.sleep(3600)
    """
)


@pytest.mark.parametrize("kind", ["victoria-metrics", "prometheus"])
def test_a_python_writer_killed_twice_during_an_outage_loses_no_sample(kind, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v1/write"
    script = tmp_path / "child.py"
    script.write_text(CHILD)

    def start(run: int) -> subprocess.Popen:
        args = [sys.executable, str(script), url, str(tmp_path / f"ticks-{run}"), str(run), str(tmp_path / "queue")]
        with (tmp_path / "child.log").open("a") as log:
            child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        assert child.stdout.readline() == "started\n"
        child.stdout.close()
        return child

    receiver = receiver_at(kind, tmp_path, port)
    base = receiver.__enter__()
    children = [start(0)]
    try:
        wait_for(lambda: receiver_took_samples(base), timeout=20)
        receiver.__exit__(None, None, None)
        receiver = None
        for run in (1, 2):
            time.sleep(OUTAGE / 3)
            children[-1].send_signal(signal.SIGKILL)
            children[-1].wait(timeout=10)
            children.append(start(run))
        time.sleep(OUTAGE / 3)
        receiver = receiver_at(kind, tmp_path, port)
        receiver.__enter__()
        time.sleep(1)
        # Killed once more as the receiver is back: a fourth writer sends what is left.
        children[-1].send_signal(signal.SIGKILL)
        children[-1].wait(timeout=10)
        children.append(start(3))

        def complete():
            got = stored(base, "rw_kill_tick")
            runs = {dict(series)["run"]: {int(v) for _, v in points} for series, points in got.items()}
            for run in range(3):
                collected = len((tmp_path / f"ticks-{run}").read_text().split())
                if not set(range(1, collected)) <= runs.get(str(run), set()):
                    return None
            return got

        got = wait_for(complete, timeout=30)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
        if receiver is not None:
            receiver.__exit__(None, None, None)
    report = []
    for run in range(3):
        collected = len((tmp_path / f"ticks-{run}").read_text().split())
        ((_, points),) = [(s, p) for s, p in got.items() if dict(s)["run"] == str(run)]
        values = sorted({v for _, v in points})
        missing = sorted(set(range(1, collected + 1)) - {int(v) for v in values})
        report.append((run, collected, len(values), missing))
        times = [t for t, _ in sorted(set(points), key=lambda p: p[1])]
        assert times == sorted(times), "each collect stored at its own, later time"
        # The collect in progress when the kill came (counted in the file, not yet queued) may
        # be missing; nothing else.
        assert missing in ([], [collected]), report
    print(f"\n{kind}: outage {OUTAGE:.0f}s; (run, collects, stored, missing) {report}")


def fault_flags(queue: Path, url: str) -> list[str]:
    return [
        "--collector.disable-defaults",
        "--collector.time",
        "--collector.cpu",
        "--collector.meminfo",
        f"--remote-write.url={url}",
        "--remote-write.interval=100ms",
        f"--remote-write.queue-dir={queue}",
        "--remote-write.flush-deadline=1ms",  # nobody listens: stop at once
    ]


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/api/v1/write"


def queued_on_disk(daemon: Daemon) -> bool:
    return (daemon.metric("obsagent_remote_write_disk_queue_samples") or 0) > 0


def test_a_segment_cut_mid_record_is_skipped_with_one_line(tmp_path):
    queue, url = tmp_path / "queue", dead_url()
    daemon = Daemon(tmp_path / "1.log", *fault_flags(queue, url))
    one_scrape = wait_for(lambda: daemon.metric("obsagent_remote_write_disk_queue_samples"), timeout=20)
    wait_for(lambda: daemon.metric("obsagent_remote_write_disk_queue_samples") > 3 * one_scrape, timeout=20)
    daemon.kill()
    (segment,) = sorted(Path(queue_dir_for(str(queue), url)).glob("*.seg"))
    with segment.open("r+b") as f:
        f.truncate(segment.stat().st_size - 3)
    daemon = Daemon(tmp_path / "2.log", *fault_flags(queue, url))
    try:
        (torn,) = wait_logged(daemon, "remote write: torn record in the disk queue skipped")
        assert torn["file"] == str(segment) and int(torn["offset"]) > 16
        replayed = daemon.metric("obsagent_remote_write_samples_replayed_total")
        assert replayed and replayed > 0, "the whole records before it are sent"
        assert daemon.metric("node_time_seconds") is not None, "serves on"
    finally:
        daemon.stop()


def test_a_segment_of_another_version_is_refused_naming_the_file(tmp_path):
    queue, url = tmp_path / "queue", dead_url()
    own = Path(queue_dir_for(str(queue), url))
    own.mkdir(parents=True)
    future = own / f"{3:020}.seg"
    future.write_bytes(b"OBSRWQ\r\n" + (2).to_bytes(4, "little") + bytes(4) + b"records of version 2")
    daemon = Daemon(tmp_path / "d.log", *fault_flags(queue, url))
    try:
        (refused,) = wait_logged(daemon, "remote write: disk queue segment refused")
        assert refused["file"] == str(future) and "version 2" in refused["reason"]
        wait_for(lambda: queued_on_disk(daemon), timeout=20)
        assert future.read_bytes().endswith(b"records of version 2"), "left for the version that wrote it"
    finally:
        daemon.stop()


def test_two_daemons_on_one_directory_the_second_queues_in_memory(tmp_path):
    queue, url = tmp_path / "queue", dead_url()
    first = Daemon(tmp_path / "1.log", *fault_flags(queue, url))
    second = Daemon(tmp_path / "2.log", *fault_flags(queue, url))
    try:
        (line,) = wait_logged(second, "remote write: disk queue unusable, queueing in memory")
        assert f"in use by another process (pid {first.process.pid})" in line["error"], line
        assert second.metric("obsagent_remote_write_disk_queue_fallback") == 1
        wait_for(lambda: (second.metric("obsagent_remote_write_queue_samples") or 0) > 0, timeout=20)
        wait_for(lambda: queued_on_disk(first), timeout=20)
        assert first.metric("obsagent_remote_write_disk_queue_fallback") == 0
    finally:
        first.stop()
        second.stop()


def in_a_mount_namespace() -> list[str]:
    """The command prefix that runs a shell command in a mount namespace of its own; skips where
    that cannot be (fails under CI when unshare is missing)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: a tmpfs mounted in a mount namespace of the daemon's own")
    if shutil.which("unshare") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("unshare is missing (util-linux)")
        pytest.skip("unshare is missing (util-linux)")
    return ["unshare", "-m", "--propagation", "private", "sh", "-c"]


def test_a_full_disk_falls_back_to_memory_and_the_daemon_serves_on(tmp_path):
    queue, url = tmp_path / "queue", dead_url()
    queue.mkdir()
    mount = f"mount -t tmpfs -o size=64k tmpfs {shlex.quote(str(queue))}"
    daemon = Daemon(tmp_path / "d.log", *fault_flags(queue, url), mount=mount)
    try:
        (line,) = wait_logged(daemon, "remote write: disk queue write failed, queueing in memory")
        assert "No space left on device" in line["error"], line
        assert daemon.metric("obsagent_remote_write_disk_queue_fallback") == 1
        before = daemon.metric("obsagent_remote_write_queue_samples")
        time.sleep(0.5)
        assert daemon.metric("obsagent_remote_write_queue_samples") > before, "scrapes still queued, in memory"
        assert list(queue.iterdir()) == [], "the tmpfs is the daemon's own: the test's view stays empty"
    finally:
        daemon.stop()


def test_an_unwritable_directory_falls_back_to_memory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    url = dead_url()
    if os.geteuid() == 0:
        # Root writes through permissions: a read-only tmpfs in a namespace of the daemon's own.
        mount = f"mount -t tmpfs -o ro tmpfs {shlex.quote(str(locked))}"
        daemon = Daemon(tmp_path / "d.log", *fault_flags(locked / "queue", url), mount=mount)
    else:
        locked.chmod(0o500)
        daemon = Daemon(tmp_path / "d.log", *fault_flags(locked / "queue", url))
    try:
        (line,) = wait_logged(daemon, "remote write: disk queue unusable, queueing in memory")
        assert str(locked / "queue") in line["error"], line
        assert "Read-only file system" in line["error"] or "Permission denied" in line["error"], line
        assert daemon.metric("obsagent_remote_write_disk_queue_fallback") == 1
        wait_for(lambda: (daemon.metric("obsagent_remote_write_queue_samples") or 0) > 0, timeout=20)
    finally:
        daemon.stop()
        locked.chmod(0o700)


def test_fixed_shards_are_shown_and_bad_shard_or_queue_settings_are_value_errors(registry, tmp_path):
    obsagent.Counter("rw_sharded", "Counts.", ["k"], registry=registry).labels("a").inc()
    with status_server([]) as (url, received):
        writer = obsagent.RemoteWriter(url, registry=registry, interval=3600, min_shards=3, max_shards=3)
        try:
            assert writer.flush(timeout=10)
            assert writer.shards == 3
            assert obsagent.REGISTRY.get_sample_value("obsagent_remote_write_shards", {"url": url}) == 3
            # No disk queue asked for: no disk_queue_* series for this writer.
            assert obsagent.REGISTRY.get_sample_value("obsagent_remote_write_disk_queue_bytes", {"url": url}) is None
        finally:
            writer.stop()
    assert received
    with pytest.raises(ValueError, match="min_shards at most max_shards"):
        obsagent.RemoteWriter(url, registry=registry, min_shards=4, max_shards=2)
    with pytest.raises(ValueError, match="shards must be at least 1"):
        obsagent.RemoteWriter(url, registry=registry, min_shards=0)
    with pytest.raises(ValueError, match="queue_max_bytes"):
        obsagent.RemoteWriter(url, registry=registry, queue_dir=tmp_path, queue_max_bytes=0)
