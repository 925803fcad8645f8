"""The daemon's push flags: remote write to any number of receivers (``--remote-write.*``) and a
periodic push of the default registry to a Pushgateway (``--push.*``).

Kept apart from ``cli`` so the daemon's serving code stays as it was: ``cli`` adds these flags,
puts their values in the ``DaemonConfig`` (``with_push_flags``), starts ``Pushers`` once it
listens, and calls ``stop`` on SIGTERM, which sends what is queued (and deletes the pushed group,
when asked) within ``--remote-write.flush-deadline``. With ``--remote-write.queue-dir``, each
receiver queues in a directory of its own below it (``queue_dir_for``).
"""

from __future__ import annotations

import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import click

from ._log import log
from .config import (
    PUSH_FORMATS,
    DaemonConfig,
    PushSettings,
    RemoteWriteFlags,
    RemoteWriteSettings,
    format_duration,
    parse_duration,
    parse_labels,
)
from .exposition import delete_from_gateway, push_to_gateway
from .registry import REGISTRY
from .remote_write import RemoteWriter


def _duration(_ctx: Any, _param: click.Parameter, value: str) -> float:
    return parse_duration(value)


def _fsync(_ctx: Any, _param: click.Parameter, value: str) -> float:
    """0 for 'batch' (fsync after each scrape's batches), else the interval in seconds."""
    return 0.0 if value == "batch" else parse_duration(value)


def _labels(_ctx: Any, _param: click.Parameter, values: tuple[str, ...]) -> list[tuple[str, str]]:
    return parse_labels(values)


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
            default=format_duration(RemoteWriteSettings.interval),
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
            default=RemoteWriteSettings.max_buffer_samples,
            show_default=True,
            type=click.IntRange(min=1),
            help="Samples kept per receiver while it is away; beyond it the oldest are dropped.",
        ),
        click.option(
            "--remote-write.queue-dir",
            "remote_write_queue_dir",
            default=RemoteWriteSettings.queue_dir,
            help="Keep what is not sent yet on disk here (a directory per receiver), so a restart or a "
            "crash loses nothing; without it the queue is in memory.",
        ),
        click.option(
            "--remote-write.queue-max-bytes",
            "remote_write_queue_max_bytes",
            default=RemoteWriteSettings.queue_max_bytes,
            show_default=True,
            type=click.IntRange(min=1),
            help="Bytes on disk per receiver at most; beyond it the oldest segments are dropped.",
        ),
        click.option(
            "--remote-write.queue-fsync",
            "remote_write_queue_fsync",
            default="batch",
            show_default=True,
            callback=_fsync,
            help="When the disk queue is fsynced: 'batch' (after each scrape's batches) or a duration "
            "(at most that often; a power loss may cost that much).",
        ),
        click.option(
            "--remote-write.min-shards",
            "remote_write_min_shards",
            default=RemoteWriteSettings.min_shards,
            show_default=True,
            type=click.IntRange(min=1),
            help="Parallel senders per receiver at least.",
        ),
        click.option(
            "--remote-write.max-shards",
            "remote_write_max_shards",
            default=RemoteWriteSettings.max_shards,
            show_default=True,
            type=click.IntRange(min=1, max=65535),
            help="Parallel senders per receiver at most (chosen from the backlog and the send rate).",
        ),
        click.option(
            "--remote-write.send-native-histograms",
            "remote_write_send_native_histograms",
            is_flag=True,
            default=RemoteWriteSettings.send_native_histograms,
            help="Send native histograms (from --multiproc.dir) as such; the receivers must accept them.",
        ),
        click.option(
            "--remote-write.basic-auth-username",
            "remote_write_username",
            default=RemoteWriteSettings.username,
            help="Basic auth user for the receivers.",
        ),
        click.option(
            "--remote-write.basic-auth-password-file",
            "remote_write_password_file",
            default=RemoteWriteFlags.password_file,
            help="File holding the basic auth password.",
        ),
        click.option(
            "--remote-write.bearer-token-file",
            "remote_write_bearer_token_file",
            default=RemoteWriteFlags.bearer_token_file,
            help="File holding a bearer token for the receivers.",
        ),
        click.option(
            "--remote-write.flush-deadline",
            "remote_write_flush_deadline",
            default=format_duration(DaemonConfig.flush_deadline),
            show_default=True,
            callback=_duration,
            help="On shutdown, time to send what is queued (and to delete the pushed group).",
        ),
        click.option(
            "--push.gateway.url", "push_gateway_url", default=PushSettings.gateway_url, help="Push to this Pushgateway."
        ),
        click.option(
            "--push.interval",
            "push_interval",
            default=format_duration(PushSettings.interval),
            show_default=True,
            callback=_duration,
            help="Time between pushes to the Pushgateway.",
        ),
        click.option(
            "--push.format",
            "push_format",
            default=PushSettings.format,
            show_default=True,
            type=click.Choice(PUSH_FORMATS),
            help="Body of the pushes: text 0.0.4 or delimited protobuf.",
        ),
        click.option(
            "--push.job", "push_job", default=PushSettings.job, show_default=True, help="The pushed group's job."
        ),
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


