"""Pushgateway: obsagent's push_to_gateway, pushadd_to_gateway and delete_from_gateway against a
real Pushgateway (Debian's prometheus-pushgateway on loopback), judged by what the gateway then
serves: the same calls made with prometheus_client must leave the gateway in the same state.
And the daemon's periodic push."""

from __future__ import annotations

import contextlib
import functools
import math
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import prometheus_client
import pytest

import obsagent
from conftest import OBSAGENT, free_port, peer, samples, start_daemon, stop_daemon, wait_for

# Grouping keys the gateway must receive intact: '/' and spaces need `@base64`, an empty value
# is `=`, other characters are percent-encoded.
GROUPS = [
    {},
    {"instance": "web-1"},
    {"path": "/var/lib/job", "empty": ""},
    {"owner": "team a", "query": "a?b&c=d%e", "unicode": "é"},
]


@contextlib.contextmanager
def running_pushgateway(tmp_path: Path, *args: str) -> Iterator[str]:
    """A Pushgateway on a free loopback port; yields its URL."""
    binary = peer("prometheus-pushgateway")
    port = free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            binary,
            f"--web.listen-address=127.0.0.1:{port}",
            f"--persistence.file={tmp_path / 'pushgateway.data'}",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(base + "/-/ready"), timeout=20)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def answers(url: str) -> bool:
    """Whether an HTTP server answers at `url` (a 401 of a gateway with basic auth counts)."""
    try:
        return urllib.request.urlopen(url, timeout=2).status == 200
    except urllib.error.HTTPError as err:
        return err.code == 401


