"""The daemon's settings as one typed value, and every default they have.

``DaemonConfig`` holds what the flags of ``obsagent run`` say; the click options, ``RemoteWriter``
and ``start_http_server`` take their defaults from these fields. ``ServeSettings``,
``CollectorSettings`` and ``RemoteWriteSettings`` are handed to the core whole, which reads
their attributes by name (so the names are a contract) and rejects values that cannot work
(``ValueError``). Also the flags' parsers: Go-style durations, ``host:port``, ``name=value``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from . import _native
from .registry import created_metrics_enabled

if TYPE_CHECKING:
    import click


@dataclass(frozen=True)
class ServeSettings:
    """The metrics server (``/metrics``, ``/``, ``/health``): what ``_native.start_http_server`` reads."""

    host: str = "0.0.0.0"
    port: int = 9100
    #: Scrapes served at once; more get 503 (0: no limit).
    max_requests: int = 40
    #: Seconds a client has to send its request headers (slowloris).
    header_read_timeout: float = 10.0
    #: Web configuration (TLS, basic auth, headers) in node_exporter's format.
    web_config_file: str | None = None
    created: bool = field(default_factory=created_metrics_enabled)


def default_collectors() -> list[str]:
    """The system collectors node_exporter runs unless told otherwise."""
    return [name for name, enabled in _native.node_collectors() if enabled]


@dataclass(frozen=True)
class CollectorSettings:
    """The system collectors: what ``_native.Collector.node`` reads. A regex left None is
    node_exporter's default."""

    collectors: list[str] = field(default_factory=default_collectors)
    procfs: str = "/proc"
    sysfs: str = "/sys"
    rootfs: str = "/"
    #: Directory of ``*.prom`` text files to serve.
    textfile_directory: str | None = None
    filesystem_mount_points_exclude: str | None = None
    filesystem_fs_types_exclude: str | None = None
    filesystem_mount_points_include: str | None = None
    filesystem_fs_types_include: str | None = None
    netdev_device_exclude: str | None = None
    netdev_device_include: str | None = None
    diskstats_device_exclude: str | None = None
    diskstats_device_include: str | None = None
    #: NVML library to load (None: libnvidia-ml.so.1, found as the dynamic loader finds it).
    gpu_nvml_library: str | None = None
    #: Seconds between GPU sweeps.
    gpu_interval: float = 1.0
    #: Also read PCIe throughput (NVML blocks ~20 ms per GPU for it).
    gpu_pcie: bool = False
    #: Names of the GPU metrics: ``nvidia`` (``nvidia_gpu_*``) or ``dcgm`` (dcgm-exporter's).
    gpu_names: str = "nvidia"
    netstat_fields: str | None = None
    vmstat_fields: str | None = None
    netclass_ignored_devices: str | None = None
    #: No ``node_network_speed_bytes`` for a device whose speed is unknown (-1).
    netclass_ignore_invalid_speed: bool = False
    arp_device_include: str | None = None
    arp_device_exclude: str | None = None
    tapestats_ignored_devices: str | None = None
    #: Comma-separated backend labels of the ipvs collector (None: all six).
    ipvs_backend_labels: str | None = None
    #: Also read bcache's priority_stats (the kernel walks every bucket for it).
    bcache_priority_stats: bool = False
    #: Also export node_cpu_info (and flag/bug info) from /proc/cpuinfo.
    cpu_info: bool = False
    cpu_info_flags_include: str | None = None
    cpu_info_bugs_include: str | None = None
    #: Also serve process_virtual_memory_max_bytes (node_exporter's own metrics have it; off
    #: with --web.disable-exporter-metrics).
    virtual_memory_max: bool = True


@dataclass(frozen=True)
class RemoteWriteSettings:
    """One remote write sender: what ``_native.RemoteWriter`` reads. Times in seconds."""

    url: str = ""
    #: Time between scrapes sent.
    interval: float = 15.0
    #: Added to every series lacking them.
    external_labels: list[tuple[str, str]] = field(default_factory=list)
    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None
    #: Samples kept while the receiver is away; beyond it the oldest are dropped.
    max_buffer_samples: int = 100_000
    max_samples_per_send: int = 2000
    #: Per request.
    timeout: float = 30.0
    #: Retries wait from ``min_backoff``, doubling up to ``max_backoff``.
    min_backoff: float = 0.03
    max_backoff: float = 5.0
    created: bool = field(default_factory=created_metrics_enabled)
    #: Keep the queue in this directory, so a restart or a crash loses nothing (None: memory).
    queue_dir: str | None = None
    #: Bytes the disk queue may take; beyond it the oldest segments are dropped.
    queue_max_bytes: int = 1 << 30
    #: Seconds between fsyncs of the disk queue (0: after each scrape's batches).
    queue_fsync_interval: float = 0.0
    #: Parallel senders, chosen between these from the backlog and the send rate.
    min_shards: int = 1
    max_shards: int = 50
    #: Send native histograms as such (Prometheus' ``send_native_histograms``, off by default).
    send_native_histograms: bool = False


