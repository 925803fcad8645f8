"""Shared fixtures: fresh registries, golden files, free ports and the real peers."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# The tests were written for exposition without `_created` series and keep their intent that
# way: both obsagent and the prometheus_client the tests compare with read this at import.
# tests/test_client_bytes.py checks the default (on) and this variable in fresh interpreters.
os.environ["PROMETHEUS_DISABLE_CREATED_SERIES"] = "true"

import obsagent  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = bool(os.environ.get("OBSAGENT_GOLDEN_UPDATE"))


@pytest.fixture(autouse=True)
def _created_series_setting() -> Iterator[None]:
    """Each test starts with `_created` series as the process started (on, unless
    PROMETHEUS_DISABLE_CREATED_SERIES says otherwise), whatever the test before switched."""
    from obsagent import registry as registry_module

    before = registry_module._created_series
    yield
    registry_module._created_series = before


@pytest.fixture
def registry() -> obsagent.CollectorRegistry:
    return obsagent.CollectorRegistry()


def compare_golden(relative: str, rendered: bytes) -> None:
    """Byte-for-byte comparison with tests/golden/<relative>; rewritten by `make golden-update`."""
    path = GOLDEN / relative
    if UPDATE_GOLDEN:
        path.write_bytes(rendered)
    assert rendered.decode() == path.read_bytes().decode(), path


# promtool's lint findings that node_exporter's own scrape has too: its meminfo names keep the
# kernel's CamelCase. And the help-less families of the fixture textfile.
ACCEPTED_LINT = re.compile(
    r"^node_memory_\w+ metric names should be written in 'snake_case' not 'camelCase'$"
    # node_exporter's netstat names keep the kernel's CamelCase, and entropy is counted in bits.
    r"|^node_netstat_\w+ metric names should be written in 'snake_case' not 'camelCase'$"
    r'|^node_entropy_(available|pool_size)_bits use base unit "bytes" instead of "bits"$'
    r"|^(backup_duration_seconds|untyped_thing) no help text$"
    # The name users' GPU alert rules and dashboards use (issue 4), a gauge despite its suffix.
    r'|^nvidia_gpu_count non-histogram and non-summary metrics should not have "_count" suffix$'
)


def promtool_problems(exposition: bytes) -> list[str]:
    """What `promtool check metrics` finds, less the accepted lint; a parse error is a failure."""
    result = subprocess.run([peer("promtool"), "check", "metrics"], input=exposition, capture_output=True)
    findings = (result.stdout + result.stderr).decode().splitlines()
    assert result.returncode in (0, 3), findings  # 3: lint findings only, nothing unparseable
    return [line for line in findings if line and not ACCEPTED_LINT.match(line)]


@contextlib.contextmanager
def prometheus_over_app_and_node(tmp_path: Path, rules_file: Path) -> Iterator[tuple[str, int]]:
    """FASTAPI_SERVED_APP under uvicorn and the daemon (system collectors, the stand-in GPUs),
    both scraped by a real Prometheus evaluating `rules_file`; yields Prometheus' URL and the
    app's port once both targets are up."""
    library = nvml_standin(tmp_path / "nvml", "two_gpus.txt")
    (tmp_path / "served.py").write_text(FASTAPI_SERVED_APP)
    app_port = free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--port", str(app_port), "--host", "127.0.0.1", "served:app"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    node, node_base = start_daemon(f"--collector.gpu.nvml-library={library}")
    jobs = {"node": int(node_base.rsplit(":", 1)[1]), "app": app_port}
    try:
        with running_prometheus(tmp_path, jobs, rules_file) as base:
            wait_for(lambda: len(query(base, "up == 1")) == 2)
            yield base, app_port
    finally:
        stop_daemon(node)
        app.terminate()
        app.wait(timeout=20)


def order_traffic(base: str, app_port: int, until: str) -> None:
    """Orders from FASTAPI_SERVED_APP (1 in 4 fail) across several scrapes, until Prometheus
    at `base` has counted them over a minute and the query `until` returns something (60 s at
    most)."""
    import urllib.error

    deadline, order = time.monotonic() + 60, 0
    while time.monotonic() < deadline:
        order += 1
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{app_port}/orders/{order}", timeout=5).read()
        except urllib.error.HTTPError:
            pass
        if order % 20 == 0 and query(base, "count_over_time(http_requests_total[1m]) >= 3") and query(base, until):
            return


def native_bucket_key(magnitude: float, schema: int) -> int:
    """client_golang's bucket key of a magnitude, written from its formula."""
    import bisect
    import math

    frac, exp = math.frexp(magnitude)
    if schema > 0:
        bounds = [2 ** (j / 2**schema) / 2 for j in range(2**schema)]
        return bisect.bisect_left(bounds, frac) + (exp - 1) * len(bounds)
    key = exp - 1 if frac == 0.5 else exp
    return (key + (1 << -schema) - 1) >> -schema


def bucket_counts(spans, deltas) -> dict[int, int]:
    """A native histogram's spans and deltas back to counts by bucket key (empty buckets left
    out); spans are read as `.offset`, `.length` pairs."""
    counts, key, count, at = {}, 0, 0, 0
    for span in spans:
        key += span.offset  # the first span's offset is its start, the others' the gap
        for _ in range(span.length):
            count += deltas[at]
            at += 1
            if count:
                counts[key] = count
            key += 1
    assert at == len(deltas)
    return counts


def exact_quantile(values: list[float], q: float) -> float:
    """The q-quantile of `values` as Prometheus defines a bucket's rank: the ceil(q*n)-th."""
    import math

    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def promtool(*args: str) -> subprocess.CompletedProcess:
    """promtool with `args`, its output captured as text."""
    return subprocess.run([peer("promtool"), *args], capture_output=True, text=True)


