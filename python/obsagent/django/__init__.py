"""Django: a class-based view serving a registry, as ``prometheus_client.django``."""

from .exposition import PrometheusDjangoView

__all__ = ["PrometheusDjangoView"]
