"""The ``obsagent`` command: ``obsagent`` (or ``obsagent run``) serves node_exporter-compatible
system metrics and the default registry on :9100; ``obsagent scrape URL`` fetches an
exposition. Flags follow node_exporter's names, so its command lines keep working."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import click

from . import __version__, _native
from ._log import FORMATS, LEVELS, configure, log
from .config import (
    CollectorSettings,
    DaemonConfig,
    ServeSettings,
    format_duration,
    format_listen_address,
    parse_duration,
    parse_listen_address,
)
from .exposition import MetricsServer
from .push_daemon import Pushers, push_options, with_push_flags
from .registry import REGISTRY

# (name, enabled by default) of every system collector.
NODE_COLLECTORS = _native.node_collectors()

# node_exporter 1.9's Linux collectors obsagent doesn't have, and whether node_exporter enables
# each by default. Their flags are accepted so node_exporter's command lines keep working:
# --no-collector.X is a no-op, --collector.X is an error naming X.
ABSENT_COLLECTORS = {
    **dict.fromkeys(
        "bcache btrfs fibrechannel infiniband ipvs nfs nfsd tapestats xfs zfs".split(),
        True,
    ),
    **dict.fromkeys(
        "buddyinfo cgroups cpu_vulnerabilities drbd drm ethtool interrupts ksmd lnstat logind meminfo_numa "
        "mountstats network_route ntp perf processes qdisc runit slabinfo softirqs supervisord sysctl systemd "
        "tcpstat wifi xfrm zoneinfo".split(),
        False,
    ),
}
# Those obsagent has since gained are flags of NODE_COLLECTORS.
ABSENT_COLLECTORS = {name: on for name, on in ABSENT_COLLECTORS.items() if name not in dict(NODE_COLLECTORS)}

# node_exporter 1.9's other flags that obsagent takes without acting on: (flag, kind, default).
# Each is either about something obsagent doesn't have (the Go runtime, a collector in
# ABSENT_COLLECTORS, which can't be enabled), or changes nothing obsagent emits (netlink or
# procfs as the source of the same counters; statfs workers and udev data obsagent doesn't use).
IGNORED_FLAGS = [
    ("--runtime.gomaxprocs", "int", "1"),
    ("--path.udev.data", "str", "/run/udev/data"),
    ("--collector.arp.netlink", "bool", True),
    ("--collector.netdev.netlink", "bool", True),
    ("--collector.netclass.netlink", "bool", False),
    ("--collector.filesystem.stat-workers", "int", "4"),
    ("--collector.ethtool.device-include", "str", ""),
    ("--collector.ethtool.device-exclude", "str", ""),
    ("--collector.ethtool.metrics-include", "str", ".*"),
    ("--collector.interrupts.include-zeros", "bool", True),
    ("--collector.interrupts.name-include", "str", ""),
    ("--collector.interrupts.name-exclude", "str", ""),
    ("--collector.ntp.server", "str", "127.0.0.1"),
    ("--collector.ntp.server-port", "int", "123"),
    ("--collector.ntp.protocol-version", "int", "4"),
    ("--collector.ntp.server-is-local", "bool", False),
    ("--collector.ntp.ip-ttl", "int", "1"),
    ("--collector.ntp.max-distance", "str", "3.46608s"),
    ("--collector.ntp.local-offset-tolerance", "str", "1ms"),
    ("--collector.perf.cpus", "str", ""),
    ("--collector.perf.tracepoint", "strings", ()),
    ("--collector.perf.disable-hardware-profilers", "bool", False),
    ("--collector.perf.disable-software-profilers", "bool", False),
    ("--collector.perf.disable-cache-profilers", "bool", False),
    ("--collector.perf.hardware-profilers", "strings", ()),
    ("--collector.perf.software-profilers", "strings", ()),
    ("--collector.perf.cache-profilers", "strings", ()),
    ("--collector.qdisc.fixtures", "str", ""),
    ("--collector.qdisc.device-include", "str", ""),
    ("--collector.qdisc.device-exclude", "str", ""),
    ("--collector.qdisk.device-include", "str", ""),
    ("--collector.qdisk.device-exclude", "str", ""),
    ("--collector.runit.servicedir", "str", "/etc/service"),
    ("--collector.slabinfo.slabs-include", "str", ".*"),
    ("--collector.slabinfo.slabs-exclude", "str", ""),
    ("--collector.supervisord.url", "str", "http://localhost:9001/RPC2"),
    ("--collector.sysctl.include", "strings", ()),
    ("--collector.sysctl.include-info", "strings", ()),
    ("--collector.systemd.unit-include", "str", ".+"),
    ("--collector.systemd.unit-exclude", "str", ".+\\.(automount|device|mount|scope|slice)"),
    ("--collector.systemd.unit-whitelist", "str", ""),
    ("--collector.systemd.unit-blacklist", "str", ""),
    ("--collector.systemd.enable-task-metrics", "bool", False),
    ("--collector.systemd.enable-restarts-metrics", "bool", False),
    ("--collector.systemd.enable-start-time-metrics", "bool", False),
    ("--collector.systemd.private", "bool", False),
    ("--collector.wifi.fixtures", "str", ""),
]

# node_exporter 1.9's flags of features obsagent lacks: accepted at node_exporter's default
# (deployments often spell defaults out), any other value is an error naming the flag.
DEFAULT_ONLY_FLAGS = [
    ("--web.telemetry-path", "str", "/metrics"),
    ("--web.systemd-socket", "bool", False),
    ("--collector.cpu.guest", "bool", True),
    ("--collector.filesystem.mount-timeout", "str", "5s"),
    ("--collector.netdev.address-info", "bool", False),
    ("--collector.netdev.enable-detailed-metrics", "bool", False),
    ("--collector.netdev.label-ifalias", "bool", False),
    ("--collector.netclass_rtnl.with-stats", "bool", False),
    ("--collector.stat.softirq", "bool", False),
    ("--collector.powersupply.ignored-supplies", "str", "^$"),
    ("--collector.rapl.enable-zone-label", "bool", False),
    ("--collector.hwmon.chip-include", "str", ""),
    ("--collector.hwmon.chip-exclude", "str", ""),
    ("--collector.hwmon.sensor-include", "str", ""),
    ("--collector.hwmon.sensor-exclude", "str", ""),
]

# node_exporter's hidden old names of flags obsagent has: (old, the dest of the new one).
OLD_NAMES = [
    ("--collector.diskstats.ignored-devices", "diskstats_device_exclude"),
    ("--collector.filesystem.ignored-mount-points", "filesystem_mount_points_exclude"),
    ("--collector.filesystem.ignored-fs-types", "filesystem_fs_types_exclude"),
    ("--collector.netdev.device-blacklist", "netdev_device_exclude"),
    ("--collector.netdev.device-whitelist", "netdev_device_include"),
]


def _dest(flag: str) -> str:
    return "ne_" + flag.lstrip("-").replace(".", "_").replace("-", "_")


def _node_exporter_option(flag: str, kind: str) -> Callable[..., Any]:
    """A node_exporter flag as click takes it, None (or empty) unless given."""
    if kind == "bool":
        return click.option(f"{flag}/--no-{flag[2:]}", _dest(flag), default=None, hidden=True)
    if kind == "strings":
        return click.option(flag, _dest(flag), multiple=True, hidden=True)
    return click.option(flag, _dest(flag), default=None, hidden=True)


def _duration(_ctx: Any, _param: click.Parameter, value: str) -> float:
    return parse_duration(value)


def run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The daemon's flags, accepted both by ``obsagent`` and ``obsagent run``."""
    options = [
        click.option(
            "--web.listen-address",
            "listen_address",
            default=format_listen_address(ServeSettings.host, ServeSettings.port),
            show_default=True,
            callback=lambda _ctx, _param, value: parse_listen_address(value),
            help="Address to serve metrics on.",
        ),
        click.option(
            "--web.config.file",
            "web_config_file",
            default=ServeSettings.web_config_file,
            callback=lambda _ctx, _param, value: value or None,  # node_exporter: "" is none
            help="Web configuration (TLS, basic auth, headers) in node_exporter's format.",
        ),
        click.option(
            "--web.max-requests",
            "max_requests",
            default=ServeSettings.max_requests,
            show_default=True,
            type=click.IntRange(min=0),
            help="Scrapes served at once; more get 503 (0: no limit).",
        ),
        click.option(
            "--web.header-read-timeout",
            "header_read_timeout",
            default=format_duration(ServeSettings.header_read_timeout),
            show_default=True,
            callback=_duration,
            help="Time a client has to send its request headers (slowloris).",
        ),
        click.option(
            "--multiproc.dir",
            "multiproc_dir",
            default=DaemonConfig.multiproc_dir,
            envvar="OBSAGENT_MULTIPROC_DIR",
            help="Also serve the metrics of every process using obsagent's multiprocess mode with this "
            "directory (created if missing). [env: OBSAGENT_MULTIPROC_DIR]",
        ),
        click.option(
            "--path.procfs", "procfs", default=CollectorSettings.procfs, show_default=True, help="procfs mountpoint."
        ),
        click.option(
            "--path.sysfs", "sysfs", default=CollectorSettings.sysfs, show_default=True, help="sysfs mountpoint."
        ),
        click.option(
            "--path.rootfs", "rootfs", default=CollectorSettings.rootfs, show_default=True, help="rootfs mountpoint."
        ),
        click.option(
            "--collector.disable-defaults",
            "disable_defaults",
            is_flag=True,
            help="Enable no collector unless named with --collector.<name>.",
        ),
        click.option(
            "--collector.textfile.directory",
            "textfile_directory",
            default=CollectorSettings.textfile_directory,
            help="Directory to read *.prom text files from.",
        ),
        click.option(
            "--collector.filesystem.mount-points-exclude",
            "filesystem_mount_points_exclude",
            default=CollectorSettings.filesystem_mount_points_exclude,
            help="Regex of mount points to ignore (default: node_exporter's).",
        ),
        click.option(
            "--collector.filesystem.fs-types-exclude",
            "filesystem_fs_types_exclude",
            default=CollectorSettings.filesystem_fs_types_exclude,
            help="Regex of file system types to ignore (default: node_exporter's).",
        ),
        click.option(
            "--collector.filesystem.mount-points-include",
            "filesystem_mount_points_include",
            default=CollectorSettings.filesystem_mount_points_include,
            help="Regex of the only mount points to report (not with --collector.filesystem.mount-points-exclude).",
        ),
        click.option(
            "--collector.filesystem.fs-types-include",
            "filesystem_fs_types_include",
            default=CollectorSettings.filesystem_fs_types_include,
            help="Regex of the only file system types to report (not with --collector.filesystem.fs-types-exclude).",
        ),
        click.option(
            "--collector.netdev.device-exclude",
            "netdev_device_exclude",
            default=CollectorSettings.netdev_device_exclude,
            help="Regex of network devices to ignore.",
        ),
        click.option(
            "--collector.netdev.device-include",
            "netdev_device_include",
            default=CollectorSettings.netdev_device_include,
            help="Regex of the only network devices to report (not with --collector.netdev.device-exclude).",
        ),
        click.option(
            "--collector.diskstats.device-include",
            "diskstats_device_include",
            default=CollectorSettings.diskstats_device_include,
            help="Regex of the only block devices to report (clear --collector.diskstats.device-exclude with it).",
        ),
        click.option(
            "--collector.gpu.nvml-library",
            "gpu_nvml_library",
            default=CollectorSettings.gpu_nvml_library,
            help="NVML library to load (default: libnvidia-ml.so.1, found as the dynamic loader finds it).",
        ),
        click.option(
            "--collector.gpu.interval",
            "gpu_interval",
            default=format_duration(CollectorSettings.gpu_interval),
            show_default=True,
            callback=_duration,
            help="Time between GPU sweeps (a duration: 500ms, 1s, 1m).",
        ),
        click.option(
            "--collector.gpu.pcie",
            "gpu_pcie",
            is_flag=True,
            help="Also read PCIe throughput (NVML blocks ~20 ms per GPU for it).",
        ),
        click.option(
            "--collector.gpu.names",
            "gpu_names",
            type=click.Choice(["nvidia", "dcgm"]),
            default=CollectorSettings.gpu_names,
            show_default=True,
            help="GPU metric names: nvidia_gpu_* or dcgm-exporter's (DCGM_FI_DEV_*, its units and labels).",
        ),
        click.option(
            "--collector.diskstats.device-exclude",
            "diskstats_device_exclude",
            default=CollectorSettings.diskstats_device_exclude,
            help="Regex of block devices to ignore (default: node_exporter's).",
        ),
        click.option(
            "--collector.netstat.fields",
            "netstat_fields",
            default=CollectorSettings.netstat_fields,
            help="Regex of netstat fields to return (default: node_exporter's).",
        ),
        click.option(
            "--collector.vmstat.fields",
            "vmstat_fields",
            default=CollectorSettings.vmstat_fields,
            help="Regex of /proc/vmstat fields to return (default: node_exporter's).",
        ),
        click.option(
            "--collector.netclass.ignored-devices",
            "netclass_ignored_devices",
            default=CollectorSettings.netclass_ignored_devices,
            help="Regex of network devices the netclass collector ignores.",
        ),
        click.option(
            "--collector.netclass.ignore-invalid-speed/--no-collector.netclass.ignore-invalid-speed",
            "netclass_ignore_invalid_speed",
            default=CollectorSettings.netclass_ignore_invalid_speed,
            help="Leave out node_network_speed_bytes where the speed is unknown (-1).",
        ),
        click.option(
            "--collector.arp.device-include",
            "arp_device_include",
            default=CollectorSettings.arp_device_include,
            help="Regex of devices the arp collector includes (excludes the others).",
        ),
        click.option(
            "--collector.arp.device-exclude",
            "arp_device_exclude",
            default=CollectorSettings.arp_device_exclude,
            help="Regex of devices the arp collector ignores.",
        ),
        click.option(
            "--collector.tapestats.ignored-devices",
            "tapestats_ignored_devices",
            default=CollectorSettings.tapestats_ignored_devices,
            help="Regex of tape devices the tapestats collector ignores.",
        ),
        click.option(
            "--collector.ipvs.backend-labels",
            "ipvs_backend_labels",
            default=CollectorSettings.ipvs_backend_labels,
            help="Comma-separated labels of the IPVS backend series (default: all six).",
        ),
        click.option(
            "--collector.bcache.priorityStats/--no-collector.bcache.priorityStats",
            "bcache_priority_stats",
            default=CollectorSettings.bcache_priority_stats,
            help="Also export the bcache caches' priority_stats (slow on large caches).",
        ),
        click.option(
            "--collector.cpu.info/--no-collector.cpu.info",
            "cpu_info",
            default=CollectorSettings.cpu_info,
            help="Also export node_cpu_info from /proc/cpuinfo.",
        ),
        click.option(
            "--log.level",
            "log_level",
            type=click.Choice(LEVELS),
            default="info",
            help="Only log lines of this level or above.",
        ),
        click.option(
            "--log.format",
            "log_format",
            type=click.Choice(FORMATS),
            default=None,
            help="Log as logfmt (node_exporter's default) or JSON lines (obsagent's default).",
        ),
        click.option(
            "--collector.cpu.info.flags-include",
            "cpu_info_flags_include",
            default=CollectorSettings.cpu_info_flags_include,
            help="Regex of the first CPU's flags exported as node_cpu_flag_info (needs --collector.cpu.info).",
        ),
        click.option(
            "--collector.cpu.info.bugs-include",
            "cpu_info_bugs_include",
            default=CollectorSettings.cpu_info_bugs_include,
            help="Regex of the first CPU's bugs exported as node_cpu_bug_info (needs --collector.cpu.info).",
        ),
    ]
    for name, default in NODE_COLLECTORS:
        state = "enabled" if default else "disabled"
        options.append(
            click.option(
                f"--collector.{name}/--no-collector.{name}",
                f"collector_{name}",
                default=None,
                help=f"Enable the {name} collector (default: {state}).",
            )
        )
    for name in ABSENT_COLLECTORS:
        options.append(
            click.option(
                f"--collector.{name}/--no-collector.{name}",
                f"absent_{name}",
                default=None,
                help=f"node_exporter's {name} collector, which obsagent lacks: only --no-collector.{name} is accepted.",
            )
        )
    options.append(
        click.option(
            "--web.disable-exporter-metrics",
            "disable_exporter_metrics",
            is_flag=True,
            help="Leave out the daemon's own metrics (process_*, python_*).",
        )
    )
    for flag, kind, _ in IGNORED_FLAGS + DEFAULT_ONLY_FLAGS:
        options.append(_node_exporter_option(flag, kind))
    for old, _ in OLD_NAMES:
        options.append(click.option(old, _dest(old), default=None, hidden=True))
    for option in reversed(options):
        command = option(command)
    return push_options(command)


