"""OpenMetrics exposition (1.0.0; 2.0.0 as prometheus_client 0.26 offers it): ``# UNIT``,
``_created`` when enabled, ``# EOF``; and the escaping of names outside the classic charset."""

from __future__ import annotations

from typing import Any

from .. import _native
from .._scrape import ALLOWUTF8 as ALLOWUTF8  # `X as X`: re-exported
from .._scrape import DOTS as DOTS
from .._scrape import UNDERSCORES, generate_openmetrics
from .._scrape import VALUES as VALUES
from ..registry import REGISTRY

CONTENT_TYPE_LATEST = "application/openmetrics-text; version=1.0.0; charset=utf-8"
CONTENT_TYPE_LATEST_2_0 = "application/openmetrics-text; version=2.0.0; charset=utf-8"
ESCAPING_HEADER_TAG = "escaping"


def generate_latest(registry: Any = REGISTRY, escaping: str = UNDERSCORES, version: str = "1.0.0") -> bytes:
    """The registry's metrics in the OpenMetrics text format."""
    return generate_openmetrics(registry, escaping, version)


def escape_metric_name(s: str, escaping: str = UNDERSCORES) -> str:
    """``s`` as ``escaping`` writes a metric name: quoted under ``allow-utf-8`` when outside the
    classic charset; ``ValueError`` for an unknown scheme."""
    return _native.escape_name(s, escaping)


def escape_label_name(s: str, escaping: str = UNDERSCORES) -> str:
    """``s`` as ``escaping`` writes a label name."""
    return _native.escape_name(s, escaping, True)
