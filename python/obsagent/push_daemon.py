"""The daemon's push flags: remote write to any number of receivers (``--remote-write.*``) and a
periodic push of the default registry to a Pushgateway (``--push.*``).

Kept apart from ``cli`` so the daemon's serving code stays as it was: ``cli`` adds these flags,
hands their values to ``start`` once it listens, and calls ``stop`` on SIGTERM, which sends what
is queued (and deletes the pushed group, when asked) within ``--remote-write.flush-deadline``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import _native
from .exposition import delete_from_gateway, push_to_gateway
from .registry import REGISTRY
from .remote_write import RemoteWriter


def _labels(_ctx: Any, param: click.Parameter, values: tuple[str, ...]) -> list[tuple[str, str]]:
    """Repeated ``name=value`` flags as pairs; a bad name or a missing ``=`` is a usage error."""
    pairs = []
    for text in values:
        name, sep, value = text.partition("=")
        if not sep:
            raise click.BadParameter(f"{text!r} is not name=value", param=param)
        try:
            _native.validate_label_name(name)
        except ValueError as err:
            raise click.BadParameter(str(err), param=param) from err
        pairs.append((name, value))
    return pairs


def _duration(_ctx: Any, _param: click.Parameter, value: str) -> float:
    from .cli import parse_duration

    return parse_duration(value)


def _secret(path: str | None) -> str | None:
    """The first line of a secret file (flags never carry secrets: they show in `ps`)."""
    if path is None:
        return None
    try:
        return Path(path).read_text().strip("\r\n")
    except OSError as err:
        raise click.BadParameter(f"cannot read {path}: {err.strerror}") from err


def push_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the push and remote-write flags to a daemon command."""
    options = [
        click.option(
            "--remote-write.url",
            "remote_write_urls",
            multiple=True,
            help="Send the metrics to this remote write receiver (.../api/v1/write); repeatable.",
        ),
        click.option(
            "--remote-write.interval",
            "remote_write_interval",
            default="15s",
            show_default=True,
            callback=_duration,
            help="Time between scrapes sent by remote write.",
        ),
        click.option(
            "--remote-write.external-label",
            "remote_write_external_labels",
            multiple=True,
            callback=_labels,
            help="name=value added to every series sent (unless it has that label); repeatable.",
        ),
        click.option(
            "--remote-write.max-buffer-samples",
            "remote_write_max_buffer_samples",
            default=100_000,
            show_default=True,
            type=click.IntRange(min=1),
            help="Samples kept per receiver while it is away; beyond it the oldest are dropped.",
        ),
        click.option(
            "--remote-write.basic-auth-username",
            "remote_write_username",
            default=None,
            help="Basic auth user for the receivers.",
        ),
        click.option(
            "--remote-write.basic-auth-password-file",
            "remote_write_password_file",
            default=None,
            help="File holding the basic auth password.",
        ),
        click.option(
            "--remote-write.bearer-token-file",
            "remote_write_bearer_token_file",
            default=None,
            help="File holding a bearer token for the receivers.",
        ),
        click.option(
            "--remote-write.flush-deadline",
            "remote_write_flush_deadline",
            default="5s",
            show_default=True,
            callback=_duration,
            help="On shutdown, time to send what is queued (and to delete the pushed group).",
        ),
        click.option("--push.gateway.url", "push_gateway_url", default=None, help="Push to this Pushgateway."),
        click.option(
            "--push.interval",
            "push_interval",
            default="15s",
            show_default=True,
            callback=_duration,
            help="Time between pushes to the Pushgateway.",
        ),
        click.option(
            "--push.format",
            "push_format",
            default="text",
            show_default=True,
            type=click.Choice(["text", "protobuf"]),
            help="Body of the pushes: text 0.0.4 or delimited protobuf.",
        ),
        click.option("--push.job", "push_job", default="obsagent", show_default=True, help="The pushed group's job."),
        click.option(
            "--push.grouping-label",
            "push_grouping_labels",
            multiple=True,
            callback=_labels,
            help="name=value of the pushed group's key (any value, '/' and empty too); repeatable.",
        ),
        click.option(
            "--push.delete-on-shutdown",
            "push_delete_on_shutdown",
            is_flag=True,
            help="Delete the pushed group from the Pushgateway on a clean shutdown.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


class Gateway:
    """Pushes the default registry to a Pushgateway every interval, on a thread of its own."""

    def __init__(
        self, url: str, job: str, grouping_key: dict[str, str], interval: float, protobuf: bool, log: Callable
    ) -> None:
        self.url, self.job, self.grouping_key, self.interval, self.log = url, job, grouping_key, interval, log
        self.protobuf = protobuf
        self.stopping = threading.Event()
        self.failing = False
        self.thread = threading.Thread(target=self.run, name="obsagent-push", daemon=True)
        self.thread.start()

    def push(self) -> None:
        try:
            push_to_gateway(
                self.url, self.job, REGISTRY, self.grouping_key, timeout=self.interval * 2, protobuf=self.protobuf
            )
        except (OSError, ValueError, RuntimeError) as err:
            if not self.failing:  # once per outage, not once per interval
                self.log("warn", "push to gateway failed", url=self.url, error=str(err))
            self.failing = True
        else:
            if self.failing:
                self.log("info", "push to gateway works again", url=self.url)
            self.failing = False

    def run(self) -> None:
        while True:
            self.push()
            if self.stopping.wait(self.interval):
                return

    def stop(self, delete: bool, timeout: float) -> None:
        self.stopping.set()
        self.thread.join(timeout)
        if not delete:
            self.push()  # the last values
        else:
            try:
                delete_from_gateway(self.url, self.job, self.grouping_key, timeout=max(timeout, 0.1))
            except OSError as err:
                self.log("warn", "deleting the pushed group failed", url=self.url, error=str(err))


class Pushers:
    """What the push flags started: remote writers and a Pushgateway pusher."""

    def __init__(self, settings: dict[str, Any], log: Callable) -> None:
        """Starts what ``settings`` (the flags' values) ask for; ``click.BadParameter`` or
        ``ValueError`` for values that cannot work."""
        self.settings = settings
        self.writers: list[RemoteWriter] = []
        self.gateway: Gateway | None = None
        password = _secret(settings["remote_write_password_file"])
        token = _secret(settings["remote_write_bearer_token_file"])
        username = settings["remote_write_username"]
        if (username is None) != (password is None):
            raise click.BadParameter("basic auth needs both --remote-write.basic-auth-username and -password-file")
        try:
            for url in settings["remote_write_urls"]:
                self.writers.append(
                    RemoteWriter(
                        url,
                        registry=REGISTRY,
                        interval=settings["remote_write_interval"],
                        external_labels=dict(settings["remote_write_external_labels"]),
                        basic_auth=(username, password) if username is not None else None,
                        bearer_token=token,
                        max_buffer_samples=settings["remote_write_max_buffer_samples"],
                    )
                )
        except ValueError:
            self.stop()
            raise
        if settings["push_gateway_url"]:
            self.gateway = Gateway(
                settings["push_gateway_url"],
                settings["push_job"],
                dict(settings["push_grouping_labels"]),
                settings["push_interval"],
                settings["push_format"] == "protobuf",
                log,
            )

    def stop(self) -> None:
        """Sends what is queued and stops, within the flush deadline for everything together."""
        deadline = time.monotonic() + self.settings["remote_write_flush_deadline"]
        for writer in self.writers:
            writer.stop(max(0.0, deadline - time.monotonic()))
        if self.gateway is not None:
            remaining = max(0.0, deadline - time.monotonic())
            self.gateway.stop(self.settings["push_delete_on_shutdown"], remaining)


def split_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Takes the push flags' values out of the daemon's settings."""
    return {key: settings.pop(key) for key in list(settings) if key.startswith(("remote_write_", "push_"))}