def gateway_state(base: str) -> dict[str, dict[tuple, float]]:
    """What the gateway serves of the pushed groups: every sample but the gateway's own
    metrics, and push_time_seconds reduced to its labels (the group keys), since it is a time."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        served = samples(response.read().decode())
    state = {
        name: series
        for name, series in served.items()
        if not name.startswith(("go_", "process_", "pushgateway_", "push_time_seconds", "push_failure_time"))
    }
    state["groups"] = {labels: 0.0 for labels in served.get("push_time_seconds", {})}
    return state


def push_sequence(client, gateway: str, **extra) -> None:
    """The same calls, made with `client` (prometheus_client or obsagent) and its own metrics;
    `extra` keyword arguments go to each push."""
    registry = client.CollectorRegistry()
    jobs = client.Counter("batch_jobs", "Jobs run.", ["queue"], registry=registry)
    last = client.Gauge("batch_last_success_unixtime", "Last success.", registry=registry)
    duration = client.Histogram("batch_duration_seconds", "Run time.", buckets=[0.5, 2, 8], registry=registry)
    client.Summary("batch_rows_read", "Rows read.", registry=registry).observe(1024)
    client.Info("batch_build", "Build.", registry=registry).info({"version": "1.2", "commit": 'a"b'})
    client.Enum("batch_state", "State.", states=["ok", "failed"], registry=registry).state("failed")
    for group in GROUPS:
        jobs.labels("default").inc(3)
        jobs.labels("slow/lane").inc(0.5)
        last.set(1_700_000_000.25)
        duration.observe(1.5)
        client.push_to_gateway(gateway, "nightly", registry, grouping_key=group, **extra)
    # pushadd replaces only the families in the body; PUT replaces the whole group.
    rows = client.CollectorRegistry()
    client.Gauge("batch_rows", "Rows written.", registry=rows).set(42)
    client.pushadd_to_gateway(gateway, "nightly", rows, grouping_key=GROUPS[2], **extra)
    client.pushadd_to_gateway(gateway, "nightly", rows, grouping_key=GROUPS[3], compression="gzip", **extra)
    client.push_to_gateway(gateway, "nightly", rows, grouping_key=GROUPS[1], **extra)
    client.push_to_gateway(gateway, "a/b job", registry, grouping_key={"x": ""}, **extra)
    client.delete_from_gateway(gateway, "nightly", grouping_key=GROUPS[0])


@pytest.mark.parametrize("protobuf", [False, True], ids=["text", "protobuf"])
def test_the_same_calls_leave_the_gateway_in_the_same_state_as_prometheus_client(tmp_path, protobuf):
    prometheus_client.disable_created_metrics()  # obsagent leaves _created out by default
    try:
        with running_pushgateway(tmp_path / "a") as theirs, running_pushgateway(tmp_path / "b") as ours:
            push_sequence(prometheus_client, theirs.removeprefix("http://"))  # no scheme: http assumed
            push_sequence(obsagent, ours.removeprefix("http://"), protobuf=protobuf)
            expected, got = gateway_state(theirs), gateway_state(ours)
    finally:
        prometheus_client.enable_created_metrics()
    assert got == expected
    # And the state is what the calls meant, not merely the same: groups with '/', spaces and
    # empty values kept intact, the deleted group gone, PUT replacing and POST adding.
    groups = {dict(labels).get("job"): None for labels in got["groups"]}
    assert set(groups) == {"nightly", "a/b job"}
    keys = [dict(labels) for labels in got["groups"]]
    assert {"job": "nightly", "path": "/var/lib/job", "empty": "", "instance": ""} in keys
    assert {"job": "nightly", "owner": "team a", "query": "a?b&c=d%e", "unicode": "é", "instance": ""} in keys
    assert {"job": "a/b job", "x": "", "instance": ""} in keys
    assert not any(key.get("instance") == "" and set(key) == {"job", "instance"} for key in keys), "deleted"
    jobs = got["batch_jobs_total"]
    in_group = (("instance", ""), ("job", "nightly"), ("owner", "team a"), ("query", "a?b&c=d%e"))
    assert jobs[(*in_group, ("queue", "slow/lane"), ("unicode", "é"))] == 2.0
    rows_groups = {tuple(sorted(dict(labels).items())) for labels in got["batch_rows"]}
    assert len(rows_groups) == 3  # POSTed to two groups, PUT (alone) to one
    assert not any(dict(labels).get("instance") == "web-1" for labels in got["batch_jobs_total"]), "PUT replaced"


def test_push_errors_are_os_errors_naming_the_gateways_reason(tmp_path, registry):
    obsagent.Gauge("clash", "A gauge here.", registry=registry).set(1)
    other = obsagent.CollectorRegistry()
    obsagent.Summary("clash", "A summary there.", registry=other).observe(1)
    with running_pushgateway(tmp_path) as gateway:
        obsagent.push_to_gateway(gateway, "one", registry)
        with pytest.raises(OSError, match="error talking to pushgateway: 400 .*clash"):
            obsagent.push_to_gateway(gateway, "two", other)
    with pytest.raises(OSError, match="error talking to pushgateway"):
        obsagent.push_to_gateway(f"127.0.0.1:{free_port()}", "job", registry, timeout=2)
    with pytest.raises(ValueError, match="Unsupported compression type: zstd"):
        obsagent.push_to_gateway("127.0.0.1:1", "job", registry, compression="zstd")
    with pytest.raises(ValueError, match="not supported for DELETE"):
        obsagent.exposition._use_gateway(
            "DELETE", "127.0.0.1:1", "job", None, None, 1, obsagent.default_handler, "gzip"
        )


def test_handlers_are_called_as_prometheus_client_calls_them_and_basic_auth_works(tmp_path, registry):
    obsagent.Gauge("authed", "Pushed with a password.", registry=registry).set(7)
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    web_config = tmp_path / "web.yml"
    web_config.write_text(f"basic_auth_users:\n  pusher: {hashed}\n")
    calls = []

    def recording(url, method, timeout, headers, data):
        calls.append((url, method, timeout, list(headers), data))
        return functools.partial(obsagent.basic_auth_handler, username="pusher", password="s3cret")(
            url, method, timeout, headers, data
        )

    with running_pushgateway(tmp_path / "gw", f"--web.config.file={web_config}") as gateway:
        with pytest.raises(OSError, match="401"):
            obsagent.push_to_gateway(gateway, "secure", registry)
        obsagent.push_to_gateway(gateway, "secure", registry, {"k": "a/b"}, timeout=5, handler=recording)
        obsagent.delete_from_gateway(gateway, "secure", {"k": "c"}, handler=recording)
        request = urllib.request.Request(gateway + "/metrics", headers={"Authorization": "Basic cHVzaGVyOnMzY3JldA=="})
        served = samples(urllib.request.urlopen(request, timeout=5).read().decode())
    assert served["authed"] == {(("instance", ""), ("job", "secure"), ("k", "a/b")): 7.0}
    url, method, timeout, headers, data = calls[0]
    assert (url, method, timeout) == (f"{gateway}/metrics/job/secure/k@base64/YS9i", "PUT", 5)
    assert headers[0] == ("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
    assert data == obsagent.generate_latest(registry)
    assert calls[1][:2] == (f"{gateway}/metrics/job/secure/k/c", "DELETE") and calls[1][4] == b""


def test_the_daemon_pushes_on_an_interval_and_deletes_its_group_on_shutdown(tmp_path):
    with running_pushgateway(tmp_path) as gateway:
        process, _ = start_daemon(
            "--collector.disable-defaults",
            "--collector.loadavg",
            f"--push.gateway.url={gateway}",
            "--push.interval=200ms",
            "--push.job=node",
            "--push.grouping-label=host=db/1",
            "--push.grouping-label=rack=",
            "--push.delete-on-shutdown",
            "--push.format=protobuf",
        )
        try:
            pushed = wait_for(lambda: gateway_state(gateway).get("node_load1"), timeout=20)
            first = gateway_state(gateway)["groups"]
            time.sleep(0.5)
            with urllib.request.urlopen(gateway + "/metrics", timeout=5) as response:
                times = samples(response.read().decode())["push_time_seconds"]
        finally:
            records = stop_daemon(process)
        after = gateway_state(gateway)
    assert process.returncode == 0, records
    assert list(pushed) == [(("host", "db/1"), ("instance", ""), ("job", "node"), ("rack", ""))]
    assert list(first) == list(pushed)
    assert time.time() - next(iter(times.values())) < 1.0, "pushed again within the interval"
    assert "node_load1" not in after and not after["groups"], "deleted on shutdown"
    assert [r["msg"] for r in records][-1] == "stopped"


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--push.grouping-label=novalue", "name=value"),
        ("--push.interval=soon", "not a duration"),
        ("--push.grouping-label=bad-name=x", "Invalid label name"),
    ],
)
def test_bad_push_flags_are_clear_errors(tmp_path, flag, message):
    result = subprocess.run(
        [*OBSAGENT, "--push.gateway.url=http://127.0.0.1:1", flag], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert message in result.stderr


# What Prometheus 2.42 asks a target for: protobuf first.
PROMETHEUS_ACCEPT = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,"
    "text/plain;version=0.0.4;q=0.3,*/*;q=0.1"
)


def native_fields(histogram) -> dict:
    """The native part of a decoded `Histogram`, and its count and sum."""
    return {
        "count": histogram.sample_count,
        "sum": histogram.sample_sum,
        "schema": histogram.schema,
        "zero_threshold": histogram.zero_threshold,
        "zero_count": histogram.zero_count,
        "positive_span": [(s.offset, s.length) for s in histogram.positive_span],
        "positive_delta": list(histogram.positive_delta),
        "negative_span": [(s.offset, s.length) for s in histogram.negative_span],
        "negative_delta": list(histogram.negative_delta),
        "bucket": [(b.upper_bound, b.cumulative_count) for b in histogram.bucket],
    }


def test_a_native_histogram_pushed_in_protobuf_is_served_back_by_the_gateway(tmp_path, registry):
    from metrics_proto import parse_delimited

    latency = obsagent.Histogram(
        "pushed_latency_seconds", "Latency.", buckets=[0.1, 1.0], registry=registry, native_histogram_bucket_factor=1.1
    )
    for value in (0.0, 0.003, 0.04, 0.04, 0.7, 2.5, 90.0, -1.5):
        latency.observe(value)
    sent_body, _ = obsagent._native.pushgateway_protobuf(registry._native)
    (sent,) = [f for f in parse_delimited(sent_body) if f.name == "pushed_latency_seconds"]
    sent = native_fields(sent.metric[0].histogram)
    assert sent["schema"] == 3 and sent["positive_span"] and sent["negative_span"], sent
    with running_pushgateway(tmp_path) as gateway:
        obsagent.push_to_gateway(gateway, "native", registry, protobuf=True)
        request = urllib.request.Request(gateway + "/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert "encoding=delimited" in response.headers["Content-Type"]
            served = {family.name: family for family in parse_delimited(response.read())}
        (metric,) = served["pushed_latency_seconds"].metric
        assert {(pair.name, pair.value) for pair in metric.label} == {("job", "native"), ("instance", "")}
        # Pushgateway 1.5.1 stores the pushed message and serves it as it came: every native field.
        assert native_fields(metric.histogram) == sent

        # A text push (prometheus_client's way) carries the classic buckets only, as the text
        # format does; the gateway then has no native part.
        obsagent.push_to_gateway(gateway, "native", registry)
        with urllib.request.urlopen(request, timeout=10) as response:
            served = {family.name: family for family in parse_delimited(response.read())}
        classic = native_fields(served["pushed_latency_seconds"].metric[0].histogram)
        assert (classic["schema"], classic["positive_span"], classic["zero_threshold"]) == (0, [], 0.0)
        # (the gateway keeps the +Inf bucket a text body has, which protobuf bodies leave out)
        assert classic["bucket"] == [*sent["bucket"], (math.inf, sent["count"])] and classic["count"] == sent["count"]
