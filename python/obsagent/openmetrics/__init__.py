"""OpenMetrics exposition, as ``prometheus_client.openmetrics``."""