@dataclass(frozen=True)
class RemoteWriteFlags:
    """The daemon's ``--remote-write.*`` flags: a sender per URL, each with ``sender``'s
    settings (its url aside), the secrets read from files (flags show in ``ps``)."""

    urls: list[str] = field(default_factory=list)
    sender: RemoteWriteSettings = field(default_factory=RemoteWriteSettings)
    password_file: str | None = None
    bearer_token_file: str | None = None

    def senders(self) -> list[RemoteWriteSettings]:
        """One sender's settings per URL, with the secrets; a usage error (``click.BadParameter``)
        for a file that cannot be read, or a username without a password or the reverse."""
        password, token = _secret(self.password_file), _secret(self.bearer_token_file)
        if (self.sender.username is None) != (password is None):
            raise _usage_error("basic auth needs both --remote-write.basic-auth-username and -password-file")
        return [replace(self.sender, url=url, password=password, bearer_token=token) for url in self.urls]


#: Bodies a push may have: text 0.0.4, or delimited protobuf.
PUSH_FORMATS = ("text", "protobuf")


@dataclass(frozen=True)
class PushSettings:
    """The periodic push of the default registry to a Pushgateway (none without ``gateway_url``)."""

    gateway_url: str | None = None
    #: Seconds between pushes.
    interval: float = 15.0
    format: str = "text"
    job: str = "obsagent"
    #: The pushed group's key besides the job.
    grouping_labels: list[tuple[str, str]] = field(default_factory=list)
    #: Delete the pushed group on a clean shutdown (else push the last values).
    delete_on_shutdown: bool = False


@dataclass(frozen=True)
class DaemonConfig:
    """Everything ``obsagent run`` was told."""

    serve: ServeSettings = field(default_factory=ServeSettings)
    collectors: CollectorSettings = field(default_factory=CollectorSettings)
    remote_write: RemoteWriteFlags = field(default_factory=RemoteWriteFlags)
    push: PushSettings = field(default_factory=PushSettings)
    #: Also serve the metrics of the processes in multiprocess mode with this directory.
    multiproc_dir: str | None = None
    #: Seconds, on shutdown, to send what is queued (and to delete the pushed group).
    flush_deadline: float = 5.0


# Parsers of the flags' values: each raises click's usage error for a value it cannot read.

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go-style duration (``500ms``, ``1s``, ``1m30s``) in seconds, more than 0."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise _usage_error(f"{text!r} is not a duration (for example 500ms, 1s, 1m)")
    seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise _usage_error(f"{text!r}: the duration must be more than 0")
    return seconds


def format_duration(seconds: float) -> str:
    """``seconds`` as ``parse_duration`` reads it: ``15s``, ``1m30s``, ``500ms``."""
    milliseconds = round(seconds * 1000)
    if milliseconds % 1000:
        return f"{milliseconds}ms"
    hours, rest = divmod(milliseconds // 1000, 3600)
    minutes, whole = divmod(rest, 60)
    return "".join(f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (whole, "s")) if value) or "0s"


def parse_listen_address(address: str) -> tuple[str, int]:
    """``host:port``, ``:port`` (all interfaces) or ``[v6]:port`` into ``(host, port)``."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise _usage_error(f"{address!r} is not host:port (for example :9100 or 127.0.0.1:9100)")
    return (host.strip("[]") or ServeSettings.host), int(port)


def format_listen_address(host: str, port: int) -> str:
    """``(host, port)`` as ``parse_listen_address`` reads it (``:port`` for all interfaces)."""
    if host == ServeSettings.host:
        return f":{port}"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_labels(values: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    """Repeated ``name=value`` flags as pairs (a name given twice: its last value)."""
    pairs: dict[str, str] = {}
    for text in values:
        name, sep, value = text.partition("=")
        if not sep:
            raise _usage_error(f"{text!r} is not name=value")
        try:
            _native.validate_label_name(name)
        except ValueError as err:
            raise _usage_error(str(err)) from err
        pairs[name] = value
    return list(pairs.items())


def _secret(path: str | None) -> str | None:
    """The first line of a secret file."""
    if path is None:
        return None
    try:
        with open(path) as file:
            return file.read().strip("\r\n")
    except OSError as err:
        raise _usage_error(f"cannot read {path}: {err.strerror}") from err


def _usage_error(message: str) -> click.BadParameter:
    """click's usage error (which names the flag when raised in its callback). click is imported
    only here: ``import obsagent`` reads the defaults above and needn't load it."""
    import click

    return click.BadParameter(message)
