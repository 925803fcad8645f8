"""The ``obsagent`` command: ``obsagent`` (or ``obsagent run``) serves node_exporter-compatible
system metrics and the default registry on :9100; ``obsagent scrape URL`` fetches an
exposition. Flags follow node_exporter's names, so its command lines keep working."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import click

from . import __version__, _native
from .exposition import start_http_server
from .push_daemon import Pushers, push_options, split_settings
from .registry import REGISTRY

# (name, enabled by default) of every system collector.
NODE_COLLECTORS = _native.node_collectors()


def log(level: str, msg: str, **fields: Any) -> None:
    """One JSON object per line on stderr."""
    record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z", "level": level, "msg": msg}
    record.update(fields)
    # One write with its newline: the core's threads log to the same stderr.
    sys.stderr.write(json.dumps(record) + "\n")
    sys.stderr.flush()


def parse_listen_address(address: str) -> tuple[str, int]:
    """``host:port``, ``:port`` (all interfaces) or ``[v6]:port`` into ``(host, port)``."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{address!r} is not host:port (for example :9100 or 127.0.0.1:9100)")
    return (host.strip("[]") or "0.0.0.0"), int(port)


def parse_duration(text: str) -> float:
    """A Go-style duration (``500ms``, ``1s``, ``1m30s``) in seconds."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise click.BadParameter(f"{text!r} is not a duration (for example 500ms, 1s, 1m)")
    seconds = sum(float(number) * units[unit] for number, unit in parts)
    if seconds <= 0:
        raise click.BadParameter(f"{text!r}: the duration must be more than 0")
    return seconds


def run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The daemon's flags, accepted both by ``obsagent`` and ``obsagent run``."""
    options = [
        click.option(
            "--web.listen-address",
            "listen_address",
            default=":9100",
            show_default=True,
            help="Address to serve metrics on.",
        ),
        click.option(
            "--web.config.file",
            "web_config_file",
            default=None,
            help="Web configuration (TLS, basic auth, headers) in node_exporter's format.",
        ),
        click.option(
            "--web.max-requests",
            "max_requests",
            default=40,
            show_default=True,
            type=click.IntRange(min=0),
            help="Scrapes served at once; more get 503 (0: no limit).",
        ),
        click.option(
            "--web.header-read-timeout",
            "header_read_timeout",
            default="10s",
            show_default=True,
            callback=lambda _ctx, _param, value: parse_duration(value),
            help="Time a client has to send its request headers (slowloris).",
        ),
        click.option(
            "--multiproc.dir",
            "multiproc_dir",
            default=None,
            envvar="OBSAGENT_MULTIPROC_DIR",
            help="Also serve the metrics of every process using obsagent's multiprocess mode with this "
            "directory (created if missing). [env: OBSAGENT_MULTIPROC_DIR]",
        ),
        click.option("--path.procfs", "procfs", default="/proc", show_default=True, help="procfs mountpoint."),
        click.option("--path.sysfs", "sysfs", default="/sys", show_default=True, help="sysfs mountpoint."),
        click.option("--path.rootfs", "rootfs", default="/", show_default=True, help="rootfs mountpoint."),
        click.option(
            "--collector.disable-defaults",
            "disable_defaults",
            is_flag=True,
            help="Enable no collector unless named with --collector.<name>.",
        ),
        click.option(
            "--collector.textfile.directory",
            "textfile_directory",
            default=None,
            help="Directory to read *.prom text files from.",
        ),
        click.option(
            "--collector.filesystem.mount-points-exclude",
            "filesystem_mount_points_exclude",
            default=None,
            help="Regex of mount points to ignore (default: node_exporter's).",
        ),
        click.option(
            "--collector.filesystem.fs-types-exclude",
            "filesystem_fs_types_exclude",
            default=None,
            help="Regex of file system types to ignore (default: node_exporter's).",
        ),
        click.option(
            "--collector.netdev.device-exclude",
            "netdev_device_exclude",
            default=None,
            help="Regex of network devices to ignore.",
        ),
        click.option(
            "--collector.gpu.nvml-library",
            "gpu_nvml_library",
            default=None,
            help="NVML library to load (default: libnvidia-ml.so.1, found as the dynamic loader finds it).",
        ),
        click.option(
            "--collector.gpu.interval",
            "gpu_interval",
            default="1s",
            show_default=True,
            callback=lambda _ctx, _param, value: parse_duration(value),
            help="Time between GPU sweeps (a duration: 500ms, 1s, 1m).",
        ),
        click.option(
            "--collector.gpu.pcie",
            "gpu_pcie",
            is_flag=True,
            help="Also read PCIe throughput (NVML blocks ~20 ms per GPU for it).",
        ),
        click.option(
            "--collector.diskstats.device-exclude",
            "diskstats_device_exclude",
            default=None,
            help="Regex of block devices to ignore (default: node_exporter's).",
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


def serve(
    listen_address: str,
    web_config_file: str | None,
    max_requests: int,
    header_read_timeout: float,
    procfs: str,
    sysfs: str,
    rootfs: str,
    disable_defaults: bool,
    multiproc_dir: str | None,
    **settings: Any,
) -> None:
    """Serves the system collectors and the default registry until SIGTERM or SIGINT."""
    host, port = parse_listen_address(listen_address)
    push_settings = split_settings(settings)
    choices = {key: settings.pop(key) for key in list(settings) if key.startswith("collector_")}
    collectors = enabled_collectors(disable_defaults, choices)
    try:
        node = _native.Collector.node(collectors, procfs, sysfs, rootfs, **settings)
    except ValueError as err:
        log("error", "bad collector settings", error=str(err))
        sys.exit(1)
    REGISTRY.register(node)
    if multiproc_dir:
        from .multiprocess import MultiProcessCollector

        try:
            os.makedirs(multiproc_dir, exist_ok=True)
            MultiProcessCollector(REGISTRY, multiproc_dir)
        except (OSError, ValueError) as err:
            log("error", "bad multiprocess directory", directory=multiproc_dir, error=str(err))
            sys.exit(1)
    # Handlers first: a signal that arrives as soon as "listening" is logged must stop us cleanly.
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log("info", "stopping", signal=signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        pushers = Pushers(push_settings, log)  # once the registry is complete
    except (click.BadParameter, ValueError) as err:
        log(
            "error",
            "bad push settings",
            error=err.format_message() if isinstance(err, click.ClickException) else str(err),
        )
        sys.exit(1)
    try:
        server = start_http_server(
            port,
            addr=host,
            registry=REGISTRY,
            max_requests=max_requests,
            header_read_timeout=header_read_timeout,
            web_config_file=web_config_file,
        )
    except (OSError, ValueError) as err:
        bad_config = str(err).startswith("web config:")
        log("error", "bad web config" if bad_config else "cannot listen", address=listen_address, error=str(err))
        pushers.stop()
        sys.exit(1)
    log("info", "listening", address=server.address, version=__version__, collectors=collectors)
    while not stopping.wait(0.5):
        pass
    server.stop()
    pushers.stop()
    log("info", "stopped")


@click.group(invoke_without_command=True)
@click.version_option(__version__, "--version", prog_name="obsagent")
@run_options
@click.pass_context
def main(ctx: click.Context, **settings: Any) -> None:
    """obsagent: a metrics agent for Python services. With no command, runs the daemon."""
    if ctx.invoked_subcommand is None:
        serve(**settings)


@main.command()
@run_options
def run(**settings: Any) -> None:
    """Serve system metrics (node_exporter's names) and this process's own on /metrics."""
    serve(**settings)


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


@main.command()
@threshold_options
def rules(**thresholds: Any) -> None:
    """Print a Prometheus rules file: recording rules and alerts for obsagent's metrics.

    The runbook URL may name the alert as {alert} (its name in lower case)."""
    from .rules import Thresholds, rules, to_yaml

    click.echo(to_yaml(rules(Thresholds(**thresholds))))


@main.command()
def dashboard() -> None:
    """Print a Grafana dashboard (JSON) for obsagent's HTTP, system and GPU metrics."""
    from .dashboard import dashboard

    click.echo(json.dumps(dashboard(), indent=2))
