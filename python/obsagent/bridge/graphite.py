"""Pushes a registry's samples to Graphite's plaintext protocol, as
``prometheus_client.bridge.graphite``.

Each sample is one line, ``name[.label.value...] value timestamp``, or with ``tags=True``
Graphite's tagged form ``name;label=value``. Characters Graphite cannot keep in a path are
replaced by ``_`` (dots too, so labels stay apart from the name).
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from ..registry import REGISTRY

_NOT_IN_A_PATH = re.compile(r"[^a-zA-Z0-9_-]")


def _sanitize(text: str) -> str:
    return _NOT_IN_A_PATH.sub("_", text)


class GraphiteBridge:
    """Sends ``registry`` to the Graphite server at ``address`` (``(host, port)``)."""

    def __init__(
        self,
        address: tuple[str, int],
        registry: Any = REGISTRY,
        timeout_seconds: float = 30,
        _timer: Callable[[], float] = time.time,
        tags: bool = False,
    ) -> None:
        self._address = address
        self._registry = registry
        self._tags = tags
        self._timeout = timeout_seconds
        self._timer = _timer

    def _line(self, prefix: str, name: str, labels: dict[str, str], value: float, now: int) -> str:
        pairs = sorted((_sanitize(k), _sanitize(v)) for k, v in labels.items())
        if self._tags:
            suffix = "".join(f";{k}={v}" for k, v in pairs)
        else:
            suffix = "".join(f".{k}.{v}" for k, v in pairs)
        return f"{prefix}{_sanitize(name)}{suffix} {float(value)} {now}\n"

    def push(self, prefix: str = "") -> None:
        """Sends every sample once, over a new connection."""
        now = int(self._timer())
        start = prefix + "." if prefix else ""
        lines = [
            self._line(start, sample.name, sample.labels, sample.value, now)
            for metric in self._registry.collect()
            for sample in metric.samples
        ]
        with socket.create_connection(self._address, self._timeout) as connection:
            connection.sendall("".join(lines).encode("ascii"))

    def start(self, interval: float = 60.0, prefix: str = "") -> None:
        """Pushes every ``interval`` seconds from a daemon thread (a failed push is logged)."""
        threading.Thread(target=self._push_forever, args=(interval, prefix), daemon=True).start()

    def _push_forever(self, interval: float, prefix: str) -> None:
        due = time.monotonic()
        while True:
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
                continue
            while due <= now:  # a push that took longer than the interval skips the missed ones
                due += interval
            try:
                self.push(prefix=prefix)
            except OSError:
                logging.exception("Push to Graphite failed")
