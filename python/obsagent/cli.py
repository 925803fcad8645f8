"""The ``obsagent`` command: ``obsagent`` (or ``obsagent run``) serves metrics on :9100,
``obsagent scrape URL`` fetches an exposition. Flags follow node_exporter's names."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import click

from . import __version__
from .exposition import start_http_server
from .registry import REGISTRY


def log(level: str, msg: str, **fields: Any) -> None:
    """One JSON object per line on stderr."""
    record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z", "level": level, "msg": msg}
    record.update(fields)
    print(json.dumps(record), file=sys.stderr, flush=True)


def parse_listen_address(address: str) -> tuple[str, int]:
    """``host:port``, ``:port`` (all interfaces) or ``[v6]:port`` into ``(host, port)``."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{address!r} is not host:port (for example :9100 or 127.0.0.1:9100)")
    return (host.strip("[]") or "0.0.0.0"), int(port)


def run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The daemon's flags, accepted both by ``obsagent`` and ``obsagent run``."""
    return click.option(
        "--web.listen-address",
        "listen_address",
        default=":9100",
        show_default=True,
        help="Address to serve metrics on.",
    )(command)


def serve(listen_address: str) -> None:
    """Serves the default registry until SIGTERM or SIGINT."""
    host, port = parse_listen_address(listen_address)
    try:
        server = start_http_server(port, addr=host, registry=REGISTRY)
    except (OSError, ValueError) as err:
        log("error", "cannot listen", address=listen_address, error=str(err))
        sys.exit(1)
    log("info", "listening", address=server.address, version=__version__)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log("info", "stopping", signal=signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stopping.wait(0.5):
        pass
    server.stop()
    log("info", "stopped")


@click.group(invoke_without_command=True)
@click.version_option(__version__, "--version", prog_name="obsagent")
@run_options
@click.pass_context
def main(ctx: click.Context, listen_address: str) -> None:
    """obsagent: a metrics agent for Python services. With no command, runs the daemon."""
    if ctx.invoked_subcommand is None:
        serve(listen_address)


@main.command()
@run_options
def run(listen_address: str) -> None:
    """Serve this process's metrics (process_*, python_*) on /metrics."""
    serve(listen_address)


@main.command()
@click.argument("url")
@click.option("--openmetrics", is_flag=True, help="Ask for OpenMetrics instead of text 0.0.4.")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait.")
def scrape(url: str, openmetrics: bool, timeout: float) -> None:
    """Fetch URL's exposition and print it."""
    accept = "application/openmetrics-text; version=1.0.0" if openmetrics else "text/plain; version=0.0.4"
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise click.ClickException(f"cannot scrape {url}: {err}") from err
    click.echo(body.decode("utf-8"), nl=False)
