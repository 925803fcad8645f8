"""Side by side: one instrumentation function, written against a module parameter ``lib``, is run
once with prometheus_client and once with obsagent; both expositions (text 0.0.4 and
OpenMetrics) are parsed with prometheus_client's own parsers and must carry the same samples."""

from __future__ import annotations

import collections
import importlib
import math

import prometheus_client
import pytest
from prometheus_client.openmetrics.exposition import generate_latest as client_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

import obsagent
from obsagent.openmetrics.exposition import generate_latest as obsagent_openmetrics

ODD_VALUES = ['quo"te', "back\\slash", "new\nline", "ünïcödé", "日本語", "emoji 🙂", "", 'all "\\\n of them', "{}=,"]

NUMBERS = [
    0,
    1,
    -1,
    0.1 + 0.2,
    1e6,
    1234567.0,
    1e-7,
    1.5e-12,
    123456789012345.0,
    2.0**53,
    1e21,
    1.7976931348623157e308,
    -2.5,
]


def instrument(lib):
    """What an application does, written once against either library."""
    core = importlib.import_module(f"{lib.__name__}.core")
    registry = lib.CollectorRegistry()

    # Counters: plain, labeled, odd label values, name building, fractional and large amounts.
    plain = lib.Counter("events", "Events seen.", registry=registry)
    plain.inc()
    plain.inc(0.1)
    plain.inc(0.2)
    requests = lib.Counter("http_requests_total", "Requests handled.", ["method", "path"], registry=registry)
    requests.labels("GET", "/api").inc()
    requests.labels(method="POST", path="/api").inc(2.5)
    for i, value in enumerate(ODD_VALUES):
        requests.labels("GET", value).inc(i + 1)
    requests.labels(200, 3.5).inc(1e6)  # non-str label values
    lib.Counter("jobs", "Jobs.", namespace="app", subsystem="worker", unit="seconds", registry=registry).inc(1234567)
    big = lib.Counter("bytes", "Bytes.", ["dir"], unit="bytes", registry=registry)
    big.labels("in").inc(2.0**53)
    big.labels("out").inc(1e21)
    lib.Counter("untouched", "Never incremented.", registry=registry)
    lib.Counter("untouched_labeled", "Never used.", ["x"], registry=registry)

    # Gauges.
    temperature = lib.Gauge(
        "temperature", 'Help with "quotes", a \\ and a\nnewline, ü.', ["room"], unit="celsius", registry=registry
    )
    for i, number in enumerate(NUMBERS):
        temperature.labels(f"n{i}").set(number)
    temperature.labels("nan").set(math.nan)
    temperature.labels("inf").set(math.inf)
    temperature.labels("-inf").set(-math.inf)
    for value in ODD_VALUES:
        temperature.labels(value).set(len(value))
    level = lib.Gauge("level", "Level.", registry=registry)
    level.inc(10)
    level.dec(2.75)
    lib.Gauge("computed", "Computed at scrape.", registry=registry).set_function(lambda: 42.5)

    # Histograms: default buckets, custom buckets, labeled, with boundary values.
    latency = lib.Histogram("latency_seconds", "Latency.", ["route"], registry=registry)
    for value in (0.001, 0.005, 0.0051, 0.03, 0.1, 0.4, 1, 2.5, 9, 50):
        latency.labels("/a").observe(value)
    latency.labels('/q"uote\n').observe(0.2)
    latency.labels("/unused")
    sizes = lib.Histogram("sizes", "Sizes.", buckets=[10, 100, 1e6], registry=registry)
    for value in (5, 10, 50, 500, 5e6, 0.1 + 0.2):
        sizes.observe(value)
    lib.Histogram("empty_hist", "Nothing observed.", buckets=(0.5, 1.0, float("inf")), registry=registry)
    zero = lib.Histogram("from_zero", "Bounds from zero.", buckets=[0, 1], registry=registry)
    for value in (0, 0.5, 3):
        zero.observe(value)

    # Summaries.
    payload = lib.Summary("payload", "Payload.", unit="bytes", registry=registry)
    payload.observe(100)
    payload.observe(250.5)
    payload.observe(1234567.0)
    ops = lib.Summary("ops", "Ops.", ["op"], registry=registry)
    ops.labels("read").observe(0.1)
    ops.labels("read").observe(0.2)
    ops.labels("wr\\ite").observe(3)

    # Info and Enum, with and without labels.
    lib.Info("build", "Build.", registry=registry).info({"version": "1.2.3", "commit": 'abc"\\\n', "name": "ünï"})
    component = lib.Info("component", "Components.", ["name"], registry=registry)
    component.labels("db").info({"driver": "pg"})
    component.labels("cache").info({})
    lib.Enum("phase", "Phase.", states=["init", "run", "done"], registry=registry).state("run")
    worker = lib.Enum("worker_state", "Worker.", ["worker"], states=["idle", "busy"], registry=registry)
    worker.labels("w1").state("busy")
    worker.labels("w\n2")
    lib.Enum("fresh_enum", "Default state.", states=["first", "second"], registry=registry)

    class Custom:
        def collect(self):
            yield core.CounterMetricFamily("custom_events", "Events.", value=3)
            counter = core.CounterMetricFamily("custom_requests_total", "Requests.", labels=["code"])
            counter.add_metric(["200"], 1e6)
            counter.add_metric(['5"0\\0\n'], 0.1 + 0.2)
            counter.add_metric(["201"], 5, created=1_700_000_000.5)
            yield counter
            yield core.GaugeMetricFamily("custom_depth", "Depth.", value=1234567.0)
            gauge = core.GaugeMetricFamily("custom_temp", "Temp.", labels=["where"], unit="celsius")
            gauge.add_metric(["ünï"], -2.5)
            gauge.add_metric(["nan"], math.nan)
            yield gauge
            yield core.HistogramMetricFamily(
                "custom_hist", "Hist.", buckets=[("0.5", 1), ("1.0", 2), ("+Inf", 3)], sum_value=4.5
            )
            histogram = core.HistogramMetricFamily("custom_lhist", "Labeled hist.", labels=["m"])
            histogram.add_metric(["GET"], [("1.0", 4), ("+Inf", 6)], 7.25)
            yield histogram
            yield core.SummaryMetricFamily("custom_summary", "Summ.", count_value=2, sum_value=3.0)
            summary = core.SummaryMetricFamily("custom_lsummary", "Labeled summ.", labels=["m"])
            summary.add_metric(["x"], 10, 0.1 + 0.2)
            yield summary
            yield core.InfoMetricFamily("custom_info", "Info.", value={"k": "v", "q": 'a"b'})
            info = core.InfoMetricFamily("custom_linfo", "Labeled info.", labels=["env"])
            info.add_metric(["prod"], {"region": "eu"})
            yield info
            yield core.StateSetMetricFamily("custom_state", "State.", value={"on": True, "off": False})
            stateset = core.StateSetMetricFamily("custom_lstate", "Labeled state.", labels=["dev"])
            stateset.add_metric(["sda"], {"up": False, "down": True})
            yield stateset
            yield core.UnknownMetricFamily("custom_unknown", "Unknown.", value=7)
            unknown = core.UnknownMetricFamily("custom_lunknown", "Labeled unknown.", labels=["a"])
            unknown.add_metric(["b"], 1e-9)
            yield unknown

    registry.register(Custom())
    return registry


