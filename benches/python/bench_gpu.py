#!/usr/bin/env python3
"""One sweep of every GPU through obsagent's core beside the same sweep through nvidia-ml-py,
measured in the same run.

Both load the stand-in NVML library (tests/nvml_standin/nvml.c, two GPUs, one in MIG mode with
two MIG devices), which answers from memory: what is measured is the caller's own cost per
sweep, the part an agent adds to what the driver costs.
- obsagent: the core's sampler thread sweeping every millisecond for a while; its CPU time
  (from /proc/self/task/<tid>/schedstat) divided by the sweeps it made.
- nvidia-ml-py: the same NVML calls from a Python loop (names, UUIDs, PCI ids and NVLink links
  read once, as the core does; an unsupported field caught as NVMLError, as an exporter must;
  the readings of issue 19 included: encoder/decoder, reserved and BAR1 memory, power limits,
  clocks, PCIe link, row remapping, retired pages, clock-event durations, memory temperature
  and NVLink state, errors and throughput), CPU time by
  time.thread_time(), in a child process whose loader finds the stand-in first.
Reported: CPU per sweep, and the share of one core each would use at the default 1 s interval.
Usage: bench_gpu.py [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PYNVML_SWEEP = r"""
import json, sys, time
import pynvml as n

def device(handle, out):
    def read(call, *args):
        try:
            return call(handle, *args)
        except n.NVMLError:
            return None
    rates = read(n.nvmlDeviceGetUtilizationRates)
    memory = read(n.nvmlDeviceGetMemoryInfo)
    out.append((rates and (rates.gpu, rates.memory), memory and (memory.used, memory.total, memory.free)))
    out.append(read(n.nvmlDeviceGetTemperature, n.NVML_TEMPERATURE_GPU))
    for call in (n.nvmlDeviceGetPowerUsage, n.nvmlDeviceGetEnforcedPowerLimit, n.nvmlDeviceGetTotalEnergyConsumption,
                 n.nvmlDeviceGetFanSpeed, n.nvmlDeviceGetPerformanceState, n.nvmlDeviceGetCurrentClocksEventReasons):
        out.append(read(call))
    out.append(read(n.nvmlDeviceGetClockInfo, n.NVML_CLOCK_SM))
    out.append(read(n.nvmlDeviceGetClockInfo, n.NVML_CLOCK_MEM))
    for kind in (n.NVML_MEMORY_ERROR_TYPE_CORRECTED, n.NVML_MEMORY_ERROR_TYPE_UNCORRECTED):
        out.append(read(n.nvmlDeviceGetTotalEccErrors, kind, n.NVML_AGGREGATE_ECC))
    for process in read(n.nvmlDeviceGetComputeRunningProcesses) or []:
        try:
            name = open(f"/proc/{process.pid}/comm").read().strip()
        except OSError:
            name = ""
        out.append((process.pid, name, process.usedGpuMemory))

def whole_gpu(handle, links, out):
    # The readings of a whole GPU (issue 19), as the core reads them.
    def read(call, *args):
        try:
            return call(handle, *args)
        except n.NVMLError:
            return None
    out.append((read(n.nvmlDeviceGetEncoderUtilization), read(n.nvmlDeviceGetDecoderUtilization)))
    memory = read(n.nvmlDeviceGetMemoryInfo, n.nvmlMemory_v2)
    bar1 = read(n.nvmlDeviceGetBAR1MemoryInfo)
    out.append((memory and memory.reserved, bar1 and (bar1.bar1Used, bar1.bar1Total, bar1.bar1Free)))
    for call in (n.nvmlDeviceGetPowerManagementDefaultLimit, n.nvmlDeviceGetPowerManagementLimitConstraints,
                 n.nvmlDeviceGetPcieReplayCounter, n.nvmlDeviceGetCurrPcieLinkGeneration,
                 n.nvmlDeviceGetMaxPcieLinkGeneration, n.nvmlDeviceGetCurrPcieLinkWidth,
                 n.nvmlDeviceGetMaxPcieLinkWidth, n.nvmlDeviceGetRemappedRows,
                 n.nvmlDeviceGetRetiredPagesPendingStatus):
        out.append(read(call))
    for clock in (n.NVML_CLOCK_GRAPHICS, n.NVML_CLOCK_VIDEO):
        out.append(read(n.nvmlDeviceGetClockInfo, clock))
    for clock in (n.NVML_CLOCK_GRAPHICS, n.NVML_CLOCK_SM, n.NVML_CLOCK_MEM, n.NVML_CLOCK_VIDEO):
        out.append(read(n.nvmlDeviceGetMaxClockInfo, clock))
    for cause in (0, 1):
        pages = read(n.nvmlDeviceGetRetiredPages, cause)
        out.append(pages and len(pages))
    for policy in range(6):
        violation = read(n.nvmlDeviceGetViolationStatus, policy)
        out.append(violation and violation.violationTime / 1e9)
    ids = [n.NVML_FI_DEV_MEMORY_TEMP]
    for link in links:
        ids += [(n.NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX, link), (n.NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX, link)]
    values = read(n.nvmlDeviceGetFieldValues, ids) or []
    out.append([(v.value.ullVal if v.valueType == 3 else v.value.uiVal) for v in values if v.nvmlReturn == 0])
    for link in links:
        out.append(read(n.nvmlDeviceGetNvLinkState, link))
        for counter in range(4):
            out.append(read(n.nvmlDeviceGetNvLinkErrorCounter, link, counter))

