"""The GPU collector against a stand-in NVML library (tests/nvml_standin/nvml.c), loaded through
the same `--collector.gpu.nvml-library` path as the real one: the golden scrapes (both namings),
MIG devices, fields a GPU doesn't support, XID events, NVLink and row-remapping changes between
sweeps, a GPU that is lost and comes back, an NVML that fails to start, `obsagent.gpu.sample()`,
and a real Prometheus querying the metrics and NVIDIA's dcgm-exporter dashboard."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
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
# When the last XID came: its HELP and TYPE stay in the golden file, its samples don't.
XID_TIME = re.compile(r"^nvidia_gpu_xid_last_timestamp_seconds\{")
# XIDs the stand-in delivers to the H100 (GPU 0) in the golden scrapes; GPU 1 takes no events.
XIDS = "0 79\n0 79\n0 13\n1 48\n"


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


def golden_scrape(tmp_path: Path, *extra: str) -> str:
    """A scrape of the two-GPU fixture once the stand-in has delivered `XIDS`."""
    events = tmp_path / "xids"
    events.write_text(XIDS)
    library = nvml_standin(tmp_path / "lib", "two_gpus.txt", f"xid_events={events}\n")
    process, base = gpu_daemon(library, "--collector.gpu.pcie", "--collector.gpu.interval=100ms", *extra)
    try:
        # Delivered in order: once XID 13 shows, all four lines were read.
        wait_for(lambda: re.search(r'(xid="13"\}|^DCGM_FI_DEV_XID_ERRORS\{.*\}) 1(3)?\.0$', scrape(base), re.M), 5)
        time.sleep(0.3)  # two sweeps more: dcgm's NVLink rate needs two
        return scrape(base)
    finally:
        stop_daemon(process)


def test_golden_scrape_of_two_gpus_one_in_mig_mode(tmp_path):
    body = golden_scrape(tmp_path)
    kept = "".join(
        line + "\n" for line in body.splitlines() if not NON_DETERMINISTIC.match(line) and not XID_TIME.match(line)
    )
    compare_golden("e2e-gpu.prom", kept.encode())
    assert promtool_problems(body.encode()) == []


def test_golden_scrape_under_dcgm_exporter_names(tmp_path):
    body = golden_scrape(tmp_path, "--collector.gpu.names=dcgm")
    kept = "".join(line + "\n" for line in body.splitlines() if not NON_DETERMINISTIC.match(line))
    compare_golden("e2e-gpu-dcgm.prom", kept.encode())
    promtool_problems(body.encode())  # parses; its lint (no _total, CamelCase) is dcgm-exporter's naming
    assert "nvidia_gpu_" not in body, "one naming at a time"


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
    assert (h100["pci_bus_id"], h100["memory_temperature_celsius"], h100["xid_errors_total"]) == (
        "00000000:18:00.0",
        71.0,
        {},
    )
    assert (
        h100["nvlinks"][1]["errors_total"]["crc_flit"] == 4.0 and h100["clock_throttle_seconds_total"]["power"] == 1.5
    )
    a100 = first["devices"][1]
    assert (a100["xid_errors_total"], a100["nvlinks"], a100["remapped_rows_uncorrectable_total"]) == (None, [], 2.0)
    assert again["taken"] >= first["taken"] and again["age_seconds"] < 5


def test_bad_gpu_flags_are_clear_errors():
    result = subprocess.run([*OBSAGENT, "--collector.gpu.interval=soon"], capture_output=True, text=True, timeout=20)
    assert result.returncode == 2 and "'soon' is not a duration" in result.stderr
    result = subprocess.run([*OBSAGENT, "--collector.gpu.interval=0s"], capture_output=True, text=True, timeout=20)
    assert result.returncode == 2 and "more than 0" in result.stderr
    result = subprocess.run([*OBSAGENT, "--collector.gpu.names=dgcm"], capture_output=True, text=True, timeout=20)
    assert result.returncode == 2 and "'dgcm' is not one of 'nvidia', 'dcgm'" in result.stderr


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


H100 = "GPU-6f2a4a4b-1f0e-4b6c-9a8e-0d1c2b3a4f50"
A100 = "GPU-0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def test_new_readings_and_what_a_gpu_does_not_support(tmp_path):
    process, base = gpu_daemon(nvml_standin(tmp_path, "two_gpus.txt"))
    try:
        scraped = samples(scrape(base))
    finally:
        stop_daemon(process)
    assert by_uuid(scraped["nvidia_gpu_memory_temperature_celsius"]) == {H100: 71.0}, "the A100 has none: left out"
    assert by_uuid(scraped["nvidia_gpu_encoder_utilization_percent"]) == {H100: 12.0}
    assert by_uuid(scraped["nvidia_gpu_memory_reserved_bytes"]) == {H100: 633339904.0, A100: 264241152.0}
    assert by_uuid(scraped["nvidia_gpu_power_max_limit_watts"]) == {H100: 700.0, A100: 400.0}
    assert by_uuid(scraped["nvidia_gpu_pcie_link_width"]) == {H100: 16.0, A100: 8.0}
    assert by_uuid(scraped["nvidia_gpu_pcie_replays_total"]) == {H100: 2.0, A100: 0.0}
    assert by_uuid(scraped["nvidia_gpu_remapped_rows_uncorrectable_total"]) == {H100: 0.0, A100: 2.0}
    assert by_uuid(scraped["nvidia_gpu_retired_pages_double_bit_ecc_total"]) == {A100: 1.0}, "the H100 has none"
    links = {dict(k)["link"]: v for k, v in scraped["nvidia_gpu_nvlink_active"].items()}
    assert links == {"0": 1.0, "1": 1.0, "2": 1.0, "3": 1.0}, "the A100 has no NVLink: no series, not 0"
    errors = {(dict(k)["link"], dict(k)["type"]): v for k, v in scraped["nvidia_gpu_nvlink_errors_total"].items()}
    assert errors[("1", "crc_flit")] == 4.0 and len(errors) == 16
    throttled = {dict(k)["reason"]: v for k, v in scraped["nvidia_gpu_clock_throttle_seconds_total"].items()}
    assert throttled["power"] == 1.5 and throttled["low_utilization"] == 9.0
    assert "nvidia_gpu_xid_errors_total" not in scraped, "no XID yet"
    info = {dict(k)["uuid"]: dict(k) for k in scraped["nvidia_gpu_info"]}
    assert (info[H100]["pci_bus_id"], info[H100]["compute_capability"]) == ("00000000:18:00.0", "9.0")
    assert info[H100]["vbios_version"] == "96.00.74.00.01" and info[A100]["serial"] == "1323120012345"


def test_xid_events_between_two_scrapes_are_counted_once(tmp_path):
    events = tmp_path / "xids"
    events.write_text("")
    library = nvml_standin(tmp_path / "lib", "two_gpus.txt", f"xid_events={events}\n")
    process, base = gpu_daemon(library, "--collector.gpu.interval=50ms")

    def xids() -> dict[str, float]:
        return {dict(k)["xid"]: v for k, v in samples(scrape(base)).get("nvidia_gpu_xid_errors_total", {}).items()}

    try:
        assert xids() == {}
        with events.open("a") as file:
            file.write("0 79\n0 79\n1 31\n")  # GPU 1 takes no XID events: its line is not delivered
        first = wait_for(lambda: (x := xids()) and x, 5)
        time.sleep(0.2)
        assert first == xids() == {"79": 2.0}, "the same events, read by two scrapes, counted once"
        with events.open("a") as file:
            file.write("0 48\n")
        assert wait_for(lambda: (x := xids()).get("48") and x, 5) == {"79": 2.0, "48": 1.0}
        scraped = samples(scrape(base))
        (when,) = scraped["nvidia_gpu_xid_last_timestamp_seconds"].values()
        assert abs(time.time() - when) < 10
    finally:
        stop_daemon(process)


def test_a_lost_nvlink_and_a_remapped_row_show_at_the_next_sweep(tmp_path):
    library = nvml_standin(tmp_path / "lib", "two_gpus.txt", "watch=1\n")
    fixture = library.parent / "nvml-fixture.txt"
    process, base = gpu_daemon(library, "--collector.gpu.interval=50ms")
    try:
        before = samples(scrape(base))
        assert {dict(k)["link"]: v for k, v in before["nvidia_gpu_nvlink_active"].items()}["2"] == 1.0
        fixture.write_text(fixture.read_text() + "gpu0.nvlink2.state=0\ngpu1.remapped.uncorrectable=3\n")

        def changed():
            scraped = samples(scrape(base))
            return scraped if by_uuid(scraped["nvidia_gpu_remapped_rows_uncorrectable_total"])[A100] == 3.0 else None

        after = wait_for(changed, 5)
        links = {dict(k)["link"]: v for k, v in after["nvidia_gpu_nvlink_active"].items()}
        assert links == {"0": 1.0, "1": 1.0, "2": 0.0, "3": 1.0}
    finally:
        stop_daemon(process)


# The queries of NVIDIA's dcgm-exporter Grafana dashboard (grafana/dcgm-exporter-dashboard.json:
# its two template variables, then each panel's target), as Grafana sends them with "All"
# selected for $instance and $gpu.
DASHBOARD_VARIABLES = [("DCGM_FI_DEV_GPU_TEMP", "instance"), ("DCGM_FI_DEV_GPU_TEMP", "gpu")]
DASHBOARD_PANELS = {
    "GPU Temperature": 'DCGM_FI_DEV_GPU_TEMP{instance=~"$instance", gpu=~"$gpu"}',
    "GPU Avg. Temp": 'avg(DCGM_FI_DEV_GPU_TEMP{instance=~"$instance", gpu=~"$gpu"})',
    "GPU Power Usage": 'DCGM_FI_DEV_POWER_USAGE{instance=~"$instance", gpu=~"$gpu"}',
    "GPU Power Total": 'sum(DCGM_FI_DEV_POWER_USAGE{instance=~"$instance", gpu=~"$gpu"})',
    "GPU SM Clocks": 'DCGM_FI_DEV_SM_CLOCK{instance=~"$instance", gpu=~"$gpu"} * 1000000',
    "GPU Utilization": 'DCGM_FI_DEV_GPU_UTIL{instance=~"$instance", gpu=~"$gpu"}',
    "GPU Framebuffer Mem Used": 'DCGM_FI_DEV_FB_USED{instance=~"$instance", gpu=~"$gpu"}',
    "Tensor Core Utilization": 'DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{instance=~"$instance", gpu=~"$gpu"}',
}
# Profiling fields need DCGM itself: not served, so their panels stay empty.
PROFILING_PANELS = {"Tensor Core Utilization"}


def label_values(base: str, metric: str, label: str) -> list[str]:
    url = f"{base}/api/v1/label/{label}/values?" + urllib.parse.urlencode({"match[]": metric})
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]


def test_prometheus_answers_the_dcgm_exporter_dashboard(prometheus, tmp_path):
    base, target_port = prometheus
    library = nvml_standin(tmp_path / "lib", "two_gpus.txt")
    process, _ = start_daemon(
        "--collector.disable-defaults",
        "--collector.gpu",
        f"--collector.gpu.nvml-library={library}",
        "--collector.gpu.names=dcgm",
        port=target_port,
    )
    try:
        wait_for(lambda: [r for r in query(base, 'up{job="obsagent"}') if r["value"][1] == "1"])
        wait_for(lambda: query(base, "DCGM_FI_DEV_GPU_TEMP"))
        variables = {label: label_values(base, metric, label) for metric, label in DASHBOARD_VARIABLES}
        assert variables["gpu"] == ["0", "1"] and variables["instance"] == [f"127.0.0.1:{target_port}"]
        answers = {}
        for panel, expr in DASHBOARD_PANELS.items():
            # Grafana's "All" of a multi-value variable: every value, as a regex alternation
            # (escaped for the regex, then for the PromQL string).
            for name, values in variables.items():
                alternation = "(" + "|".join(re.escape(v) for v in values) + ")"
                expr = expr.replace(f"${name}", alternation.replace("\\", "\\\\"))
            answers[panel] = query(base, expr)
        empty = {panel for panel, result in answers.items() if not result}
        assert empty == PROFILING_PANELS, answers
        temperatures = {r["metric"]["gpu"]: float(r["value"][1]) for r in answers["GPU Temperature"]}
        assert temperatures == {"0": 64.0, "1": 48.0}
        assert math.isclose(float(answers["GPU Power Total"][0]["value"][1]), 610.345)
        clocks = sorted(float(r["value"][1]) for r in answers["GPU SM Clocks"])
        assert clocks == [1.41e9, 1.98e9], "MHz, as the dashboard's * 1000000 expects"
        used = {
            (r["metric"]["gpu"], r["metric"].get("GPU_I_ID")): float(r["value"][1])
            for r in answers["GPU Framebuffer Mem Used"]
        }
        assert used == {("0", None): 58368.0, ("1", None): 10240.0, ("1", "1"): 8192.0, ("1", "2"): 2048.0}
        labels = answers["GPU Utilization"][0]["metric"]
        assert {k: labels[k] for k in ("gpu", "UUID", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION")} == {
            "gpu": "0",
            "UUID": H100,
            "device": "nvidia0",
            "modelName": "NVIDIA H100 80GB HBM3",
            "Hostname": labels["Hostname"],
            "DCGM_FI_DRIVER_VERSION": "550.54.15",
        }
        assert labels["Hostname"] and labels["pci_bus_id"] == "00000000:18:00.0"
    finally:
        stop_daemon(process)
