"""The GPU collector against a stand-in NVML library (tests/nvml_standin/nvml.c), loaded through
the same `--collector.gpu.nvml-library` path as the real one: the golden scrape, MIG devices,
fields a GPU doesn't support, a GPU that is lost and comes back, an NVML that fails to start,
`obsagent.gpu.sample()`, and a real Prometheus querying the metrics."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

from conftest import (
    OBSAGENT,
    compare_golden,
    nvml_standin,
    promtool_problems,
    query,
    samples,
    scrape,
    start_daemon,
    stop_daemon,
    wait_for,
)

FIXTURES = Path(__file__).parent / "fixtures"
# Values that change from run to run: filtered out of the golden scrape.
NON_DETERMINISTIC = re.compile(
    r"^(# (HELP|TYPE) )?(process_|python_|node_scrape_collector_duration_seconds|obsagent_gpu_sample_age_seconds"
    r"|obsagent_gpu_sweep_duration_seconds)"
)


def gpu_daemon(library: Path, *extra: str):
    """The daemon with only the GPU collector; process names come from the fixture procfs."""
    return start_daemon(
        "--collector.disable-defaults",
        "--collector.gpu",
        f"--collector.gpu.nvml-library={library}",
        f"--path.procfs={FIXTURES / 'proc'}",
        *extra,
    )


def by_uuid(series: dict[tuple, float]) -> dict[str, float]:
    return {dict(labels)["uuid"]: value for labels, value in series.items()}


def test_golden_scrape_of_two_gpus_one_in_mig_mode(tmp_path):
    process, base = gpu_daemon(nvml_standin(tmp_path, "two_gpus.txt"), "--collector.gpu.pcie")
    try:
        body = scrape(base)
    finally:
        stop_daemon(process)
    kept = "".join(line + "\n" for line in body.splitlines() if not NON_DETERMINISTIC.match(line))
    compare_golden("e2e-gpu.prom", kept.encode())
    assert promtool_problems(body.encode()) == []


def test_values_units_mig_devices_and_unsupported_fields(tmp_path):
    process, base = gpu_daemon(nvml_standin(tmp_path, "two_gpus.txt"))
    try:
        scraped = samples(scrape(base))
    finally:
        stop_daemon(process)
    h100, a100 = "GPU-6f2a4a4b-1f0e-4b6c-9a8e-0d1c2b3a4f50", "GPU-0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    mig = "MIG-11111111-2222-3333-4444-555555555555"
    assert scraped["nvidia_gpu_count"] == {(): 2.0}
    assert by_uuid(scraped["nvidia_gpu_power_watts"]) == {h100: 512.345, a100: 98.0}
    assert by_uuid(scraped["nvidia_gpu_energy_joules_total"]) == {h100: 98765432.1}, "the A100 has no energy counter"
    assert by_uuid(scraped["nvidia_gpu_fan_speed_percent"]) == {a100: 0.0}, "the H100 has no fan: left out, not 0"
    assert by_uuid(scraped["nvidia_gpu_utilization_percent"]) == {h100: 87.0}, "no utilization in MIG mode"
    assert by_uuid(scraped["nvidia_gpu_sm_clock_hz"])[h100] == 1.98e9
    assert by_uuid(scraped["nvidia_gpu_memory_used_bytes"])[mig] == 8589934592.0
    mig_labels = next(dict(k) for k in scraped["nvidia_gpu_memory_used_bytes"] if dict(k)["uuid"] == mig)
    assert mig_labels == {
        "gpu": "1",
        "uuid": mig,
        "name": "NVIDIA A100-SXM4-40GB MIG 3g.20gb",
        "gpu_instance": "1",
        "compute_instance": "0",
    }
    processes = {
        (dict(k)["pid"], dict(k)["process"]): v for k, v in scraped["nvidia_gpu_process_memory_used_bytes"].items()
    }
    assert processes == {
        ("4242", "python3"): 53687091200.0,
        ("4343", "trainer"): 7516192768.0,
        ("5151", "vllm"): 8589934592.0,
    }
    reasons = {dict(k)["reason"] for k, v in scraped["nvidia_gpu_clock_throttle_reasons"].items() if v == 1.0}
    assert reasons == {"gpu_idle", "sw_power_cap"}
    ecc = {(dict(k)["uuid"], dict(k)["type"]): v for k, v in scraped["nvidia_gpu_ecc_errors_total"].items()}
    assert ecc[(a100, "uncorrected")] == 1.0 and ecc[(h100, "corrected")] == 3.0
    info = next(dict(k) for k in scraped["nvidia_gpu_info"] if dict(k)["uuid"] == h100)
    assert (info["driver_version"], info["cuda_version"]) == ("550.54.15", "12.4")
    assert "nvidia_gpu_pcie_transmit_bytes_per_second" not in scraped, "PCIe throughput is off by default"
    assert 0 <= scraped["obsagent_gpu_sample_age_seconds"][()] < 5


def test_a_lost_gpu_is_reported_and_comes_back(tmp_path):
    marker = tmp_path / "gpu1-lost"
    library = nvml_standin(tmp_path / "lib", "two_gpus.txt", f"gpu1.lost_if={marker}\n")
    process, base = gpu_daemon(library, "--collector.gpu.interval=50ms")
    a100 = "GPU-0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    try:
        marker.write_text("")

        def lost():
            scraped = samples(scrape(base))
            return scraped if by_uuid(scraped["nvidia_gpu_lost"])[a100] == 1.0 else None

        scraped = wait_for(lost, timeout=5)
        assert a100 not in by_uuid(scraped["nvidia_gpu_temperature_celsius"]), "a lost GPU's readings are left out"
        assert len(by_uuid(scraped["nvidia_gpu_temperature_celsius"])) == 1, "the other GPU is still read"
        assert scraped["node_scrape_collector_success"] == {(("collector", "gpu"),): 1.0}
        marker.unlink()
        back = wait_for(lambda: (s := samples(scrape(base))) and by_uuid(s["nvidia_gpu_lost"])[a100] == 0.0 and s, 5)
        assert by_uuid(back["nvidia_gpu_temperature_celsius"])[a100] == 48.0
    finally:
        records = stop_daemon(process)
    messages = [r["msg"] for r in records if r.get("collector") == "gpu"]
    assert messages == ["GPU lost", "GPU back"], records


def test_no_library_or_a_failed_init_is_one_line_and_no_gpu(tmp_path):
    for library, level in [
        (tmp_path / "absent" / "libnvidia-ml.so.1", "info"),
        (nvml_standin(tmp_path / "failing", "init_failure.txt"), "warn"),
    ]:
        process, base = gpu_daemon(library, "--collector.gpu.interval=50ms")
        try:
            first = scrape(base)
            time.sleep(0.3)  # several sweeps: a failure that lasts is still logged once
            scraped = samples(scrape(base))
        finally:
            records = stop_daemon(process)
        assert "nvidia_gpu_count 0" in first
        assert scraped["node_scrape_collector_success"] == {(("collector", "gpu"),): 1.0}
        logged = [r for r in process.early_log + records if r.get("collector") == "gpu"]
        assert [(r["level"], r["msg"]) for r in logged] == [(level, "no NVIDIA GPU data")], logged
    assert "NVML init failed: Driver Not Loaded (NVML error 9)" in logged[0]["error"]


def test_python_sample_hook(tmp_path):
    library = nvml_standin(tmp_path, "two_gpus.txt")
    script = (
        "import json, obsagent.gpu\n"
        f"first = obsagent.gpu.sample({str(library)!r}, interval=0.05)\n"
        "print(json.dumps([first, obsagent.gpu.sample()]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True)
    first, again = json.loads(result.stdout)
    assert (first["count"], first["error"], first["cuda_version"]) == (2, None, "12.4")
    h100 = first["devices"][0]
    assert h100["power_watts"] == 512.345 and h100["memory_total_bytes"] == 85520809984
    assert "fan_speed_percent" not in h100 and h100["clock_throttle_reasons"] == ["gpu_idle", "sw_power_cap"]
    assert [d["gpu_instance"] for d in first["devices"]] == [None, None, 1, 2]
    assert again["taken"] >= first["taken"] and again["age_seconds"] < 5


def test_bad_gpu_flags_are_clear_errors():
    result = subprocess.run([*OBSAGENT, "--collector.gpu.interval=soon"], capture_output=True, text=True, timeout=20)
    assert result.returncode == 2 and "'soon' is not a duration" in result.stderr
    result = subprocess.run([*OBSAGENT, "--collector.gpu.interval=0s"], capture_output=True, text=True, timeout=20)
    assert result.returncode == 2 and "more than 0" in result.stderr


def test_prometheus_answers_the_gpu_queries(prometheus, tmp_path):
    base, target_port = prometheus
    library = nvml_standin(tmp_path / "lib", "two_gpus.txt")
    process, _ = start_daemon(
        "--collector.disable-defaults", "--collector.gpu", f"--collector.gpu.nvml-library={library}", port=target_port
    )
    try:
        wait_for(lambda: [r for r in query(base, 'up{job="obsagent"}') if r["value"][1] == "1"])
        ratio = query(base, "nvidia_gpu_memory_used_bytes / nvidia_gpu_memory_total_bytes")
        assert len(ratio) == 4 and all(0 < float(r["value"][1]) < 1 for r in ratio), ratio
        utilization = query(base, "nvidia_gpu_utilization_percent")
        assert [float(r["value"][1]) for r in utilization] == [87.0]
        assert math.isclose(float(query(base, "sum(nvidia_gpu_power_watts)")[0]["value"][1]), 610.345)
    finally:
        stop_daemon(process)


def test_a_forked_child_samples_on_its_own(tmp_path):
    """The sampler's thread stays in the parent: a forked child's sample() must not serve the
    parent's last sweep forever."""
    library = nvml_standin(tmp_path, "two_gpus.txt")
    script = (
        "import json, os, time, obsagent.gpu\n"
        f"parent = obsagent.gpu.sample({str(library)!r}, interval=0.05)\n"
        "read, write = os.pipe()\n"
        "if os.fork() == 0:\n"
        f"    first = obsagent.gpu.sample({str(library)!r}, interval=0.05)\n"
        "    time.sleep(0.3)\n"
        "    os.write(write, json.dumps([first['sweeps'], obsagent.gpu.sample()['sweeps']]).encode())\n"
        "    os._exit(0)\n"
        "os.close(write)\n"
        "print(os.read(read, 1000).decode())\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True)
    first, later = json.loads(result.stdout)
    assert first == 1 and later > 2, "the child sweeps with a thread of its own"