def canonical(value: float):
    return "NaN" if math.isnan(value) else value


def parsed(text: str, parse) -> tuple[set, set]:
    """({(family, type, help, unit)}, {(sample, sorted labels, value)}), NaN as a string."""
    families, samples = set(), set()
    for family in parse(text):
        families.add((family.name, family.type, family.documentation, family.unit))
        for sample in family.samples:
            samples.add((sample.name, tuple(sorted(sample.labels.items())), canonical(sample.value)))
    return families, samples


def sample_list(text: str, parse) -> list:
    return [
        (s.name, tuple(sorted(s.labels.items())), canonical(s.value)) for family in parse(text) for s in family.samples
    ]


@pytest.fixture(autouse=True)
def no_created_series_in_prometheus_client():
    # prometheus_client 0.26 exposes `_created` series by default; obsagent does not.
    assert hasattr(prometheus_client, "disable_created_metrics")
    prometheus_client.disable_created_metrics()
    obsagent.disable_created_metrics()
    yield
    prometheus_client.enable_created_metrics()
    obsagent.disable_created_metrics()


@pytest.fixture
def expositions():
    return {
        "text": (
            obsagent.generate_latest(instrument(obsagent)).decode(),
            prometheus_client.generate_latest(instrument(prometheus_client)).decode(),
            parse_text,
        ),
        "openmetrics": (
            obsagent_openmetrics(instrument(obsagent)).decode(),
            client_openmetrics(instrument(prometheus_client)).decode(),
            parse_openmetrics,
        ),
    }


