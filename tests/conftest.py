"""Shared fixtures: fresh registries, golden files, free ports and the real peers."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import obsagent
import pytest

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = bool(os.environ.get("OBSAGENT_GOLDEN_UPDATE"))


@pytest.fixture
def registry() -> obsagent.CollectorRegistry:
    return obsagent.CollectorRegistry()


def compare_golden(relative: str, rendered: bytes) -> None:
    """Byte-for-byte comparison with tests/golden/<relative>; rewritten by `make golden-update`."""
    path = GOLDEN / relative
    if UPDATE_GOLDEN:
        path.write_bytes(rendered)
    assert rendered.decode() == path.read_bytes().decode(), path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peer(binary: str) -> str:
    """Path of a real peer's binary (installed by `make test`); a missing peer fails under CI."""
    path = shutil.which(binary)
    if path is None:
        message = f"{binary} is not installed (scripts/install-peers.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
