#!/usr/bin/env bash
# The gpu collector on a real GPU: starts the daemon with default flags on loopback, then, in
# the same second, reads every GPU three ways (the daemon's scrape, nvidia-ml-py, and
# `nvidia-smi --query-gpu=...`), compares each reading, measures the daemon's GPU sweep
# (CPU of its obsagent-gpu thread at the default 1 s interval) and its RSS, prints a table and
# exits 1 on any mismatch (2 when it cannot run).
#
# Usage: scripts/gpu-check.sh [--seconds S]   (S: how long the sweep's CPU is measured, 10)
# Environment: OBSAGENT (the daemon's command, default .venv/bin/obsagent or obsagent),
# PYTHON (one with nvidia-ml-py, default .venv/bin/python or python3), NVIDIA_SMI (default
# nvidia-smi; "skip" leaves that column out, as on the stand-in NVML, which has no nvidia-smi).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export OBSAGENT=${OBSAGENT:-$( [ -x .venv/bin/obsagent ] && echo .venv/bin/obsagent || echo obsagent )}
export NVIDIA_SMI=${NVIDIA_SMI:-nvidia-smi}
exec "$PYTHON" - "$@" <<'PY'
import argparse, os, re, shlex, socket, subprocess, sys, time, urllib.request

try:
    import pynvml as n
except ImportError:
    sys.exit("gpu-check: nvidia-ml-py is not installed (pip install nvidia-ml-py)")
parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=float, default=10.0)
args = parser.parse_args()
MIB = 1024 * 1024

def nvml(call, *a):
    try:
        return call(*a)
    except n.NVMLError:
        return None

# reading: (daemon sample, extra labels, nvidia-ml-py read(handle), nvidia-smi field, smi factor, tolerance)
# tolerance: (absolute, relative) for readings that move between three reads in one second.
EXACT, SLOW, FAST = (0.0, 0.0), (1.0, 0.0), (15.0, 0.15)
def field(h, fid):
    (v,) = n.nvmlDeviceGetFieldValues(h, [fid])
    return v.value.uiVal if v.nvmlReturn == 0 else None
def ecc(kind):
    return lambda h: n.nvmlDeviceGetTotalEccErrors(h, kind, n.NVML_AGGREGATE_ECC)
