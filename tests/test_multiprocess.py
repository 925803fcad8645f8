"""Multiprocess mode: worker processes write their own files, the daemon (or a worker's
MultiProcessCollector) serves them merged.

Multiprocess mode is process-wide, so every scenario runs in a child Python process: this test
process never turns it on. The real servers are gunicorn (sync workers, with and without
preload_app) and uvicorn (--workers, spawned), loaded from loopback, with workers killed by
SIGKILL mid-test.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import free_port, native_bucket_key, samples, scrape, start_daemon, stop_daemon, wait_for

WORKER_APP = """
import os
import time

from obsagent import Counter, Histogram

REQUESTS = Counter("app_requests", "Requests served.", ["path"])
LATENCY = Histogram("app_latency_seconds", "Time to answer.", ["path"], buckets=[0.001, 0.01, 0.1])


def answer(path):
    started = time.perf_counter()
    REQUESTS.labels(path).inc()
    LATENCY.labels(path).observe(time.perf_counter() - started)
    return str(os.getpid()).encode()


def app(environ, start_response):
    body = answer(environ["PATH_INFO"])
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


async def asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    body = answer(scope["path"])
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
"""


def run_script(source: str, directory: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "OBSAGENT_MULTIPROC_DIR": str(directory)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)], env=env, capture_output=True, text=True, timeout=120, **kwargs
    )


def file_pids(directory: Path) -> set[int]:
    return {int(p.name.split("-")[1]) for p in directory.glob("p-*.shm")}


def family_tree(root: int) -> set[int]:
    """`root` and every live descendant."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return tree


def mapping_file(pid: int, directory: Path) -> bool:
    try:
        return f"{directory}/p-{pid}-" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def fetch(url: str) -> int | None:
    """The pid of the worker that answered, or None when the request failed."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.read())
    except (OSError, http.client.HTTPException, ValueError):  # a worker killed mid-answer
        return None


def load(base: str, count: int) -> tuple[dict[str, int], int, list[int]]:
    """`count` requests, four at a time, alternating /a and /b; returns the answered count per
    path, the number of failed requests and the pids that answered."""
    paths = ["/a" if i % 2 else "/b" for i in range(count)]
    with ThreadPoolExecutor(4) as pool:
        pids = list(pool.map(lambda path: fetch(base + path), paths))
    answered = {"/a": 0, "/b": 0}
    for path, pid in zip(paths, pids, strict=True):
        if pid is not None:
            answered[path] += 1
    return answered, pids.count(None), [pid for pid in pids if pid is not None]


def served(daemon: str) -> dict[str, float]:
    requests = samples(scrape(daemon)).get("app_requests_total", {})
    return {labels[0][1]: value for labels, value in requests.items()}


def histogram_count(daemon: str) -> float:
    counts = samples(scrape(daemon)).get("app_latency_seconds_count", {})
    return sum(counts.values())


SERVERS = {
    "gunicorn": lambda port: ["-m", "gunicorn", "-w", "4", "-b", f"127.0.0.1:{port}", "served:app"],
    "gunicorn-preload": lambda port: [
        "-m",
        "gunicorn",
        "--preload",
        "-w",
        "4",
        "-b",
        f"127.0.0.1:{port}",
        "served:app",
    ],
    "uvicorn": lambda port: [
        "-m",
        "uvicorn",
        "--workers",
        "4",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "served:asgi",
    ],
}


@pytest.mark.parametrize("server", SERVERS)
def test_real_servers_count_exactly_through_worker_kills(tmp_path: Path, server: str):
    directory = tmp_path / "multiproc"
    (tmp_path / "served.py").write_text(WORKER_APP)
    port = free_port()
    master = subprocess.Popen(
        [sys.executable, *SERVERS[server](port)],
        cwd=tmp_path,
        env={**os.environ, "OBSAGENT_MULTIPROC_DIR": str(directory)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    daemon, daemon_url = start_daemon("--collector.disable-defaults", "--multiproc.dir", str(directory))

    def workers() -> set[int]:
        return {pid for pid in family_tree(master.pid) - {master.pid} if mapping_file(pid, directory)}

    try:
        warmups = []  # answered requests while the workers come up

        def ready() -> bool:
            warmups.append(fetch(base + "/warmup"))
            return warmups[-1] is not None and len(workers()) == 4

        wait_for(ready, timeout=60)
        first, failed, pids = load(base, 200)
        assert failed == 0
        first["/warmup"] = len(warmups) - warmups.count(None)
        assert served(daemon_url) == first

        # A worker killed while idle: its totals move to the retired ones, exactly.
        victim = pids[-1]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in workers() and len(workers()) == 4, timeout=60)
        assert served(daemon_url) == first
        assert histogram_count(daemon_url) == sum(first.values())
        assert victim not in file_pids(directory)

        # A worker killed mid-load: a request it was answering may be counted or not, never twice.
        # The victim is chosen first, so the kill lands within the load however fast the machine.
        result = {}
        victim = next(iter(workers()))
        loader = threading.Thread(target=lambda: result.update(zip("afp", load(base, 4000), strict=True)))
        loader.start()
        time.sleep(0.1)
        os.kill(victim, signal.SIGKILL)
        assert loader.is_alive(), "the load ended before the kill"
        loader.join(timeout=120)
        print(server, "requests that failed when a worker was killed:", result["f"])
        wait_for(lambda: victim not in workers() and len(workers()) == 4, timeout=60)
        totals = served(daemon_url)
        for path in ("/a", "/b"):
            low = first[path] + result["a"][path]
            assert low <= totals[path] <= low + result["f"], (path, totals, first, result["a"], result["f"])
        assert result["f"] <= 4

        # One file per live process that uses obsagent, and none of a dead one.
        scrape(daemon_url)
        live = {pid for pid in family_tree(master.pid) if mapping_file(pid, directory)}
        assert file_pids(directory) == live
        assert (master.pid in live) == (server == "gunicorn-preload")
    finally:
        master.terminate()
        master.wait(timeout=30)
        stop_daemon(daemon)


GAUGE_MODES = ["all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent", "livemostrecent"]

# Four children set every gauge, one after another: two stay alive (5, then 3), then two
# exit (1, then 9, which is the most recent of all). Each also adds its value to a counter.
GAUGE_SCRIPT = """
import os, sys, time
from obsagent import Counter, Gauge