def check_rules(path: Path) -> str:
    """`promtool check rules` on `path`, which must pass; what it reports."""
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def input_series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    """One of a promtool unit test's input series, `values` in its expanding notation."""
    rendered = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{rendered}}}", "values": values}


def firing(rule: dict, labels: dict[str, str]) -> dict:
    """The alert promtool should see `rule` (a rules file's alerting rule) fire for the series
    `labels`: those labels and the rule's, annotations with `$labels` filled in."""
    fill = lambda text: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), text)  # noqa: E731
    return {
        "exp_labels": {**labels, **rule["labels"]},
        "exp_annotations": {key: fill(value) for key, value in rule["annotations"].items()},
    }


def alert_unit_tests(alertname: str, runs: list[tuple[list[dict], list[dict]]]) -> list[dict]:
    """One promtool unit test per `(input series, expected alerts)`: 1m steps, evaluated at 30m."""
    return [
        {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [{"eval_time": "30m", "alertname": alertname, "exp_alerts": expected}],
        }
        for series, expected in runs
    ]


def run_alert_unit_tests(rules_file: Path, tests: list[dict]) -> None:
    """`promtool test rules` of `tests` over `rules_file` (the unit file is written beside it),
    which must pass."""
    from obsagent.rules import to_yaml

    unit = rules_file.with_name("unit.yml")
    unit.write_text(to_yaml({"rule_files": [rules_file.name], "evaluation_interval": "1m", "tests": tests}) + "\n")
    result = promtool("test", "rules", str(unit))
    assert result.returncode == 0, result.stdout + result.stderr


_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, never the same twice in a run: Linux often hands the
    port just released to the next bind, so two calls in a row could name one port."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def peer(binary: str) -> str:
    """Path of a real peer's binary (installed by `make test`); a missing peer fails under CI."""
    path = shutil.which(binary)
    if path is None:
        message = f"{binary} is not installed (scripts/install-peers.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


OBSAGENT = [sys.executable, "-m", "obsagent"]


def start_daemon(*args: str, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """`obsagent <args>` on loopback (a free port unless given); returns the process and its URL."""
    port = port or free_port()
    process = subprocess.Popen(
        [*OBSAGENT, *args, "--web.listen-address", f"127.0.0.1:{port}"],
        stderr=subprocess.PIPE,
        text=True,
    )
    # Lines logged before "listening" (a collector that found nothing, say) are kept for tests.
    process.early_log = []
    while True:
        line = process.stderr.readline()
        assert line, f"the daemon exited before listening: {process.early_log}"
        record = json.loads(line)
        if record["msg"] == "listening":
            return process, f"http://127.0.0.1:{port}"
        process.early_log.append(record)


def stop_daemon(process: subprocess.Popen) -> list[dict]:
    """SIGTERM, then the JSON log lines written after start."""
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=10)
    return [json.loads(line) for line in rest.splitlines() if line.strip()]


def scrape(base: str, query_string: str = "") -> str:
    """`<base>/metrics`, which must answer 200."""
    with urllib.request.urlopen(f"{base}/metrics{query_string}", timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


def samples(text: str) -> dict[str, dict[tuple, float]]:
    """sample name -> {sorted label items: value}, for every sample of a text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def query(base: str, expr: str) -> list[dict]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def wait_for(check, timeout: float = 45.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("Prometheus did not get there in time")
        time.sleep(0.25)


# A FastAPI app instrumented as the README shows, for the tests that run it under uvicorn.
FASTAPI_SERVED_APP = """
from fastapi import FastAPI
from obsagent.asgi import MetricsMiddleware, make_asgi_app

app = FastAPI()
app.add_middleware(MetricsMiddleware)
app.mount("/metrics", make_asgi_app())

@app.get("/orders/{order_id}")
def order(order_id: int):
    if order_id % 4 == 0:
        raise RuntimeError("every fourth order fails")
    return {"id": order_id}
"""

NVML_STANDIN = Path(__file__).parent / "nvml_standin" / "nvml.c"
GPU_FIXTURES = Path(__file__).parent / "fixtures" / "gpu"


def nvml_standin(directory: Path, fixture: str, extra: str = "") -> Path:
    """The stand-in NVML library, built into `directory` with the system C compiler, answering
    from tests/fixtures/gpu/<fixture> (plus `extra` lines); returns the library's path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "nvml-fixture.txt").write_text((GPU_FIXTURES / fixture).read_text() + extra)
    library = directory / "libnvidia-ml.so.1"
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "the GPU tests build a stand-in NVML library and need a C compiler"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(NVML_STANDIN)], check=True)
    return library


@pytest.fixture
def prometheus(tmp_path) -> Iterator[tuple[str, int]]:
    """Prometheus on a free loopback port, scraping 127.0.0.1:<target port> every second."""
    target_port = free_port()
    with running_prometheus(tmp_path, {"obsagent": target_port}) as base:
        yield base, target_port


@contextlib.contextmanager
def running_prometheus(
    tmp_path: Path,
    jobs: dict[str, int],
    rule_file: Path | None = None,
    job_settings: str = "",
    flags: tuple[str, ...] = (),
) -> Iterator[str]:
    """Prometheus on a free loopback port scraping each job's 127.0.0.1:<port> every second (with
    `job_settings`, YAML lines indented for a scrape config, added to each) and evaluating
    `rule_file` every second, started with `flags` too; yields its URL."""
    binary = peer("prometheus")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        + (f"rule_files: ['{rule_file}']\n" if rule_file else "")
        + "scrape_configs:\n"
        + "".join(
            f"  - job_name: {job}\n    static_configs: [{{targets: ['127.0.0.1:{target}']}}]\n{job_settings}"
            for job, target in jobs.items()
        )
    )
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            *flags,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