READINGS = [
    ("utilization_percent", {}, lambda h: n.nvmlDeviceGetUtilizationRates(h).gpu, "utilization.gpu", 1, FAST),
    ("memory_utilization_percent", {}, lambda h: n.nvmlDeviceGetUtilizationRates(h).memory, "utilization.memory", 1, FAST),
    ("encoder_utilization_percent", {}, lambda h: n.nvmlDeviceGetEncoderUtilization(h)[0], "utilization.encoder", 1, FAST),
    ("decoder_utilization_percent", {}, lambda h: n.nvmlDeviceGetDecoderUtilization(h)[0], "utilization.decoder", 1, FAST),
    ("memory_used_bytes", {}, lambda h: n.nvmlDeviceGetMemoryInfo(h).used, "memory.used", MIB, (64 * MIB, 0.02)),
    ("memory_total_bytes", {}, lambda h: n.nvmlDeviceGetMemoryInfo(h).total, "memory.total", MIB, (MIB, 0.0)),
    ("memory_free_bytes", {}, lambda h: n.nvmlDeviceGetMemoryInfo(h).free, "memory.free", MIB, (64 * MIB, 0.02)),
    ("memory_reserved_bytes", {}, lambda h: n.nvmlDeviceGetMemoryInfo(h, n.nvmlMemory_v2).reserved, "memory.reserved", MIB, (MIB, 0.0)),
    ("bar1_total_bytes", {}, lambda h: n.nvmlDeviceGetBAR1MemoryInfo(h).bar1Total, None, 1, EXACT),
    ("bar1_used_bytes", {}, lambda h: n.nvmlDeviceGetBAR1MemoryInfo(h).bar1Used, None, 1, (64 * MIB, 0.0)),
    ("temperature_celsius", {}, lambda h: n.nvmlDeviceGetTemperature(h, 0), "temperature.gpu", 1, (3.0, 0.0)),
    ("memory_temperature_celsius", {}, lambda h: field(h, n.NVML_FI_DEV_MEMORY_TEMP), "temperature.memory", 1, (3.0, 0.0)),
    ("power_watts", {}, lambda h: n.nvmlDeviceGetPowerUsage(h) / 1e3, "power.draw", 1, (20.0, 0.2)),
    ("power_limit_watts", {}, lambda h: n.nvmlDeviceGetEnforcedPowerLimit(h) / 1e3, "enforced.power.limit", 1, (0.5, 0.0)),
    ("power_default_limit_watts", {}, lambda h: n.nvmlDeviceGetPowerManagementDefaultLimit(h) / 1e3, "power.default_limit", 1, (0.5, 0.0)),
    ("power_min_limit_watts", {}, lambda h: n.nvmlDeviceGetPowerManagementLimitConstraints(h)[0] / 1e3, "power.min_limit", 1, (0.5, 0.0)),
    ("power_max_limit_watts", {}, lambda h: n.nvmlDeviceGetPowerManagementLimitConstraints(h)[1] / 1e3, "power.max_limit", 1, (0.5, 0.0)),
    ("energy_joules_total", {}, lambda h: n.nvmlDeviceGetTotalEnergyConsumption(h) / 1e3, None, 1, (3000.0, 0.0)),
    ("sm_clock_hz", {}, lambda h: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM) * 1e6, "clocks.sm", 1e6, (0.0, 0.15)),
    ("memory_clock_hz", {}, lambda h: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_MEM) * 1e6, "clocks.mem", 1e6, (0.0, 0.15)),
    ("graphics_clock_hz", {}, lambda h: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_GRAPHICS) * 1e6, "clocks.gr", 1e6, (0.0, 0.15)),
    ("video_clock_hz", {}, lambda h: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_VIDEO) * 1e6, "clocks.video", 1e6, (0.0, 0.15)),
    ("graphics_max_clock_hz", {}, lambda h: n.nvmlDeviceGetMaxClockInfo(h, n.NVML_CLOCK_GRAPHICS) * 1e6, "clocks.max.gr", 1e6, EXACT),
    ("sm_max_clock_hz", {}, lambda h: n.nvmlDeviceGetMaxClockInfo(h, n.NVML_CLOCK_SM) * 1e6, "clocks.max.sm", 1e6, EXACT),
    ("memory_max_clock_hz", {}, lambda h: n.nvmlDeviceGetMaxClockInfo(h, n.NVML_CLOCK_MEM) * 1e6, "clocks.max.mem", 1e6, EXACT),
    ("video_max_clock_hz", {}, lambda h: n.nvmlDeviceGetMaxClockInfo(h, n.NVML_CLOCK_VIDEO) * 1e6, None, 1, EXACT),
    ("fan_speed_percent", {}, lambda h: n.nvmlDeviceGetFanSpeed(h), "fan.speed", 1, (5.0, 0.0)),
    ("performance_state", {}, lambda h: n.nvmlDeviceGetPerformanceState(h), "pstate", 1, SLOW),
    ("pcie_replays_total", {}, lambda h: n.nvmlDeviceGetPcieReplayCounter(h), None, 1, SLOW),
    ("pcie_link_generation", {}, lambda h: n.nvmlDeviceGetCurrPcieLinkGeneration(h), "pcie.link.gen.current", 1, SLOW),
    ("pcie_link_max_generation", {}, lambda h: n.nvmlDeviceGetMaxPcieLinkGeneration(h), "pcie.link.gen.max", 1, EXACT),
    ("pcie_link_width", {}, lambda h: n.nvmlDeviceGetCurrPcieLinkWidth(h), "pcie.link.width.current", 1, EXACT),
    ("pcie_link_max_width", {}, lambda h: n.nvmlDeviceGetMaxPcieLinkWidth(h), "pcie.link.width.max", 1, EXACT),
    ("remapped_rows_correctable_total", {}, lambda h: n.nvmlDeviceGetRemappedRows(h)[0], None, 1, EXACT),
    ("remapped_rows_uncorrectable_total", {}, lambda h: n.nvmlDeviceGetRemappedRows(h)[1], None, 1, EXACT),
    ("remapped_rows_pending", {}, lambda h: n.nvmlDeviceGetRemappedRows(h)[2], None, 1, EXACT),
    ("remapped_rows_failed", {}, lambda h: n.nvmlDeviceGetRemappedRows(h)[3], None, 1, EXACT),
    ("retired_pages_single_bit_ecc_total", {}, lambda h: len(n.nvmlDeviceGetRetiredPages(h, 0)), "retired_pages.single_bit_ecc.count", 1, EXACT),
    ("retired_pages_double_bit_ecc_total", {}, lambda h: len(n.nvmlDeviceGetRetiredPages(h, 1)), "retired_pages.double_bit.count", 1, EXACT),
    ("retired_pages_pending", {}, lambda h: n.nvmlDeviceGetRetiredPagesPendingStatus(h), "retired_pages.pending", 1, EXACT),
    ("ecc_errors_total", {"type": "corrected"}, ecc(0), "ecc.errors.corrected.aggregate.total", 1, EXACT),
    ("ecc_errors_total", {"type": "uncorrected"}, ecc(1), "ecc.errors.uncorrected.aggregate.total", 1, EXACT),
]
for policy, reason in enumerate(["power", "thermal", "sync_boost", "board_limit", "low_utilization", "reliability"]):
    read = lambda h, p=policy: n.nvmlDeviceGetViolationStatus(h, p).violationTime / 1e9
    READINGS.append(("clock_throttle_seconds_total", {"reason": reason}, read, None, 1, (2.0, 0.0)))
