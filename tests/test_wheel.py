"""The wheel `make wheel` puts in dist/, as a user gets it: its tags and its library checked, then
installed into a fresh venv under each CPython 3.10-3.13 on the machine and used from there, away
from the source tree (no PYTHONPATH, another working directory), its console script included, and
the suite's files that need nothing but pytest run against it."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
VERSIONS = ["3.10", "3.11", "3.12", "3.13"]
# The suite's files that need only pytest and obsagent: run against each installed wheel.
SMOKE_SUITE = ["test_exposition.py", "test_child_cache.py", "test_guard.py"]
UNDER_CI = os.environ.get("CI") == "true"
# What the wheel is built from: a change to any of these makes dist/'s wheel stale.
SOURCES = [ROOT / "Cargo.toml", ROOT / "Cargo.lock", ROOT / "pyproject.toml"]
SOURCE_SUFFIXES = {".rs", ".py", ".pyi", ".typed"}


def missing(message: str) -> None:
    """Under CI a missing wheel or interpreter is a failure; elsewhere the test is skipped."""
    if UNDER_CI:
        pytest.fail(message)
    pytest.skip(message)


def crate_version() -> str:
    match = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.MULTILINE)
    assert match, "Cargo.toml has no version"
    return match.group(1)


@pytest.fixture(scope="module")
def wheel() -> Path:
    wheels = sorted(DIST.glob(f"obsagent-{crate_version()}-*.whl"))
    if not wheels:
        missing(f"no obsagent {crate_version()} wheel in {DIST} (`make wheel` builds it)")
    assert len(wheels) == 1, f"more than one wheel to test: {wheels}"
    built = wheels[0].stat().st_mtime
    sources = SOURCES + [
        path
        for top in (ROOT / "rust", ROOT / "python")
        for path in top.rglob("*")
        if path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts
    ]
    newer = [str(path.relative_to(ROOT)) for path in sources if path.stat().st_mtime > built]
    if newer:
        missing(f"{wheels[0].name} is older than {newer[:3]} (`make wheel` rebuilds it)")
    return wheels[0]


# What an interpreter must answer to be used: its version, CPython, and venv with pip (ensurepip).
PROBE = "import ensurepip, sys, venv; print('%d.%d' % sys.version_info[:2], sys.implementation.name)"


def interpreter(version: str) -> str | None:
    """The newest CPython <version> that pyenv has, or python<version> on PATH (not a pyenv shim:
    a shim answers only for the versions pyenv selects); checked by running it."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(
        root.glob(f"versions/{version}.*/bin/python{version}"),
        key=lambda path: [int(part) if part.isdigit() else -1 for part in path.parts[-3].split(".")],
        reverse=True,
    )
    for directory in outside_tree(os.environ.get("PATH", "")):
        if "shims" not in Path(directory).parts:
            found.append(Path(directory) / f"python{version}")
    for path in found:
        if not path.is_file():
            continue
        probe = subprocess.run([str(path), "-c", PROBE], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.split() == [version, "cpython"]:
            return str(path)
    return None


def outside_tree(path: str) -> list[str]:
    """The directories of a PATH-like string that are not in the source tree (.venv/bin among them)."""
    return [d for d in path.split(os.pathsep) if d and not Path(d).resolve().is_relative_to(ROOT)]


def clean_env() -> dict[str, str]:
    """The environment without anything that would put the source tree or .venv in the way."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "PROMETHEUS_", "OBSAGENT_"))
    }
    env["PATH"] = os.pathsep.join(outside_tree(env.get("PATH", "")))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


# Run by the venv's interpreter from an empty directory; prints what the test checks as JSON.
SMOKE = r"""
import json, sys, sysconfig, urllib.request

import obsagent
from obsagent import (
    CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary, generate_latest, start_http_server,
)

registry = CollectorRegistry()
Counter("smoke_requests", "Requests served.", ["method"], registry=registry).labels("get").inc(2)
Gauge("smoke_temperature_celsius", "Temperature.", registry=registry).set(21.5)
histogram = Histogram("smoke_latency_seconds", "Latency.", buckets=(0.1, 1.0), registry=registry)
histogram.observe(0.0625)
histogram.observe(0.5)
Summary("smoke_size_bytes", "Size.", registry=registry).observe(512)
Info("smoke_build", "Build.", registry=registry).info({"version": "1.2.3"})
Enum("smoke_state", "State.", states=["starting", "running"], registry=registry).state("running")
exposition = generate_latest(registry).decode()

server = start_http_server(0, addr="127.0.0.1", registry=registry)
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as response:
        status, scraped = response.status, response.read().decode()
finally:
    server.stop()

print(json.dumps({
    "version": "%d.%d" % sys.version_info[:2],
    "platlib": sysconfig.get_paths()["platlib"],
    "package": obsagent.__file__,
    "native": obsagent._native.__file__,
    "obsagent_version": obsagent.__version__,
    "exposition": exposition,
    "status": status,
    "scraped": scraped,
}))
"""

# What prometheus_client 0.26 prints for the same instrumentation (the `_created` times aside).
EXPECTED_LINES = [
    "# HELP smoke_requests_total Requests served.",
    "# TYPE smoke_requests_total counter",
    'smoke_requests_total{method="get"} 2.0',
    "# TYPE smoke_requests_created gauge",
    "# TYPE smoke_temperature_celsius gauge",
    "smoke_temperature_celsius 21.5",
    'smoke_latency_seconds_bucket{le="0.1"} 1.0',
    'smoke_latency_seconds_bucket{le="1.0"} 2.0',
    'smoke_latency_seconds_bucket{le="+Inf"} 2.0',
    "smoke_latency_seconds_count 2.0",
    "smoke_latency_seconds_sum 0.5625",
    "smoke_size_bytes_count 1.0",
    "smoke_size_bytes_sum 512.0",
    'smoke_build_info{version="1.2.3"} 1.0',
    'smoke_state{smoke_state="starting"} 0.0',
    'smoke_state{smoke_state="running"} 1.0',
]


def elf_section_names(library: bytes) -> set[str]:
    """The section names of a little-endian ELF64 shared object."""
    assert library[:4] == b"\x7fELF" and library[4] == 2 and library[5] == 1, "not a little-endian ELF64 file"
    (shoff,) = struct.unpack_from("<Q", library, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", library, 0x3A)
    sections = [struct.unpack_from("<IIQQQQ", library, shoff + i * shentsize) for i in range(shnum)]
    names_offset = sections[shstrndx][4]
    return {library[names_offset + name : library.index(b"\0", names_offset + name)].decode() for name, *_ in sections}


def test_wheel_is_abi3_manylinux2014_and_stripped(wheel):
    version = crate_version()
    assert wheel.name == f"obsagent-{version}-cp310-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    audit = subprocess.run([sys.executable, "-m", "auditwheel", "show", str(wheel)], capture_output=True, text=True)
    assert audit.returncode == 0, audit.stderr
    assert re.search(r'consistent with the following platform tag:\s+"manylinux_2_17_x86_64"', audit.stdout), (
        audit.stdout
    )
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        wheel_metadata = archive.read(f"obsagent-{version}.dist-info/WHEEL").decode()
        metadata = archive.read(f"obsagent-{version}.dist-info/METADATA").decode()
        library = archive.read("obsagent/_native.abi3.so")
    assert "Root-Is-Purelib: false" in wheel_metadata
    assert "Requires-Dist: click>=8" in metadata.splitlines()
    assert "Requires-Python: >=3.10" in metadata.splitlines()
    # The Python package and its stub, nothing from tests/ or the Rust sources.
    assert {"obsagent/__init__.py", "obsagent/cli.py", "obsagent/_native.pyi", "obsagent/py.typed"} <= set(names)
    assert not [name for name in names if name.startswith(("tests/", "rust/")) or name.endswith(".rs")]
    sections = elf_section_names(library)
    assert ".dynsym" in sections and ".text" in sections, sections
    assert not sections & {".symtab", ".debug_info", ".debug_line"}, "the library is not stripped"


@pytest.mark.parametrize("version", VERSIONS)
def test_wheel_installs_and_runs(version, wheel, tmp_path):
    python = interpreter(version)
    if python is None:
        missing(f"no CPython {version} on this machine (pyenv's versions/{version}.*, or python{version} on PATH)")
    env = clean_env()
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, env=env, cwd=tmp_path)
    venv_python = venv / "bin" / "python"
    install = subprocess.run(
        [str(venv_python), "-m", "pip", "install", "-q", str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    (tmp_path / "smoke.py").write_text(SMOKE)
    # -I: no PYTHON* variables, no user site, and not the script's directory on sys.path.
    smoke = subprocess.run(
        [str(venv_python), "-I", str(tmp_path / "smoke.py")], capture_output=True, text=True, env=env, cwd=workdir
    )
    assert smoke.returncode == 0, smoke.stderr
    result = json.loads(smoke.stdout)

    assert result["version"] == version
    site_packages = Path(result["platlib"])
    assert site_packages.is_relative_to(venv), site_packages
    assert Path(result["package"]) == site_packages / "obsagent" / "__init__.py"
    assert Path(result["native"]) == site_packages / "obsagent" / "_native.abi3.so"
    assert result["obsagent_version"] == crate_version()

    lines = result["exposition"].splitlines()
    for line in EXPECTED_LINES:
        assert line in lines, (line, result["exposition"])
    assert result["status"] == 200
    assert result["scraped"] == result["exposition"]

    script = subprocess.run(
        [str(venv / "bin" / "obsagent"), "--version"], capture_output=True, text=True, env=env, cwd=workdir
    )
    assert script.returncode == 0, script.stderr
    assert script.stdout.strip() == f"obsagent, version {crate_version()}"

    # A subset of the suite itself, from a copy outside the tree, against the installed wheel.
    suite = tmp_path / "suite"
    (suite / "tests").mkdir(parents=True)
    for name in ["conftest.py", *SMOKE_SUITE]:
        shutil.copy(ROOT / "tests" / name, suite / "tests" / name)
    shutil.copytree(ROOT / "tests" / "golden", suite / "tests" / "golden")
    pytest_install = subprocess.run(
        [str(venv_python), "-m", "pip", "install", "-q", "pytest"], capture_output=True, text=True, env=env
    )
    assert pytest_install.returncode == 0, pytest_install.stdout + pytest_install.stderr
    run = subprocess.run(
        [str(venv_python), "-I", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "tests"],
        capture_output=True,
        text=True,
        env=env,
        cwd=suite,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert re.search(r"^\d+ passed", run.stdout.splitlines()[-1]), run.stdout[-500:]