def sweep(gpus):
    out = []
    for handle, gpu_links in zip(gpus, links):
        device(handle, out)
        whole_gpu(handle, gpu_links, out)
        try:
            mig = n.nvmlDeviceGetMigMode(handle)[0] == 1
        except n.NVMLError:
            mig = False
        if mig:
            for index in range(n.nvmlDeviceGetMaxMigDeviceCount(handle)):
                try:
                    child = n.nvmlDeviceGetMigDeviceHandleByIndex(handle, index)
                except n.NVMLError:
                    continue
                out.append((n.nvmlDeviceGetUUID(child), n.nvmlDeviceGetName(child),
                            n.nvmlDeviceGetGpuInstanceId(child), n.nvmlDeviceGetComputeInstanceId(child)))
                device(child, out)
    return out

n.nvmlInit()
gpus = [n.nvmlDeviceGetHandleByIndex(i) for i in range(n.nvmlDeviceGetCount())]
static = [(n.nvmlDeviceGetName(h), n.nvmlDeviceGetUUID(h), n.nvmlDeviceGetPciInfo(h).busId,
           n.nvmlDeviceGetVbiosVersion(h), n.nvmlDeviceGetSerial(h), n.nvmlDeviceGetCudaComputeCapability(h))
          for h in gpus]

def probe_links(handle):
    # The NVLink links a GPU has, found once as the core does.
    found = []
    for link in range(n.NVML_NVLINK_MAX_LINKS):
        try:
            n.nvmlDeviceGetNvLinkState(handle, link)
            found.append(link)
        except n.NVMLError:
            pass
    return found

links = [probe_links(h) for h in gpus]
seconds = float(sys.argv[1])
sweeps, started = 0, time.thread_time()
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    sweep(gpus)
    sweeps += 1
print(json.dumps({"cpu_per_sweep": (time.thread_time() - started) / sweeps, "sweeps": sweeps,
                  "devices": len(static)}))
"""


def build_stand_in(directory: Path) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        sys.exit("bench_gpu.py builds the stand-in NVML library and needs a C compiler")
    shutil.copy(ROOT / "tests/fixtures/gpu/two_gpus.txt", directory / "nvml-fixture.txt")
    library = directory / "libnvidia-ml.so.1"
    subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-o", str(library), str(ROOT / "tests/nvml_standin/nvml.c")], check=True
    )
    return library


def thread_cpu_seconds(name: str) -> float:
    """CPU time of this process's thread called `name`, in seconds (nanosecond schedstat). A new
    thread names itself once it runs, so it is looked for during a second."""
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        for task in Path("/proc/self/task").iterdir():
            if (task / "comm").read_text().strip() == name:
                return int((task / "schedstat").read_text().split()[0]) / 1e9
        time.sleep(0.01)
    raise LookupError(f"no thread named {name}")


def obsagent_sweep(library: Path, seconds: float) -> dict:
    import obsagent.gpu

    first = obsagent.gpu.sample(str(library), interval=0.001)
    assert first["count"] == 2 and first["error"] is None, first
    cpu_before = thread_cpu_seconds("obsagent-gpu")
    time.sleep(seconds)
    cpu = thread_cpu_seconds("obsagent-gpu") - cpu_before
    last = obsagent.gpu.sample()
    sweeps = last["sweeps"] - first["sweeps"]
    return {"cpu_per_sweep": cpu / sweeps, "sweeps": sweeps, "devices": len(last["devices"])}


def pynvml_sweep(library: Path, seconds: float) -> dict | None:
    try:
        import pynvml  # noqa: F401
    except ImportError:
        return None
    env = dict(os.environ, LD_LIBRARY_PATH=f"{library.parent}:{os.environ.get('LD_LIBRARY_PATH', '')}")
    result = subprocess.run(
        [sys.executable, "-c", PYNVML_SWEEP, str(seconds)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="obsagent-bench-nvml-") as directory:
        library = build_stand_in(Path(directory))
        theirs = pynvml_sweep(library, args.seconds)
        ours = obsagent_sweep(library, args.seconds)
    print(f"GPU sweep through the stand-in NVML (2 GPUs + 2 MIG devices); load {os.getloadavg()[0]:.2f}")
    print(f"{'':34} {'nvidia-ml-py':>13} {'obsagent':>10} {'ratio':>8}")
    if theirs is None:
        print("nvidia-ml-py is not installed (make setup installs it): no reference figure")
        theirs = {"cpu_per_sweep": float("nan"), "sweeps": 0}
    for label, scale, unit in [("CPU per sweep", 1e6, "us"), ("CPU share at a 1 s interval", 100, "%")]:
        a, b = theirs["cpu_per_sweep"] * scale, ours["cpu_per_sweep"] * scale
        print(f"{label + ' (' + unit + ')':34} {a:13.3f} {b:10.3f} {a / b:7.1f}x")
    print(f"sweeps measured: nvidia-ml-py {theirs['sweeps']}, obsagent {ours['sweeps']}")


if __name__ == "__main__":
    main()