INFO = [("pci_bus_id", "pci.bus_id"), ("vbios_version", "vbios_version"), ("serial", "serial"),
        ("compute_capability", "compute_cap"), ("driver_version", "driver_version")]

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def parse(text):
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            out.setdefault(m.group(1), []).append((labels, float(m.group(3))))
    return out

def smi_query(fields):
    if os.environ["NVIDIA_SMI"] == "skip":
        return None
    listed = subprocess.run([os.environ["NVIDIA_SMI"], "--help-query-gpu"], capture_output=True, text=True).stdout
    known = [f for f in fields if f'"{f}"' in listed]
    return known, subprocess.Popen(
        [os.environ["NVIDIA_SMI"], "--query-gpu=uuid," + ",".join(known), "--format=csv,noheader,nounits"],
        stdout=subprocess.PIPE, text=True)

def smi_number(text, factor):
    text = text.strip()
    if text.startswith("[") or text in ("N/A", ""):
        return None
    if re.fullmatch(r"P\d+", text):
        return float(text[1:])
    if text in ("Yes", "No"):
        return 1.0 if text == "Yes" else 0.0
    try:
        return float(text) * factor
    except ValueError:
        return None

port = free_port()
daemon = subprocess.Popen([*shlex.split(os.environ["OBSAGENT"]), "--web.listen-address", f"127.0.0.1:{port}"],
                          stderr=subprocess.DEVNULL)
