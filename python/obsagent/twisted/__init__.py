"""Twisted: a web resource serving a registry, as ``prometheus_client.twisted``."""

from ._exposition import MetricsResource

__all__ = ["MetricsResource"]