MODES = MODES_HERE
gauges = {mode: Gauge(f"g_{mode}", mode, ["k"], multiprocess_mode=mode) for mode in MODES}
total = Counter("work", "Work done.", ["k"])
for value, stays in [(5, True), (3, True), (1, False), (9, False)]:
    done_r, done_w = os.pipe()
    if os.fork() == 0:
        for gauge in gauges.values():
            gauge.labels("x").set(value)
        total.labels("x").inc(value)
        os.write(done_w, b"1")
        if stays:
            sys.stdin.read()
        os._exit(0)
    os.read(done_r, 1)
    time.sleep(0.01)
print("ready", flush=True)
sys.stdin.read()
for _ in range(2):
    os.wait()
""".replace("MODES_HERE", repr(GAUGE_MODES))


def gauge_values(daemon: str) -> dict[str, object]:
    found = samples(scrape(daemon))
    values: dict[str, object] = {"work": found["work_total"][(("k", "x"),)]}
    for mode in GAUGE_MODES:
        series = found.get(f"g_{mode}", {})
        if mode.endswith("all"):
            values[mode] = sorted(value for value in series.values())
        else:
            values[mode] = series.get((("k", "x"),))
    return values


def test_every_gauge_mode_with_live_and_exited_processes_and_a_daemon_restart(tmp_path: Path):
    directory = tmp_path / "multiproc"
    env = {**os.environ, "OBSAGENT_MULTIPROC_DIR": str(directory)}
    script = subprocess.Popen(
        [sys.executable, "-c", GAUGE_SCRIPT], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert script.stdout.readline() == "ready\n"
        with_live = {
            "work": 18.0,
            "all": [1.0, 3.0, 5.0, 9.0],
            "liveall": [3.0, 5.0],
            "min": 1.0,
            "livemin": 3.0,
            "max": 9.0,
            "livemax": 5.0,
            "sum": 18.0,
            "livesum": 8.0,
            "mostrecent": 9.0,
            "livemostrecent": 3.0,
        }
        daemon, url = start_daemon("--collector.disable-defaults", "--multiproc.dir", str(directory))
        assert gauge_values(url) == with_live
        stop_daemon(daemon)
        # The exited children are in retired.shm now, and their files are gone.
        assert len(list(directory.glob("p-*.shm"))) == 3
        daemon, url = start_daemon("--collector.disable-defaults", "--multiproc.dir", str(directory))
        assert gauge_values(url) == with_live
        script.stdin.close()
        script.wait(timeout=30)
        all_exited = {
            **with_live,
            "liveall": [],
            "livemin": None,
            "livemax": None,
            "livesum": None,
            "livemostrecent": None,
        }
        assert gauge_values(url) == all_exited
        assert list(directory.glob("p-*.shm")) == []
        stop_daemon(daemon)
    finally:
        script.kill()
        script.wait()
        script.stdout.close()


CONCURRENT_SCRIPT = """
import json, os, threading
from obsagent import CollectorRegistry, Counter, Histogram
from obsagent.multiprocess import MultiProcessCollector

