"""scripts/gpu-check.sh, the real-GPU check, run here against the stand-in NVML: the daemon with
default flags and nvidia-ml-py both load it (the dynamic loader finds it first), so their
readings must agree; a daemon reading another fixture must be reported as a mismatch; and
nvidia-smi's column is parsed from a stand-in nvidia-smi that prints what the real one prints
for these fields (CSV, MiB, "P0", "[N/A]")."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import OBSAGENT, nvml_standin

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu-check.sh"

# What nvidia-smi --query-gpu prints for the fixture's H100 and A100, for the fields it lists.
FAKE_SMI = r"""#!/bin/sh
case "$1" in
--help-query-gpu)
  for f in uuid temperature.gpu memory.total power.draw pstate fan.speed pci.bus_id driver_version; do
    echo "\"$f\""
  done ;;
--query-gpu=uuid,driver_version,fan.speed,memory.total,pci.bus_id,power.draw,pstate,temperature.gpu)
  echo "GPU-6f2a4a4b-1f0e-4b6c-9a8e-0d1c2b3a4f50, 550.54.15, [N/A], 81559, 00000000:18:00.0, 512.34, P0, 64"
  echo "GPU-0a1b2c3d-4e5f-6789-abcd-ef0123456789, 550.54.15, 0, 40960, 00000000:3B:00.0, 98.00, P0, 48" ;;
*) echo "unexpected: $*" >&2; exit 2 ;;
esac
"""


def run_check(library: Path, *, obsagent: list[str] | None = None, smi: str = "skip") -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        LD_LIBRARY_PATH=f"{library.parent}:{os.environ.get('LD_LIBRARY_PATH', '')}",
        OBSAGENT=shlex.join(obsagent or OBSAGENT),
        PYTHON=sys.executable,
        NVIDIA_SMI=smi,
    )
    return subprocess.run(
        [str(SCRIPT), "--seconds", "1"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_every_reading_agrees_with_nvidia_ml_py_and_nvidia_smi(tmp_path):
    library = nvml_standin(tmp_path / "lib", "two_gpus.txt")
    smi = tmp_path / "nvidia-smi"
    smi.write_text(FAKE_SMI)
    smi.chmod(0o755)
    result = run_check(library, smi=str(smi))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "106 of 106 readings agree"
    temperature = next(line for line in lines if line.startswith("nvidia_gpu_temperature_celsius "))
    assert temperature.split()[2:] == ["64", "64", "64", "ok"], "all three columns read"
    memory = next(line for line in lines if line.startswith("nvidia_gpu_memory_total_bytes "))
    assert memory.split()[-2] == "8.55208e+10", "MiB from nvidia-smi, in bytes"
    fan = next(line for line in lines if line.startswith("nvidia_gpu_fan_speed_percent "))
    assert fan.split()[2:] == ["-", "-", "-", "ok"], "no fan on the H100: left out by all three"
    assert any(line.startswith("sweep: ") and "CPU per sweep" in line and "RSS" in line for line in lines)


def test_a_reading_that_differs_is_a_mismatch_and_exit_1(tmp_path):
    library = nvml_standin(tmp_path / "lib", "two_gpus.txt")
    other = tmp_path / "other-fixture.txt"
    # The daemon reads a fixture of its own, where the H100 is hotter and has lost its memory sensor.
    text = (library.parent / "nvml-fixture.txt").read_text()
    other.write_text(
        text.replace("gpu0.temperature=64", "gpu0.temperature=90").replace("gpu0.temperature.memory=71\n", "")
    )
    result = run_check(library, obsagent=["env", f"OBSAGENT_NVML_FIXTURE={other}", *OBSAGENT])
    assert result.returncode == 1, result.stdout + result.stderr
    mismatches = [line.split()[0] for line in result.stdout.splitlines() if line.endswith("  MISMATCH")]
    assert mismatches == ["nvidia_gpu_temperature_celsius", "nvidia_gpu_memory_temperature_celsius"]
    assert result.stdout.splitlines()[-1] == "104 of 106 readings agree, 2 MISMATCH"