@pytest.mark.parametrize("fmt", ["text", "openmetrics"])
def test_same_samples(expositions, fmt):
    ours, theirs, parse = expositions[fmt]
    ours_samples = parsed(ours, parse)[1]
    theirs_samples = parsed(theirs, parse)[1]
    assert ours_samples - theirs_samples == set()
    assert theirs_samples - ours_samples == set()
    assert len(ours_samples) > 150


@pytest.mark.parametrize("fmt", ["text", "openmetrics"])
def test_no_sample_is_repeated_or_dropped(expositions, fmt):
    ours, theirs, parse = expositions[fmt]
    ours_list, theirs_list = sample_list(ours, parse), sample_list(theirs, parse)
    assert len(ours_list) == len(theirs_list)
    assert collections.Counter(ours_list) == collections.Counter(theirs_list)


@pytest.mark.parametrize("fmt", ["text", "openmetrics"])
def test_same_families_types_help_and_units(expositions, fmt):
    ours, theirs, parse = expositions[fmt]
    ours_families = parsed(ours, parse)[0]
    theirs_families = parsed(theirs, parse)[0]
    assert ours_families - theirs_families == set()
    assert theirs_families - ours_families == set()


@pytest.mark.parametrize("fmt", ["text", "openmetrics"])
def test_same_family_order(expositions, fmt):
    ours, theirs, parse = expositions[fmt]
    assert [f.name for f in parse(ours)] == [f.name for f in parse(theirs)]


@pytest.mark.parametrize("fmt", ["text", "openmetrics"])
def test_same_sample_order_within_each_family(expositions, fmt):
    """Bucket order in particular: parsers and Prometheus rely on ascending ``le``."""
    ours, theirs, parse = expositions[fmt]

    def by_family(text):
        return {
            f.name: [(s.name, tuple(sorted(s.labels.items()))) for s in f.samples if "le" in s.labels]
            for f in parse(text)
        }

    assert by_family(ours) == by_family(theirs)


def test_openmetrics_ends_with_eof(expositions):
    ours, theirs, _ = expositions["openmetrics"]
    assert ours.endswith("# EOF\n")
    assert ours.count("# EOF") == 1
    assert theirs.endswith("# EOF\n")


def test_text_has_no_eof_and_ends_with_a_newline(expositions):
    ours, _, _ = expositions["text"]
    assert "# EOF" not in ours
    assert ours.endswith("\n") and not ours.endswith("\n\n")


def test_odd_label_values_survive_the_round_trip(expositions):
    for fmt in ("text", "openmetrics"):
        ours, _, parse = expositions[fmt]
        paths = {
            s.labels["path"]
            for f in parse(ours)
            for s in f.samples
            if s.name == "http_requests_total" and s.labels["method"] == "GET"
        }
        assert set(ODD_VALUES) <= paths, fmt


def test_values_survive_the_round_trip_exactly(expositions):
    for fmt in ("text", "openmetrics"):
        ours, _, parse = expositions[fmt]
        values = {s.labels["room"]: s.value for f in parse(ours) for s in f.samples if s.name == "temperature_celsius"}
        for i, number in enumerate(NUMBERS):
            assert values[f"n{i}"] == number, (fmt, number)
        assert math.isnan(values["nan"])
        assert values["inf"] == math.inf and values["-inf"] == -math.inf