def enabled_collectors(disable_defaults: bool, choices: dict[str, bool | None]) -> list[str]:
    """node_exporter's rule: a collector runs if named on, or on by default and not named off."""
    return [
        name
        for name, default in NODE_COLLECTORS
        if choices[f"collector_{name}"] or (choices[f"collector_{name}"] is None and default and not disable_defaults)
    ]


def _same(kind: str, value: Any, default: Any) -> bool:
    """Whether a node_exporter flag's value is its default (durations and numbers as written)."""
    if kind == "strings":
        return not value
    if kind == "bool":
        return value is None or value == default
    return value is None or value == default


def node_exporter_flags(options: dict[str, Any]) -> None:
    """Takes node_exporter's flags obsagent accepts without having them out of ``options``;
    raises a usage error naming any that asks for something obsagent lacks, and applies the old
    names of flags obsagent has."""
    for name in ABSENT_COLLECTORS:
        if options.pop(f"absent_{name}"):
            raise click.UsageError(
                f"--collector.{name}: obsagent has no {name} collector (node_exporter's); "
                f"drop the flag or pass --no-collector.{name}"
            )
    for flag, _, _ in IGNORED_FLAGS:
        options.pop(_dest(flag))
    for flag, kind, default in DEFAULT_ONLY_FLAGS:
        value = options.pop(_dest(flag))
        if not _same(kind, value, default):
            shown = f"{flag}={value}" if kind != "bool" else (flag if value else f"--no-{flag[2:]}")
            raise click.UsageError(
                f"{shown}: obsagent doesn't implement this node_exporter option; only its default ({default}) "
                "is accepted"
            )
    for old, new in OLD_NAMES:
        value = options.pop(_dest(old))
        if value is not None and options.get(new) is None:
            options[new] = value


