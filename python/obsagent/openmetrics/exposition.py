"""OpenMetrics 1.0.0 exposition: ``# UNIT``, ``_created`` when enabled, ``# EOF``."""

from __future__ import annotations

from typing import Any

from .._scrape import ALLOWUTF8 as ALLOWUTF8  # `X as X`: re-exported
from .._scrape import DOTS as DOTS
from .._scrape import UNDERSCORES, generate_openmetrics
from .._scrape import VALUES as VALUES
from ..registry import REGISTRY

CONTENT_TYPE_LATEST = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def generate_latest(registry: Any = REGISTRY, escaping: str = UNDERSCORES, version: str = "1.0.0") -> bytes:
    """The registry's metrics in the OpenMetrics 1.0.0 text format."""
    return generate_openmetrics(registry, escaping, version)