def with_push_flags(config: DaemonConfig, options: dict[str, Any]) -> DaemonConfig:
    """``config`` with what the push flags say, their values taken out of ``options``."""
    take = {name: options.pop(name) for name in list(options) if name.startswith(("remote_write_", "push_"))}
    remote_write = RemoteWriteFlags(
        urls=list(take["remote_write_urls"]),
        sender=RemoteWriteSettings(
            interval=take["remote_write_interval"],
            external_labels=take["remote_write_external_labels"],
            username=take["remote_write_username"],
            max_buffer_samples=take["remote_write_max_buffer_samples"],
            queue_dir=take["remote_write_queue_dir"],
            queue_max_bytes=take["remote_write_queue_max_bytes"],
            queue_fsync_interval=take["remote_write_queue_fsync"],
            min_shards=take["remote_write_min_shards"],
            max_shards=take["remote_write_max_shards"],
            send_native_histograms=take["remote_write_send_native_histograms"],
        ),
        password_file=take["remote_write_password_file"],
        bearer_token_file=take["remote_write_bearer_token_file"],
    )
    push = PushSettings(
        gateway_url=take["push_gateway_url"],
        interval=take["push_interval"],
        format=take["push_format"],
        job=take["push_job"],
        grouping_labels=take["push_grouping_labels"],
        delete_on_shutdown=take["push_delete_on_shutdown"],
    )
    return replace(config, remote_write=remote_write, push=push, flush_deadline=take["remote_write_flush_deadline"])


class Gateway:
    """Pushes the default registry to a Pushgateway every interval, on a thread of its own."""

    def __init__(self, settings: PushSettings) -> None:
        self.url, self.job, self.interval = settings.gateway_url, settings.job, settings.interval
        self.grouping_key = dict(settings.grouping_labels)
        self.protobuf = settings.format == "protobuf"
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
                log("warn", "push to gateway failed", url=self.url, error=str(err))
            self.failing = True
        else:
            if self.failing:
                log("info", "push to gateway works again", url=self.url)
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
                log("warn", "deleting the pushed group failed", url=self.url, error=str(err))


def queue_dir_for(queue_dir: str, url: str) -> str:
    """Each receiver's own directory under ``--remote-write.queue-dir``: its host and port and a
    hash of its URL without credentials, so the same URL finds its queue again after a restart."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    plain = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    readable = re.sub(r"[^A-Za-z0-9.-]", "_", netloc) or "receiver"
    import hashlib  # here: it maps libcrypto (3 MiB) into every daemon otherwise

    return os.path.join(queue_dir, f"{readable}-{hashlib.sha256(plain.encode()).hexdigest()[:12]}")


class Pushers:
    """What the push flags started: remote writers and a Pushgateway pusher."""

    def __init__(self, config: DaemonConfig) -> None:
        """Starts what ``config`` asks for; ``click.BadParameter`` or ``ValueError`` for values
        that cannot work."""
        self.config = config
        self.writers: list[RemoteWriter] = []
        self.gateway: Gateway | None = None
        senders = config.remote_write.senders()
        try:
            for settings in senders:
                if settings.queue_dir is not None:
                    settings = replace(settings, queue_dir=queue_dir_for(settings.queue_dir, settings.url))
                self.writers.append(RemoteWriter.from_settings(settings, REGISTRY))
        except ValueError:
            self.stop()
            raise
        if config.push.gateway_url:
            self.gateway = Gateway(config.push)

    def stop(self) -> None:
        """Sends what is queued and stops, within the flush deadline for everything together."""
        deadline = time.monotonic() + self.config.flush_deadline
        for writer in self.writers:
            writer.stop(max(0.0, deadline - time.monotonic()))
        if self.gateway is not None:
            remaining = max(0.0, deadline - time.monotonic())
            self.gateway.stop(self.config.push.delete_on_shutdown, remaining)
