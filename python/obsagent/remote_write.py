"""``RemoteWriter``: sends a registry to a Prometheus remote write receiver (Prometheus with
``--web.enable-remote-write-receiver``, VictoriaMetrics, Mimir, Thanos) at an interval.

The sender is native and runs on two threads of its own, started when a writer is created
(never at import, so importing before a fork stays safe): one scrapes the registry at each
interval into a bounded buffer, the other sends it in batches (remote write 1.0: protobuf,
snappy), retrying connection errors, 5xx and 429 with backoff, over one or more shards. With a
``queue_dir`` the queue is kept on disk and survives restarts and crashes. Its counts are in the
default registry as ``obsagent_remote_write_*{url}``.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Mapping
from typing import Any

from . import _native
from ._scrape import as_registry
from .config import RemoteWriteSettings
from .registry import REGISTRY, created_metrics_enabled


class RemoteWriter:
    """Scrapes ``registry`` every ``interval`` seconds and sends it to ``url``.

    Example::

        writer = RemoteWriter("http://prometheus:9090/api/v1/write", interval=15,
                              external_labels={"cluster": "eu-1"})
        ...
        writer.stop()          # a last scrape, then what is queued, within 5 s

    ``external_labels`` are added to every series lacking them; ``basic_auth`` is
    ``(username, password)``, ``bearer_token`` a token (not both). At most
    ``max_buffer_samples`` samples wait while the receiver is away; beyond that the oldest
    are dropped and counted in ``obsagent_remote_write_samples_dropped_total``. Also a context
    manager: leaving the ``with`` block stops it.

    With ``queue_dir``, batches are written to segment files there before they are sent, so
    a restart or a crash (even SIGKILL) loses nothing: the next writer on that directory sends
    what is left first, at least once. At most ``queue_max_bytes`` are kept (the oldest
    segments are dropped beyond it, and counted); fsync after each scrape's batches, or at most
    every ``queue_fsync_interval`` seconds. A directory that cannot be used (unwritable, full,
    held by another process) is logged and the writer queues in memory (bounded by
    ``max_buffer_samples``). Between ``min_shards`` and ``max_shards`` requests are sent at
    once, as many as the backlog and the send rate call for; each series stays in order.

    With ``send_native_histograms`` (off by default, as Prometheus' option of that name), each
    native histogram series is also sent as one ``Histogram`` sample under the metric's own
    name, beside its classic ``_bucket``/``_sum``/``_count`` series; the receiver must accept
    native histograms (Prometheus with ``--enable-feature=native-histograms``), or it refuses
    the requests that carry them.
    """

    def __init__(
        self,
        url: str,
        registry: Any = REGISTRY,
        interval: float = RemoteWriteSettings.interval,
        external_labels: Mapping[str, str] | None = None,
        basic_auth: tuple[str, str] | None = None,
        bearer_token: str | None = None,
        max_buffer_samples: int = RemoteWriteSettings.max_buffer_samples,
        max_samples_per_send: int = RemoteWriteSettings.max_samples_per_send,
        timeout: float = RemoteWriteSettings.timeout,
        queue_dir: str | os.PathLike[str] | None = None,
        queue_max_bytes: int = RemoteWriteSettings.queue_max_bytes,
        queue_fsync_interval: float = RemoteWriteSettings.queue_fsync_interval,
        min_shards: int = RemoteWriteSettings.min_shards,
        max_shards: int = RemoteWriteSettings.max_shards,
        send_native_histograms: bool = RemoteWriteSettings.send_native_histograms,
    ) -> None:
        username, password = basic_auth if basic_auth is not None else (None, None)
        settings = RemoteWriteSettings(
            url=url,
            interval=interval,
            external_labels=[(str(name), str(value)) for name, value in (external_labels or {}).items()],
            username=username,
            password=password,
            bearer_token=bearer_token,
            max_buffer_samples=max_buffer_samples,
            max_samples_per_send=max_samples_per_send,
            timeout=timeout,
            created=created_metrics_enabled(),
            queue_dir=None if queue_dir is None else os.fspath(queue_dir),
            queue_max_bytes=queue_max_bytes,
            queue_fsync_interval=queue_fsync_interval,
            min_shards=min_shards,
            max_shards=max_shards,
            send_native_histograms=send_native_histograms,
        )
        self._start(settings, registry)

    @classmethod
    def from_settings(cls, settings: RemoteWriteSettings, registry: Any = REGISTRY) -> RemoteWriter:
        """A writer sending ``registry`` as ``settings`` say (the daemon's way to make one)."""
        writer = cls.__new__(cls)
        writer._start(settings, registry)
        return writer

    def _start(self, settings: RemoteWriteSettings, registry: Any) -> None:
        _register_self_metrics()
        self._native = _native.RemoteWriter(as_registry(registry)._native, settings)
        _RUNNING.add(self)

    @property
    def url(self) -> str:
        return self._native.url

    @property
    def queued(self) -> int:
        """Samples waiting to be sent."""
        return self._native.queued

    @property
    def shards(self) -> int:
        """Requests sent at once now."""
        return self._native.shards

    def flush(self, timeout: float = 30.0) -> bool:
        """Scrapes now and waits until everything queued is sent (or refused by the receiver);
        returns whether that happened within ``timeout`` seconds."""
        return self._native.flush(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Scrapes a last time, sends what is queued for at most ``timeout`` seconds, and stops
        the threads. What is left then is dropped and counted. Calling it twice is harmless."""
        _RUNNING.discard(self)
        self._native.stop(timeout)

    close = stop

    def __enter__(self) -> RemoteWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


#: Writers not stopped yet; stopped (with a short flush) when the interpreter exits, before
#: their threads could call into a finalizing interpreter.
_RUNNING: set[RemoteWriter] = set()
_lock = threading.Lock()
_self_metrics_registered = False


def _register_self_metrics() -> None:
    global _self_metrics_registered
    with _lock:
        if not _self_metrics_registered:
            REGISTRY.register(_native.Collector.remote_write())
            _self_metrics_registered = True


@atexit.register
def _stop_all() -> None:
    for writer in list(_RUNNING):
        writer.stop(timeout=2.0)
