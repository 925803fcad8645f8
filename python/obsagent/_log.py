"""The Python side's one logger: a JSON object per line on stderr,
``{"ts": "...Z", "level": ..., "msg": ..., **fields}``, the shape the core logs in."""

from __future__ import annotations

import sys
import time
from typing import Any


def log(level: str, msg: str, **fields: Any) -> None:
    """Writes one record (``level``: ``"info"``, ``"warn"`` or ``"error"``) to stderr."""
    import json  # here: importing obsagent (whose multiprocess mode may log) needn't load it

    record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z", "level": level, "msg": msg}
    record.update(fields)
    # One write with its newline: the core's threads log to the same stderr.
    sys.stderr.write(json.dumps(record) + "\n")
    sys.stderr.flush()
