"""The daemon's settings: the flags' defaults are the dataclasses', the flags land in the right
fields, the parsers read what node_exporter's users write, and the log's shape."""

from __future__ import annotations

import inspect
import json
from dataclasses import fields

import click
import pytest

import obsagent
from obsagent._log import log
from obsagent.cli import daemon_config, main
from obsagent.config import (
    CollectorSettings,
    DaemonConfig,
    RemoteWriteSettings,
    ServeSettings,
    format_duration,
    format_listen_address,
    parse_duration,
    parse_labels,
    parse_listen_address,
)


def config_of(*flags: str) -> DaemonConfig:
    return daemon_config(main.make_context("obsagent", list(flags)).params)


def test_no_flags_is_the_default_config():
    assert config_of() == DaemonConfig()


def test_flags_land_in_their_fields(tmp_path):
    config = config_of(
        "--web.listen-address=[::1]:9200",
        "--web.header-read-timeout=500ms",
        "--collector.disable-defaults",
        "--collector.cpu",
        "--collector.gpu.interval=2s",
        "--remote-write.url=http://a/api/v1/write",
        "--remote-write.url=http://b/api/v1/write",
        "--remote-write.external-label=dc=eu",
        "--remote-write.external-label=dc=us",
        f"--remote-write.bearer-token-file={tmp_path / 'token'}",
        "--remote-write.flush-deadline=1m30s",
        "--push.gateway.url=http://gw:9091",
        "--push.grouping-label=instance=a/b",
    )
    assert (config.serve.host, config.serve.port, config.serve.header_read_timeout) == ("::1", 9200, 0.5)
    assert config.collectors.collectors == ["cpu"] and config.collectors.gpu_interval == 2.0
    assert config.flush_deadline == 90.0
    assert config.push.gateway_url == "http://gw:9091" and config.push.grouping_labels == [("instance", "a/b")]
    (tmp_path / "token").write_text("secret\n")
    senders = config.remote_write.senders()
    assert [s.url for s in senders] == ["http://a/api/v1/write", "http://b/api/v1/write"]
    assert all(s.external_labels == [("dc", "us")] and s.bearer_token == "secret" for s in senders)


def test_the_library_takes_the_same_defaults():
    writer = inspect.signature(obsagent.RemoteWriter).parameters
    for name in ("interval", "max_buffer_samples", "max_samples_per_send", "timeout", "queue_dir", "queue_max_bytes"):
        assert writer[name].default == getattr(RemoteWriteSettings(), name), name
    for name in ("queue_fsync_interval", "min_shards", "max_shards"):
        assert writer[name].default == getattr(RemoteWriteSettings(), name), name
    server = inspect.signature(obsagent.start_http_server).parameters
    assert server["addr"].default == ServeSettings().host
    for name in ("max_requests", "header_read_timeout", "web_config_file"):
        assert server[name].default == getattr(ServeSettings(), name), name


# The core reads these attributes by name (PyO3's FromPyObject derive): they are the contract.
CORE_READS = {
    CollectorSettings: "collectors procfs sysfs rootfs textfile_directory filesystem_mount_points_exclude "
    "filesystem_fs_types_exclude filesystem_mount_points_include filesystem_fs_types_include netdev_device_exclude "
    "netdev_device_include diskstats_device_exclude "
    "diskstats_device_include gpu_nvml_library gpu_interval gpu_pcie gpu_names "
    "netstat_fields vmstat_fields netclass_ignored_devices netclass_ignore_invalid_speed arp_device_include "
    "arp_device_exclude "
    "tapestats_ignored_devices ipvs_backend_labels bcache_priority_stats cpu_info cpu_info_flags_include "
    "cpu_info_bugs_include virtual_memory_max",
    RemoteWriteSettings: "url interval external_labels username password bearer_token max_buffer_samples "
    "max_samples_per_send timeout min_backoff max_backoff created queue_dir queue_max_bytes queue_fsync_interval "
    "min_shards max_shards send_native_histograms",
    ServeSettings: "host port created max_requests header_read_timeout web_config_file",
}


@pytest.mark.parametrize("settings", list(CORE_READS), ids=lambda cls: cls.__name__)
def test_the_settings_the_core_reads_have_the_agreed_names(settings):
    assert {f.name for f in fields(settings)} == set(CORE_READS[settings].split())


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("1s", 1.0), ("1m30s", 90.0), ("2h", 7200.0)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1", "1s2", "0s", "-1s"])
def test_a_bad_duration_is_a_usage_error(text):
    with pytest.raises(click.BadParameter):
        parse_duration(text)


@pytest.mark.parametrize(
    ("address", "parsed"), [(":9100", ("0.0.0.0", 9100)), ("127.0.0.1:80", ("127.0.0.1", 80)), ("[::1]:1", ("::1", 1))]
)
def test_listen_addresses(address, parsed):
    assert parse_listen_address(address) == parsed
    assert format_listen_address(*parsed) == address


def test_labels():
    assert parse_labels(["a=1", "b=x=y", "c="]) == [("a", "1"), ("b", "x=y"), ("c", "")]
    for bad in (["novalue"], ["bad-name=x"]):
        with pytest.raises(click.BadParameter):
            parse_labels(bad)


def test_log_is_one_json_line_ts_first(capsys):
    log("warn", "something", url="http://x", count=3)
    line = capsys.readouterr().err
    assert line.count("\n") == 1 and line.endswith("\n")
    record = json.loads(line)
    assert list(record) == ["ts", "level", "msg", "url", "count"] and record["ts"].endswith("Z")
    assert (record["level"], record["msg"], record["url"], record["count"]) == ("warn", "something", "http://x", 3)
