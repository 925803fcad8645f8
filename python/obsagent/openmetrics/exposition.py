"""OpenMetrics 1.0.0 exposition: ``# UNIT``, ``_created`` when enabled, ``# EOF``."""

from __future__ import annotations

from typing import Any

from .._scrape import generate_openmetrics
from ..registry import REGISTRY

CONTENT_TYPE_LATEST = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def generate_latest(registry: Any = REGISTRY) -> bytes:
    """The registry's metrics in the OpenMetrics 1.0.0 text format."""
    return generate_openmetrics(registry)