def daemon_config(options: dict[str, Any]) -> DaemonConfig:
    """The daemon's settings from its flags' values (``options``, keyed by click's names)."""
    options = dict(options)
    node_exporter_flags(options)
    disable_exporter_metrics = options.pop("disable_exporter_metrics")
    options.pop("log_level")
    options.pop("log_format")
    host, port = options.pop("listen_address")
    serve = ServeSettings(
        host=host,
        port=port,
        max_requests=options.pop("max_requests"),
        header_read_timeout=options.pop("header_read_timeout"),
        web_config_file=options.pop("web_config_file"),
    )
    choices = {key: options.pop(key) for key in list(options) if key.startswith("collector_")}
    collectors = CollectorSettings(
        collectors=enabled_collectors(options.pop("disable_defaults"), choices),
        procfs=options.pop("procfs"),
        sysfs=options.pop("sysfs"),
        rootfs=options.pop("rootfs"),
        textfile_directory=options.pop("textfile_directory"),
        filesystem_mount_points_exclude=options.pop("filesystem_mount_points_exclude"),
        filesystem_fs_types_exclude=options.pop("filesystem_fs_types_exclude"),
        filesystem_mount_points_include=options.pop("filesystem_mount_points_include"),
        filesystem_fs_types_include=options.pop("filesystem_fs_types_include"),
        netdev_device_exclude=options.pop("netdev_device_exclude"),
        netdev_device_include=options.pop("netdev_device_include"),
        diskstats_device_include=options.pop("diskstats_device_include"),
        diskstats_device_exclude=options.pop("diskstats_device_exclude"),
        gpu_nvml_library=options.pop("gpu_nvml_library"),
        gpu_interval=options.pop("gpu_interval"),
        gpu_pcie=options.pop("gpu_pcie"),
        gpu_names=options.pop("gpu_names"),
        netstat_fields=options.pop("netstat_fields"),
        vmstat_fields=options.pop("vmstat_fields"),
        netclass_ignored_devices=options.pop("netclass_ignored_devices"),
        netclass_ignore_invalid_speed=options.pop("netclass_ignore_invalid_speed"),
        arp_device_include=options.pop("arp_device_include"),
        arp_device_exclude=options.pop("arp_device_exclude"),
        tapestats_ignored_devices=options.pop("tapestats_ignored_devices"),
        ipvs_backend_labels=options.pop("ipvs_backend_labels"),
        bcache_priority_stats=options.pop("bcache_priority_stats"),
        cpu_info=options.pop("cpu_info"),
        cpu_info_flags_include=options.pop("cpu_info_flags_include"),
        cpu_info_bugs_include=options.pop("cpu_info_bugs_include"),
        virtual_memory_max=not disable_exporter_metrics,
    )
    config = DaemonConfig(serve=serve, collectors=collectors, multiproc_dir=options.pop("multiproc_dir"))
    config = with_push_flags(config, options)
    assert not options, f"flags not in the config: {sorted(options)}"
    return config


