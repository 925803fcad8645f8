"""The Python side's one logger: a JSON object per line on stderr,
``{"ts": "...Z", "level": ..., "msg": ..., **fields}``, the shape the core logs in; or, after
``configure(format="logfmt")``, node_exporter's ``time=... level=INFO msg=...`` lines. Lines
below the configured level (node_exporter's ``--log.level``) are dropped. The settings live in
the environment (``OBSAGENT_LOG_LEVEL``, ``OBSAGENT_LOG_FORMAT``), where the core's logger
(``rust/src/log.rs``) reads them too."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

#: node_exporter's levels, lowest first.
LEVELS = ("debug", "info", "warn", "error")
#: node_exporter's formats; obsagent writes JSON lines unless told otherwise.
FORMATS = ("logfmt", "json")


def configure(level: str = "info", format: str | None = None) -> None:  # noqa: A002 (node_exporter's name)
    """Sets the level and format of every later line, of both halves (``format=None``: JSON)."""
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; known: {', '.join(LEVELS)}")
    if format is not None and format not in FORMATS:
        raise ValueError(f"unknown log format {format!r}; known: {', '.join(FORMATS)}")
    os.environ["OBSAGENT_LOG_LEVEL"] = level
    os.environ["OBSAGENT_LOG_FORMAT"] = format or "json"


def _rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else 1


def _logfmt_value(value: Any) -> str:
    text = str(value)
    if text and not any(c <= " " or c in '="\\' for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def log(level: str, msg: str, **fields: Any) -> None:
    """Writes one record (``level``: ``"debug"``, ``"info"``, ``"warn"`` or ``"error"``) to
    stderr, unless below the configured level."""
    if _rank(level) < _rank(os.environ.get("OBSAGENT_LOG_LEVEL", "info")):
        return
    now = time.time()
    if os.environ.get("OBSAGENT_LOG_FORMAT") == "logfmt":
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        pairs = {"time": stamp, "level": level.upper(), "msg": msg, **fields}
        line = " ".join(f"{key}={_logfmt_value(value)}" for key, value in pairs.items())
    else:
        import json  # here: importing obsagent (whose multiprocess mode may log) needn't load it

        record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + "Z", "level": level, "msg": msg}
        record.update(fields)
        line = json.dumps(record)
    # One write with its newline: the core's threads log to the same stderr.
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