base = f"http://127.0.0.1:{port}/metrics"
try:
    for _ in range(100):
        try:
            urllib.request.urlopen(base, timeout=2).read()
            break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit(2)
    time.sleep(1.5)  # a sweep of the sampler thread, not only the first one
    n.nvmlInit()
    handles = {n.nvmlDeviceGetUUID(h): h for h in (n.nvmlDeviceGetHandleByIndex(i) for i in range(n.nvmlDeviceGetCount()))}
    smi_fields = sorted({r[3] for r in READINGS if r[3]} | {f for _, f in INFO})
    started = time.monotonic()
    smi = smi_query(smi_fields)  # runs while the other two read
    scraped = parse(urllib.request.urlopen(base, timeout=5).read().decode())
    ours = {uuid: [nvml(r[2], h) for r in READINGS] for uuid, h in handles.items()}
    driver = n.nvmlSystemGetDriverVersion()
    info = {uuid: {"pci_bus_id": nvml(lambda: n.nvmlDeviceGetPciInfo(h).busId), "vbios_version": nvml(n.nvmlDeviceGetVbiosVersion, h),
                   "serial": nvml(n.nvmlDeviceGetSerial, h), "driver_version": driver,
                   "compute_capability": (lambda c: c and f"{c[0]}.{c[1]}")(nvml(n.nvmlDeviceGetCudaComputeCapability, h))}
            for uuid, h in handles.items()}
    smi_rows = {}
    if smi:
        known, process = smi
        for line in process.communicate()[0].splitlines():
            cells = [c.strip() for c in line.split(",")]
            smi_rows[cells[0]] = dict(zip(known, cells[1:]))
    spread = time.monotonic() - started
    rows, bad = [], 0
    def daemon_value(name, labels, uuid):
        for have, value in scraped.get(name, []):
            if have.get("uuid") == uuid and "gpu_instance" not in have and all(have.get(k) == v for k, v in labels.items()):
                return value
        return None
    for uuid in handles:
        for (name, labels, _, smi_field, factor, (absolute, relative)), theirs in zip(READINGS, ours[uuid]):
            metric = f"nvidia_gpu_{name}"
            mine = daemon_value(metric, labels, uuid)
            smi_value = smi_number(smi_rows[uuid][smi_field], factor) if smi_field in smi_rows.get(uuid, {}) else None
            values = [v for v in (mine, theirs, smi_value) if v is not None]
            agree = all(abs(a - b) <= absolute + relative * max(abs(a), abs(b)) for a in values for b in values)
            ok = agree and (mine is None) == (theirs is None)  # left out exactly where NVML has nothing
            bad += not ok
            label = metric + ("{" + ",".join(f"{k}={v}" for k, v in labels.items()) + "}" if labels else "")
            rows.append((label, uuid[:12], mine, theirs, smi_value, "ok" if ok else "MISMATCH"))
        have = next((l for l, _ in scraped.get("nvidia_gpu_info", []) if l.get("uuid") == uuid and "gpu_instance" not in l), {})
        for key, smi_field in INFO:
            mine, theirs = have.get(key), info[uuid][key]
            smi_text = smi_rows.get(uuid, {}).get(smi_field)
            smi_text = None if smi_text is None or smi_text.startswith("[") else smi_text
            if key == "pci_bus_id" and smi_text:  # nvidia-smi prints 8 domain digits, NVML too
                smi_text = smi_text.upper()
            ok = mine == theirs and smi_text in (None, theirs)
            bad += not ok
            rows.append((f"nvidia_gpu_info {key}", uuid[:12], mine, theirs, smi_text, "ok" if ok else "MISMATCH"))
    # The sweep's CPU: the daemon's obsagent-gpu thread, over --seconds at the default 1 s interval.
    task = next(t for t in os.scandir(f"/proc/{daemon.pid}/task")
                if open(f"{t.path}/comm").read().strip() == "obsagent-gpu")
    cpu = lambda: int(open(f"{task.path}/schedstat").read().split()[0]) / 1e9
    cpu_before, wall_before = cpu(), time.monotonic()
    time.sleep(args.seconds)
    cpu_used, wall = cpu() - cpu_before, time.monotonic() - wall_before
    rss_kib = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{daemon.pid}/status").read()).group(1))
    sweep = scraped.get("obsagent_gpu_sweep_duration_seconds", [({}, float("nan"))])[0][1]
finally:
    daemon.terminate()
    daemon.wait(10)

def show(v):
    return "-" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))
print(f"GPU check: {len(handles)} GPU(s), driver {driver}; three reads within {spread:.2f} s"
      + ("" if smi_rows else " (nvidia-smi column skipped)"))
print(f"{'reading':58} {'gpu':12} {'daemon':>14} {'nvidia-ml-py':>14} {'nvidia-smi':>14}  result")
for label, uuid, mine, theirs, smi_value, result in rows:
    print(f"{label:58} {uuid:12} {show(mine):>14} {show(theirs):>14} {show(smi_value):>14}  {result}")
sweeps = wall / 1.0
print(f"sweep: {cpu_used / sweeps * 1e3:.3f} ms CPU per sweep ({cpu_used / wall * 100:.3f}% of a core at the 1 s interval,"
      f" {sweeps:.0f} sweeps), last sweep took {sweep * 1e3:.3f} ms; daemon RSS {rss_kib / 1024:.1f} MiB")
print(f"{len(rows) - bad} of {len(rows)} readings agree" + (f", {bad} MISMATCH" if bad else ""))
sys.exit(1 if bad else 0)
PY