def serve(config: DaemonConfig, exporter_metrics: bool = True) -> None:
    """Serves the system collectors and the default registry until SIGTERM or SIGINT; without
    ``exporter_metrics``, none of the daemon's own (node_exporter's --web.disable-exporter-metrics)."""
    try:
        node = _native.Collector.node(config.collectors)
    except ValueError as err:
        log("error", "bad collector settings", error=str(err))
        sys.exit(1)
    if not exporter_metrics:
        from . import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR

        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            try:
                REGISTRY.unregister(collector)
            except (KeyError, ValueError):
                pass  # not registered
    REGISTRY.register(node)
    if config.multiproc_dir:
        from .multiprocess import MultiProcessCollector

        try:
            os.makedirs(config.multiproc_dir, exist_ok=True)
            MultiProcessCollector(REGISTRY, config.multiproc_dir)
        except (OSError, ValueError) as err:
            log("error", "bad multiprocess directory", directory=config.multiproc_dir, error=str(err))
            sys.exit(1)
    # Handlers first: a signal that arrives as soon as "listening" is logged must stop us cleanly.
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log("info", "stopping", signal=signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        pushers = Pushers(config)  # once the registry is complete
    except (click.BadParameter, ValueError) as err:
        log(
            "error",
            "bad push settings",
            error=err.format_message() if isinstance(err, click.ClickException) else str(err),
        )
        sys.exit(1)
    try:
        server = MetricsServer.from_settings(config.serve, REGISTRY)
    except (OSError, ValueError) as err:
        bad_config = str(err).startswith("web config:")
        address = format_listen_address(config.serve.host, config.serve.port)
        log("error", "bad web config" if bad_config else "cannot listen", address=address, error=str(err))
        pushers.stop()
        sys.exit(1)
    log("info", "listening", address=server.address, version=__version__, collectors=config.collectors.collectors)
    while not stopping.wait(0.5):
        pass
    server.stop()
    pushers.stop()
    log("info", "stopped")


@click.group(invoke_without_command=True)
@click.version_option(__version__, "--version", prog_name="obsagent")
@run_options
@click.pass_context
def main(ctx: click.Context, **options: Any) -> None:
    """obsagent: a metrics agent for Python services. With no command, runs the daemon."""
    if ctx.invoked_subcommand is None:
        configure(options["log_level"], options["log_format"])
        serve(daemon_config(options), exporter_metrics=not options["disable_exporter_metrics"])


@main.command()
@run_options
def run(**options: Any) -> None:
    """Serve system metrics (node_exporter's names) and this process's own on /metrics."""
    configure(options["log_level"], options["log_format"])
    serve(daemon_config(options), exporter_metrics=not options["disable_exporter_metrics"])


@main.command()
@click.argument("url")
@click.option("--openmetrics", is_flag=True, help="Ask for OpenMetrics instead of text 0.0.4.")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait.")
def scrape(url: str, openmetrics: bool, timeout: float) -> None:
    """Fetch URL's exposition and print it."""
    import urllib.error  # here, not at the top: the daemon needn't carry ssl and http.client
    import urllib.request

    accept = "application/openmetrics-text; version=1.0.0" if openmetrics else "text/plain; version=0.0.4"
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise click.ClickException(f"cannot scrape {url}: {err}") from err
    click.echo(body.decode("utf-8"), nl=False)


def threshold_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """One flag per alert threshold, named after it (``--cpu-percent 90``)."""
    from .rules import threshold_fields

    for name, default in reversed(threshold_fields()):
        flag = "--" + name.replace("_", "-")
        command = click.option(flag, name, default=default, show_default=True, type=type(default))(command)
    return command


def objective_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--config``, ``--slo``, ``--slo-per-endpoint`` and ``--latency-buckets``: what both
    ``rules`` and ``dashboard`` read their objectives and alert settings from."""
    options = [
        click.option(
            "--config",
            "config_file",
            type=click.Path(exists=True, dir_okay=False),
            help="A rules file (YAML): alerts' for, severity, labels, annotations, thresholds and runbook "
            "URLs, a prefix for their names, disabled alerts, SLOs (README: Alerts and dashboards).",
        ),
        click.option(
            "--slo",
            "slos",
            multiple=True,
            metavar="NAME=OBJECTIVE",
            help="An SLO: availability=99.9 (99.9% of requests without a 5xx) or latency=1s@99 (99% within "
            "1 s); repeatable, replaces the file's objective of that name.",
        ),
        click.option("--slo-per-endpoint", is_flag=True, help="The --slo objectives per endpoint, not per job."),
        click.option(
            "--latency-buckets",
            metavar="SECONDS,...",
            help="The middleware's http_request_duration_seconds buckets, if not its defaults "
            "(a latency objective's threshold must be one of them).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def rules_config(ctx: click.Context, options: dict[str, Any]) -> tuple[Any, Any, str]:
    """The thresholds, the rules file and its name from the flags: a flag given on the command
    line wins over the file, the file over the flags' defaults."""
    from .rules import RulesConfig, Thresholds, check_runbook_url, load_config
    from .slo import ConfigError, check_objective, parse_buckets, parse_flag

    config_file = options.pop("config_file")
    slos, per_endpoint, buckets = options.pop("slos"), options.pop("slo_per_endpoint"), options.pop("latency_buckets")
    try:
        config = load_config(config_file) if config_file else RulesConfig()
    except ConfigError as err:
        raise click.BadParameter(str(err), param_hint="'--config'") from None
    explicit = {name for name in options if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    config = replace(config, thresholds={k: v for k, v in config.thresholds.items() if k not in explicit})
    try:
        if buckets is not None:
            config = replace(config, latency_buckets=parse_buckets(buckets))
    except ConfigError as err:
        raise click.BadParameter(str(err), param_hint="'--latency-buckets'") from None
    try:
        check_runbook_url(options["runbook_url"], "--runbook-url")
    except ConfigError as err:
        raise click.BadParameter(str(err), param_hint="'--runbook-url'") from None
    named = {o.name: o for o in config.objectives}
    try:
        for text in slos:
            objective = replace(parse_flag(text), per_endpoint=per_endpoint)
            named[objective.name] = check_objective(objective, config.latency_buckets, f"--slo {text}")
    except ConfigError as err:
        raise click.BadParameter(str(err), param_hint="'--slo'") from None
    return Thresholds(**options), replace(config, objectives=tuple(named.values())), config_file


@main.command()
@threshold_options
@objective_options
@click.pass_context
def rules(ctx: click.Context, **options: Any) -> None:
    """Print a Prometheus rules file: recording rules and alerts for obsagent's metrics, and
    multiwindow burn-rate alerts for each SLO.

    The runbook URL may name the alert as {alert} (its name in lower case), {name} (as
    written) or {slug} (snake_case: high_api_latency)."""
    from .rules import rules, to_yaml
    from .slo import ConfigError

    thresholds, config, source = rules_config(ctx, options)
    try:
        click.echo(to_yaml(rules(thresholds, config)))
    except ConfigError as err:  # an alert the file names that isn't there
        raise click.BadParameter(f"{source}: {err}", param_hint="'--config'") from None


@main.command()
@threshold_options
@objective_options
@click.pass_context
def dashboard(ctx: click.Context, **options: Any) -> None:
    """Print a Grafana dashboard (JSON) for obsagent's HTTP, system and GPU metrics, its stats
    and gauges coloured by the same thresholds and SLOs as `obsagent rules` with these flags."""
    from .dashboard import dashboard
    from .rules import rules
    from .slo import ConfigError

    thresholds, config, source = rules_config(ctx, options)
    try:
        rules(thresholds, config)  # the file is checked as for `obsagent rules`
    except ConfigError as err:
        raise click.BadParameter(f"{source}: {err}", param_hint="'--config'") from None
    click.echo(json.dumps(dashboard(thresholds, config), indent=2))