def test_created_series_when_enabled_have_the_same_names():
    prometheus_client.enable_created_metrics()
    obsagent.enable_created_metrics()
    ours = obsagent_openmetrics(instrument(obsagent)).decode()
    theirs = client_openmetrics(instrument(prometheus_client)).decode()
    ours_created = {(n, labels) for n, labels, _ in parsed(ours, parse_openmetrics)[1] if n.endswith("_created")}
    theirs_created = {(n, labels) for n, labels, _ in parsed(theirs, parse_openmetrics)[1] if n.endswith("_created")}
    assert ours_created == theirs_created
    assert ("latency_seconds_created", (("route", "/a"),)) in ours_created


def test_created_series_in_text_format_have_the_same_names():
    prometheus_client.enable_created_metrics()
    obsagent.enable_created_metrics()
    ours = obsagent.generate_latest(instrument(obsagent)).decode()
    theirs = prometheus_client.generate_latest(instrument(prometheus_client)).decode()
    ours_created = {(n, labels) for n, labels, _ in parsed(ours, parse_text)[1] if n.endswith("_created")}
    theirs_created = {(n, labels) for n, labels, _ in parsed(theirs, parse_text)[1] if n.endswith("_created")}
    assert ours_created == theirs_created
    assert ours_created


def test_registry_collect_gives_the_same_families_as_prometheus_client():
    def families(lib):
        return {
            (m.name, m.type, m.documentation, m.unit): [
                (s.name, tuple(sorted(s.labels.items())), canonical(s.value)) for s in m.samples
            ]
            for m in instrument(lib).collect()
        }

    ours, theirs = families(obsagent), families(prometheus_client)
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert collections.Counter(ours[key]) == collections.Counter(theirs[key]), key


def test_get_sample_value_agrees():
    ours, theirs = instrument(obsagent), instrument(prometheus_client)
    for name, labels in [
        ("events_total", {}),
        ("http_requests_total", {"method": "GET", "path": "new\nline"}),
        ("http_requests_total", {"method": "200", "path": "3.5"}),
        ("app_worker_jobs_seconds_total", {}),
        ("latency_seconds_bucket", {"route": "/a", "le": "0.005"}),
        ("latency_seconds_bucket", {"route": "/a", "le": "+Inf"}),
        ("sizes_bucket", {"le": "1e+06"}),
        ("sizes_sum", {}),
        ("payload_bytes_sum", {}),
        ("build_info", {"version": "1.2.3", "commit": 'abc"\\\n', "name": "ünï"}),
        ("phase", {"phase": "run"}),
        ("fresh_enum", {"fresh_enum": "first"}),
        ("custom_requests_total", {"code": "200"}),
        ("custom_lstate", {"dev": "sda", "custom_lstate": "down"}),
        ("does_not_exist", {}),
    ]:
        assert ours.get_sample_value(name, labels) == theirs.get_sample_value(name, labels), (name, labels)


@pytest.mark.parametrize("lib", [prometheus_client, obsagent], ids=["prometheus_client", "obsagent"])
def test_histogram_with_negative_bounds_exposes_no_sum(lib):
    """OpenMetrics: with negative bucket thresholds a histogram MUST NOT carry a sum (it would
    not be a counter); prometheus_client drops ``_sum`` then, and its OpenMetrics parser refuses a
    negative one."""
    registry = lib.CollectorRegistry()
    negative = lib.Histogram("negative", "Negative bounds.", ["k"], buckets=[-10, -1, 0, 1], registry=registry)
    for value in (-20, -5, -1, 0, 0.5, 3):
        negative.labels("a").observe(value)
    assert registry.get_sample_value("negative_bucket", {"k": "a", "le": "-1.0"}) == 3
    assert registry.get_sample_value("negative_count", {"k": "a"}) == 6
    assert registry.get_sample_value("negative_sum", {"k": "a"}) is None
    text = lib.generate_latest(registry).decode()
    assert 'negative_count{k="a"} 6' in text
    assert "negative_sum" not in text