N = 20000
hits = Counter("hits", "Hits.", ["k"])
sizes = Histogram("sizes", "Sizes.", ["k"], buckets=[1, 10])
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        def work():
            child, histogram = hits.labels("x"), sizes.labels("x")
            for i in range(N):
                child.inc()
                histogram.observe(i % 20)
        threads = [threading.Thread(target=work) for _ in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        os._exit(0)
    children.append(pid)
registry = CollectorRegistry()
MultiProcessCollector(registry)
seen = []
while children:
    seen.append((registry.get_sample_value("hits_total", {"k": "x"}) or 0.0,
                 registry.get_sample_value("sizes_count", {"k": "x"}) or 0.0))
    pid, _ = os.waitpid(-1, os.WNOHANG)
    if pid:
        children.remove(pid)
seen.append((registry.get_sample_value("hits_total", {"k": "x"}), registry.get_sample_value("sizes_count", {"k": "x"})))
print(json.dumps({"seen": seen, "pid": os.getpid(), "files": sorted(os.listdir(os.environ["OBSAGENT_MULTIPROC_DIR"]))}))
"""


def test_concurrent_writers_while_a_reader_scrapes_and_folds(tmp_path: Path):
    result = run_script(CONCURRENT_SCRIPT, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    seen = report["seen"]
    assert len(seen) > 3
    for earlier, later in zip(seen, seen[1:], strict=False):
        assert later[0] >= earlier[0] and later[1] >= earlier[1], (earlier, later)
    assert seen[-1] == [4 * 2 * 20000.0, 4 * 2 * 20000.0]
    # The children's files are folded and gone: the reader's own file and the retired totals remain.
    assert len(report["files"]) == 2 and report["files"][1] == "retired.shm"
    assert report["files"][0].startswith(f"p-{report['pid']}-")


BAD_FILES_SCRIPT = """
import os
from obsagent import CollectorRegistry, Counter, generate_latest
from obsagent.multiprocess import MultiProcessCollector

directory = os.environ["OBSAGENT_MULTIPROC_DIR"]
Counter("kept", "Still served.").inc(7)
size = os.path.getsize([os.path.join(directory, f) for f in os.listdir(directory) if f.startswith("p-")][0])

def make(name, header, log=b"", length=size):
    with open(os.path.join(directory, name), "wb") as f:
        f.write(header)
        if log:
            f.seek(4096)
            f.write(log)
        f.truncate(length)

version = (2).to_bytes(8, "little")
published = lambda n: version + bytes(16) + n.to_bytes(8, "little")
make("p-101-1.shm", b"OBSAGSHM" + version, length=100)
make("p-102-1.shm", b"OBSAGSHM" + (1).to_bytes(8, "little"))
make("p-103-1.shm", b"OBSAGSHM" + published(16), log=(16).to_bytes(4, "little") + bytes([9]) + bytes(11))
make("counter_104.db", b"\\x00" * 8, length=4096)
registry = CollectorRegistry()
MultiProcessCollector(registry)
first = generate_latest(registry).decode()
second = generate_latest(registry).decode()
assert first == second, (first, second)
print(first)
"""


def test_bad_files_are_reported_once_and_skipped(tmp_path: Path):
    result = run_script(BAD_FILES_SCRIPT, tmp_path)
    assert result.returncode == 0, result.stderr
    found = samples(result.stdout)
    assert found["kept_total"] == {(): 7.0}
    assert found["obsagent_multiprocess_files"] == {(("state", "live"),): 1.0, (("state", "skipped"),): 4.0}
    logged = [json.loads(line) for line in result.stderr.splitlines()]
    reasons = {Path(record["file"]).name: record["msg"].split(": ", 1)[1] for record in logged}
    assert len(logged) == 4, logged
    assert reasons["p-101-1.shm"].startswith("truncated: 100 bytes")
    assert reasons["p-102-1.shm"] == "layout version 1, this obsagent reads version 2"
    assert reasons["p-103-1.shm"] == "corrupt log at byte 0: unknown record type 9"
    assert reasons["counter_104.db"] == "not an obsagent process file (p-<pid>-<start>.shm)"


def test_remove_and_clear_work_across_processes(tmp_path: Path):
    script = """
    import os
    from obsagent import CollectorRegistry, Counter, generate_latest
    from obsagent.multiprocess import MultiProcessCollector

    c = Counter("jobs", "Jobs.", ["kind"])
    for kind in "abc":
        c.labels(kind).inc()
    c.remove("a")
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    print(sorted(s.labels["kind"] for m in registry.collect() for s in m.samples if s.name == "jobs_total"))
    c.clear()
    c.labels("d").inc(2)
    print(sorted((s.labels["kind"], s.value) for m in registry.collect() for s in m.samples if s.name == "jobs_total"))
    """
    result = run_script(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["['b', 'c']", "[('d', 2.0)]"]


def test_a_process_that_exits_normally_stays_counted(tmp_path: Path):
    """An interpreter tearing its metrics down at exit (gunicorn's max_requests restarts a worker
    this way) is not a removal: readers started after it count it among the retired totals,
    and a series removed while it ran stays removed."""
    worker = """
    import sys
    from obsagent import Counter, Histogram

    c = Counter("jobs", "Jobs.", ["kind"])
    c.labels("a").inc(3)
    c.labels("gone").inc()
    c.remove("gone")
    Histogram("latency", "Latency.").observe(0.2)
    sys.exit(0)
    """
    reader = """
    from obsagent import CollectorRegistry
    from obsagent.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    print(registry.get_sample_value("jobs_total", {"kind": "a"}), registry.get_sample_value("latency_count"))
    print(registry.get_sample_value("jobs_total", {"kind": "gone"}))
    """
    assert run_script(worker, tmp_path).returncode == 0
    assert run_script(reader, tmp_path).stdout.splitlines() == ["3.0 1.0", "None"]
    assert run_script(worker, tmp_path).returncode == 0
    assert run_script(reader, tmp_path).stdout.splitlines() == ["6.0 2.0", "None"]


def test_a_directory_that_cannot_be_written_is_a_clear_error(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_script("import obsagent", blocker / "metrics")
    assert result.returncode == 1
    assert f"multiprocess directory {blocker}/metrics: Not a directory" in result.stderr
    daemon = subprocess.run(
        [
            sys.executable,
            "-m",
            "obsagent",
            "--multiproc.dir",
            str(blocker / "metrics"),
            "--web.listen-address",
            f"127.0.0.1:{free_port()}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert daemon.returncode == 1
    assert json.loads(daemon.stderr.splitlines()[-1])["msg"] == "bad multiprocess directory"


NATIVE_SCRIPT = """
import json, os, sys
sys.path.insert(0, os.environ["TESTS_DIR"])
from metrics_proto import parse_delimited
from obsagent import CollectorRegistry, Histogram, _native
from obsagent.multiprocess import MultiProcessCollector

h = Histogram("native_seconds", "Native.", ["w"], native_histogram_bucket_factor=1.1,
              native_histogram_max_bucket_number=40)
spreads = {0: [0.001 * 1.01**i for i in range(100)], 1: [0.5 + i / 100 for i in range(100)],
           2: [10.0**(i / 10) for i in range(-30, 30)], 3: [-2.0, 0.0, 5.0]}
children = []
for worker, values in spreads.items():
    pid = os.fork()
    if pid == 0:
        for value in values:
            h.labels("all").observe(value)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
h.labels("all").observe(7.5)  # this process, alive
registry = CollectorRegistry()
MultiProcessCollector(registry)
body, _ = _native.pushgateway_protobuf(registry._native)
(family,) = [f for f in parse_delimited(body) if f.name == "native_seconds"]
(metric,) = family.metric
hist = metric.histogram
def counts(spans, deltas):
    out, key, count, at = {}, 0, 0, 0
    for span in spans:
        key += span.offset
        for _ in range(span.length):
            count += deltas[at]; at += 1
            if count: out[key] = count
            key += 1
    return out
print(json.dumps({"schema": hist.schema, "count": hist.sample_count, "sum": hist.sample_sum,
                  "zero": hist.zero_count, "positive": counts(hist.positive_span, hist.positive_delta),
                  "negative": counts(hist.negative_span, hist.negative_delta),
                  "values": [v for vs in spreads.values() for v in vs] + [7.5]}))
"""


def test_native_histograms_merge_across_processes(tmp_path: Path):
    import math

    env = {**os.environ, "OBSAGENT_MULTIPROC_DIR": str(tmp_path), "TESTS_DIR": str(Path(__file__).parent)}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(NATIVE_SCRIPT)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    merged = json.loads(result.stdout)
    values = merged["values"]
    assert merged["count"] == len(values)
    assert math.isclose(merged["sum"], math.fsum(values), rel_tol=1e-9)
    assert merged["schema"] < 3, "the wide worker's reduced schema is the merged one"
    positive: dict[str, int] = {}
    for value in values:
        if value > 0:
            key = str(native_bucket_key(value, merged["schema"]))
            positive[key] = positive.get(key, 0) + 1
    assert merged["positive"] == positive
    assert merged["negative"] == {str(native_bucket_key(2.0, merged["schema"])): 1}
    assert merged["zero"] == 1


def test_summary_quantiles_stay_per_process_count_and_sum_merge(tmp_path: Path):
    script = """
    import os
    from obsagent import CollectorRegistry, REGISTRY, Summary
    from obsagent.multiprocess import MultiProcessCollector

    s = Summary("work_seconds", "Work.", quantiles={0.5: 0.01})
    children = []
    for worker in range(3):
        pid = os.fork()
        if pid == 0:
            for value in range(100):
                s.observe(worker * 100 + value)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    s.observe(1000)
    merged = CollectorRegistry()
    MultiProcessCollector(merged)
    print(sorted((x.name, x.labels.get("quantile"), x.value) for m in merged.collect() for x in m.samples
                 if x.name.startswith("work_seconds")))
    print([(x.labels["quantile"], x.value) for m in REGISTRY.collect() for x in m.samples
           if x.name == "work_seconds" and "quantile" in x.labels])
    """
    result = run_script(script, tmp_path)
    assert result.returncode == 0, result.stderr
    merged, own = result.stdout.splitlines()
    # Merged: count and sum of all four processes, and no quantile line (they cannot be merged).
    count, total = 301, sum(range(300)) + 1000
    assert merged == str(sorted([("work_seconds_count", None, float(count)), ("work_seconds_sum", None, float(total))]))
    # A process' own registry: its own quantiles (this one observed 1000 only).
    assert own == "[('0.5', 1000.0)]"


def test_exemplars_cross_processes_the_latest_wins(tmp_path: Path):
    script = """
    import os, signal, time
    from obsagent import CollectorRegistry, Counter, Histogram, _native
    from obsagent.multiprocess import MultiProcessCollector
    from obsagent.openmetrics.exposition import generate_latest

    c = Counter("jobs", "Jobs.", ["k"])
    h = Histogram("latency_seconds", "Latency.", buckets=[1])
    children = []
    for worker, (stamp, value) in enumerate([(100.0, 0.5), (300.0, 0.25), (200.0, 5.0)]):
        pid = os.fork()
        if pid == 0:
            _native._freeze_time(stamp)
            c.labels("a").inc(exemplar={"trace_id": f"w{worker}"})
            h.observe(value, exemplar={"trace_id": f"w{worker}"})
            time.sleep(30)  # alive while the parent reads: a live process' exemplars
            os._exit(0)
        children.append(pid)
        time.sleep(0.2)
    time.sleep(0.5)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    print(generate_latest(registry).decode())
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    """
    result = run_script(script, tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert 'jobs_total{k="a"} 3.0 # {trace_id="w1"} 1.0 300.0' in text, text
    assert 'latency_seconds_bucket{le="1.0"} 2.0 # {trace_id="w1"} 0.25 300.0' in text, text
    assert 'latency_seconds_bucket{le="+Inf"} 3.0 # {trace_id="w2"} 5.0 200.0' in text, text
