"""Custom collectors: objects with ``collect()`` yielding ``*MetricFamily`` objects, registered
on a registry. The expected text below is written out by hand from the 0.0.4 text-format rules:
``# HELP`` (backslash and newline escaped) then ``# TYPE``, counters typed under ``name_total``,
info as a gauge ``name_info``, stateset as a gauge, gauge histograms as histograms, unknown as
untyped, and ``_created`` / ``_gcount`` / ``_gsum`` samples moved to gauge families of their own
right after their family; label values escape backslash, double quote and newline; timestamps are
integer milliseconds."""

from __future__ import annotations

import math
import os
import time

import prometheus_client
import prometheus_client.core
import pytest
from prometheus_client.openmetrics.exposition import generate_latest as client_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

import obsagent
from obsagent import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
    UntypedMetricFamily,
)
from obsagent.openmetrics.exposition import generate_latest as generate_openmetrics


class Collector:
    """Yields whatever `families()` makes, fresh at every collect()."""

    def __init__(self, families, describe=None):
        self._families = families
        self.calls = 0
        if describe is not None:
            self.describe = describe

    def collect(self):
        self.calls += 1
        yield from self._families()


def exposition(*families) -> str:
    registry = obsagent.CollectorRegistry()
    registry.register(Collector(lambda: families))
    return obsagent.generate_latest(registry).decode()


# --- exact text, one family type at a time ---------------------------------------------------


def test_counter_family_text():
    counter = CounterMetricFamily("jobs_total", "Jobs done.", labels=["queue"])
    counter.add_metric(["a"], 3)
    counter.add_metric(["b"], 1.5, created=1700000000.5)
    assert exposition(counter) == (
        "# HELP jobs_total Jobs done.\n"
        "# TYPE jobs_total counter\n"
        'jobs_total{queue="a"} 3.0\n'
        'jobs_total{queue="b"} 1.5\n'
        "# HELP jobs_created Jobs done.\n"
        "# TYPE jobs_created gauge\n"
        'jobs_created{queue="b"} 1.7000000005e+09\n'
    )
    assert counter.name == "jobs"
    assert [s.name for s in counter.samples] == ["jobs_total", "jobs_total", "jobs_created"]


def test_unlabeled_counter_family_text():
    assert exposition(CounterMetricFamily("events", "Events.", value=0.5)) == (
        "# HELP events_total Events.\n# TYPE events_total counter\nevents_total 0.5\n"
    )


def test_gauge_family_text_with_escaped_help_and_special_values():
    gauge = GaugeMetricFamily("depth", 'Queue \\ depth\nright now, "quoted".', labels=["q"])
    gauge.add_metric(["a"], 7)
    gauge.add_metric(["b"], -0.25)
    gauge.add_metric(["c"], math.nan)
    gauge.add_metric(["d"], math.inf)
    gauge.add_metric(["e"], -math.inf)
    gauge.add_metric(["f"], 1e22)
    assert exposition(gauge) == (
        '# HELP depth Queue \\\\ depth\\nright now, "quoted".\n'
        "# TYPE depth gauge\n"
        'depth{q="a"} 7.0\n'
        'depth{q="b"} -0.25\n'
        'depth{q="c"} NaN\n'
        'depth{q="d"} +Inf\n'
        'depth{q="e"} -Inf\n'
        'depth{q="f"} 1e+22\n'
    )


def test_label_values_are_escaped():
    gauge = GaugeMetricFamily("paths", "Paths.", labels=["p", "u"])
    gauge.add_metric(['a"b\\c\nd', "ünï 🙂"], 1)
    assert exposition(gauge) == ('# HELP paths Paths.\n# TYPE paths gauge\npaths{p="a\\"b\\\\c\\nd",u="ünï 🙂"} 1.0\n')


def test_gauge_family_with_unit_text():
    gauge = GaugeMetricFamily("temp", "Temperature.", value=21.5, unit="celsius")
    assert gauge.name == "temp_celsius"
    assert exposition(gauge) == "# HELP temp_celsius Temperature.\n# TYPE temp_celsius gauge\ntemp_celsius 21.5\n"


def test_histogram_family_text():
    histogram = HistogramMetricFamily("lat", "Latency.", labels=["m"], unit="seconds")
    histogram.add_metric(["GET"], [("0.1", 1), ("1.0", 3), ("+Inf", 4)], 5.5)
    assert exposition(histogram) == (
        "# HELP lat_seconds Latency.\n"
        "# TYPE lat_seconds histogram\n"
        'lat_seconds_bucket{le="0.1",m="GET"} 1.0\n'  # labels sorted by name, as prometheus_client
        'lat_seconds_bucket{le="1.0",m="GET"} 3.0\n'
        'lat_seconds_bucket{le="+Inf",m="GET"} 4.0\n'
        'lat_seconds_count{m="GET"} 4.0\n'
        'lat_seconds_sum{m="GET"} 5.5\n'
    )
    theirs = prometheus_client.core.HistogramMetricFamily("lat", "Latency.", labels=["m"], unit="seconds")
    theirs.add_metric(["GET"], [("0.1", 1), ("1.0", 3), ("+Inf", 4)], 5.5)
    registry = prometheus_client.CollectorRegistry()
    registry.register(Collector(lambda: [theirs]))
    assert exposition(histogram) == prometheus_client.generate_latest(registry).decode()


def test_histogram_family_without_sum_text():
    # As prometheus_client: without a sum (or with a negative bucket) no `_count` and `_sum`.
    histogram = HistogramMetricFamily("nosum", "No sum.", buckets=[("1.0", 2), ("+Inf", 2)])
    negative = HistogramMetricFamily("neg", "Negative.", buckets=[("-1.0", 1), ("+Inf", 2)], sum_value=3)
    assert exposition(histogram, negative) == (
        "# HELP nosum No sum.\n"
        "# TYPE nosum histogram\n"
        'nosum_bucket{le="1.0"} 2.0\n'
        'nosum_bucket{le="+Inf"} 2.0\n'
        "# HELP neg Negative.\n"
        "# TYPE neg histogram\n"
        'neg_bucket{le="-1.0"} 1.0\n'
        'neg_bucket{le="+Inf"} 2.0\n'
    )


def test_summary_family_text():
    summary = SummaryMetricFamily("sz", "Sizes.", labels=["k"])
    summary.add_metric(["x"], 2, 3.25)
    assert exposition(summary, SummaryMetricFamily("plain_sz", "Plain.", count_value=0, sum_value=0)) == (
        "# HELP sz Sizes.\n"
        "# TYPE sz summary\n"
        'sz_count{k="x"} 2.0\n'
        'sz_sum{k="x"} 3.25\n'
        "# HELP plain_sz Plain.\n"
        "# TYPE plain_sz summary\n"
        "plain_sz_count 0.0\n"
        "plain_sz_sum 0.0\n"
    )


def test_info_family_text():
    info = InfoMetricFamily("build", "Build.", value={"version": "1.0", "commit": 'q"\\'})
    labeled = InfoMetricFamily("component", "Components.", labels=["name"])
    labeled.add_metric(["db"], {"driver": "pg"})
    assert exposition(info, labeled) == (
        "# HELP build_info Build.\n"
        "# TYPE build_info gauge\n"
        'build_info{commit="q\\"\\\\",version="1.0"} 1.0\n'
        "# HELP component_info Components.\n"
        "# TYPE component_info gauge\n"
        'component_info{driver="pg",name="db"} 1.0\n'
    )


def test_stateset_family_text():
    stateset = StateSetMetricFamily("mode", "Mode.", value={"on": True, "off": False})
    labeled = StateSetMetricFamily("disk", "Disk state.", labels=["dev"])
    labeled.add_metric(["sda"], {"up": True, "degraded": False})
    assert exposition(stateset, labeled) == (
        "# HELP mode Mode.\n"
        "# TYPE mode gauge\n"
        'mode{mode="off"} 0.0\n'
        'mode{mode="on"} 1.0\n'
        "# HELP disk Disk state.\n"
        "# TYPE disk gauge\n"
        'disk{dev="sda",disk="degraded"} 0.0\n'
        'disk{dev="sda",disk="up"} 1.0\n'
    )


def test_gauge_histogram_family_text():
    gauge_histogram = GaugeHistogramMetricFamily("gh", "Gauge hist.", buckets=[("1.0", 2), ("+Inf", 5)], gsum_value=7)
    assert exposition(gauge_histogram) == (
        "# HELP gh Gauge hist.\n"
        "# TYPE gh histogram\n"
        'gh_bucket{le="1.0"} 2.0\n'
        'gh_bucket{le="+Inf"} 5.0\n'
        "# HELP gh_gcount Gauge hist.\n"
        "# TYPE gh_gcount gauge\n"
        "gh_gcount 5.0\n"
        "# HELP gh_gsum Gauge hist.\n"
        "# TYPE gh_gsum gauge\n"
        "gh_gsum 7.0\n"
    )


def test_unknown_family_text():
    unknown = UnknownMetricFamily("unk", "Unknown.", value=-1e-9)
    labeled = UntypedMetricFamily("unk2", "Also unknown.", labels=["a"])
    labeled.add_metric(["b"], 12345678901234)
    assert exposition(unknown, labeled) == (
        "# HELP unk Unknown.\n"
        "# TYPE unk untyped\n"
        "unk -1e-09\n"
        "# HELP unk2 Also unknown.\n"
        "# TYPE unk2 untyped\n"
        'unk2{a="b"} 1.2345678901234e+13\n'
    )


def test_plain_metric_with_add_sample_text():
    metric = Metric("raw", "Raw samples.", "gauge")
    metric.add_sample("raw", {"k": "v"}, 2)
    metric.add_sample("raw", {}, 0.5)
    assert exposition(metric) == '# HELP raw Raw samples.\n# TYPE raw gauge\nraw{k="v"} 2.0\nraw 0.5\n'


def test_families_come_out_in_yield_order_after_native_metrics():
    registry = obsagent.CollectorRegistry()
    obsagent.Gauge("native_first", "Native.", registry=registry).set(1)
    registry.register(
        Collector(
            lambda: [GaugeMetricFamily("zz_custom", "Z.", value=1), GaugeMetricFamily("aa_custom", "A.", value=2)]
        )
    )
    obsagent.Gauge("native_last", "Native.", registry=registry).set(3)
    assert obsagent.generate_latest(registry).decode() == (
        "# HELP native_first Native.\n# TYPE native_first gauge\nnative_first 1.0\n"
        "# HELP zz_custom Z.\n# TYPE zz_custom gauge\nzz_custom 1.0\n"
        "# HELP aa_custom A.\n# TYPE aa_custom gauge\naa_custom 2.0\n"
        "# HELP native_last Native.\n# TYPE native_last gauge\nnative_last 3.0\n"
    )


def test_empty_family_prints_help_and_type_only():
    assert exposition(GaugeMetricFamily("nothing", "No samples.", labels=["a"])) == (
        "# HELP nothing No samples.\n# TYPE nothing gauge\n"
    )


def test_a_collector_yielding_nothing_exposes_nothing():
    assert exposition() == ""


# --- the same samples as prometheus_client ----------------------------------------------------


def all_families(core):
    counter = core.CounterMetricFamily("jobs_total", "Jobs done.", labels=["queue"])
    counter.add_metric(["a"], 3)
    counter.add_metric(["b"], 1.5, created=1700000000.5)
    yield counter
    yield core.GaugeMetricFamily("depth", "Queue \\ depth\nnow.", value=7)
    histogram = core.HistogramMetricFamily("lat", "Lat.", labels=["m"], unit="seconds")
    histogram.add_metric(["GET"], [("0.1", 1), ("1.0", 3), ("+Inf", 4)], 5.5)
    yield histogram
    yield core.SummaryMetricFamily("sz", "Sz.", count_value=2, sum_value=3.25)
    yield core.InfoMetricFamily("build", "Build.", value={"version": "1.0", "x": 'q"\\'})
    yield core.StateSetMetricFamily("mode", "Mode.", value={"on": True, "off": False})
    yield core.GaugeHistogramMetricFamily("gh", "GH.", buckets=[("1.0", 2), ("+Inf", 5)], gsum_value=7)
    yield core.UnknownMetricFamily("unk", "Unk.", value=-1e-9)


@pytest.mark.parametrize("fmt", ["text", "openmetrics"])
def test_custom_families_parse_to_the_same_samples_as_prometheus_clients(fmt):
    ours = obsagent.CollectorRegistry()
    ours.register(Collector(lambda: all_families(obsagent)))
    theirs = prometheus_client.CollectorRegistry()
    theirs.register(Collector(lambda: all_families(prometheus_client.core)))
    if fmt == "text":
        encode_ours, encode_theirs, parse = obsagent.generate_latest, prometheus_client.generate_latest, parse_text
    else:
        encode_ours, encode_theirs, parse = generate_openmetrics, client_openmetrics, parse_openmetrics

    def samples(text):
        return [
            (f.name, f.type, f.documentation, s.name, tuple(sorted(s.labels.items())), s.value)
            for f in parse(text)
            for s in f.samples
        ]

    assert samples(encode_ours(ours).decode()) == samples(encode_theirs(theirs).decode())


# --- collect() is called at each scrape ------------------------------------------------------


def test_collect_runs_at_every_scrape_and_sees_current_values():
    registry = obsagent.CollectorRegistry()
    queue = [1, 2]
    collector = Collector(lambda: [GaugeMetricFamily("queue_depth", "Depth.", value=len(queue))])
    registry.register(collector)
    assert registry.get_sample_value("queue_depth") == 2
    queue.append(3)
    assert registry.get_sample_value("queue_depth") == 3
    assert b"queue_depth 3.0\n" in obsagent.generate_latest(registry)
    assert collector.calls == 3
    registry.unregister(collector)
    assert registry.get_sample_value("queue_depth") is None
    assert collector.calls == 3


def test_registry_collect_yields_the_families_as_given():
    registry = obsagent.CollectorRegistry()
    registry.register(Collector(lambda: all_families(obsagent)))
    got = {m.name: (m.type, m.documentation, m.unit) for m in registry.collect()}
    assert got == {
        "jobs": ("counter", "Jobs done.", ""),
        "depth": ("gauge", "Queue \\ depth\nnow.", ""),
        "lat_seconds": ("histogram", "Lat.", "seconds"),
        "sz": ("summary", "Sz.", ""),
        "build": ("info", "Build.", ""),
        "mode": ("stateset", "Mode.", ""),
        "gh": ("gaugehistogram", "GH.", ""),
        "unk": ("unknown", "Unk.", ""),
    }
    assert registry.get_sample_value("jobs_created", {"queue": "b"}) == 1700000000.5
    assert registry.get_sample_value("gh_gsum") == 7
    assert registry.get_sample_value("build_info", {"version": "1.0", "x": 'q"\\'}) == 1


# --- describe() and duplicates ---------------------------------------------------------------


def describing(family):
    return Collector(lambda: [family], describe=lambda: [family])


def test_describe_names_collide_with_native_metrics():
    registry = obsagent.CollectorRegistry()
    registry.register(describing(CounterMetricFamily("jobs", "Jobs.", value=1)))
    with pytest.raises(
        ValueError, match=r"Duplicated timeseries in CollectorRegistry: \{'jobs', 'jobs_created', 'jobs_total'\}"
    ):
        obsagent.Counter("jobs", "J.", registry=registry)
    with pytest.raises(ValueError, match=r"Duplicated timeseries in CollectorRegistry: \{'jobs_total'\}"):
        obsagent.Gauge("jobs_total", "J.", registry=registry)
    with pytest.raises(ValueError, match=r"Duplicated timeseries in CollectorRegistry: \{'jobs_created'\}"):
        obsagent.Gauge("jobs_created", "J.", registry=registry)
    assert registry.get_sample_value("jobs_total") == 1


def test_native_metrics_collide_with_a_described_collector():
    registry = obsagent.CollectorRegistry()
    obsagent.Histogram("lat", "L.", registry=registry)
    with pytest.raises(ValueError, match=r"Duplicated timeseries in CollectorRegistry: \{'lat_sum'\}"):
        registry.register(describing(GaugeMetricFamily("lat_sum", "S.", value=1)))
    with pytest.raises(ValueError, match="Duplicated timeseries in CollectorRegistry: .*'lat_bucket'"):
        registry.register(describing(HistogramMetricFamily("lat", "L.", buckets=[("+Inf", 0)])))
    assert registry.get_sample_value("lat_sum") == 0
    assert [m.name for m in registry.collect()] == ["lat"]


@pytest.mark.parametrize(
    ("family", "clash"),
    [
        (SummaryMetricFamily("s", "S.", count_value=1, sum_value=1), "s_count"),
        (HistogramMetricFamily("h", "H.", buckets=[("+Inf", 1)]), "h_bucket"),
        (GaugeHistogramMetricFamily("gh", "G.", buckets=[("+Inf", 1)], gsum_value=1), "gh_gsum"),
        (InfoMetricFamily("i", "I.", value={}), "i_info"),
        (GaugeMetricFamily("g", "G.", value=1), "g"),
    ],
)
def test_describe_covers_the_suffixes_of_each_type(family, clash):
    registry = obsagent.CollectorRegistry()
    registry.register(describing(family))
    with pytest.raises(ValueError, match=f"Duplicated timeseries in CollectorRegistry: {{'{clash}'}}"):
        obsagent.Gauge(clash, "Clash.", registry=registry)


def test_two_described_collectors_collide():
    registry = obsagent.CollectorRegistry()
    registry.register(describing(GaugeMetricFamily("shared", "S.", value=1)))
    with pytest.raises(ValueError, match=r"Duplicated timeseries in CollectorRegistry: \{'shared'\}"):
        registry.register(describing(GaugeMetricFamily("shared", "S.", value=2)))
    assert registry.get_sample_value("shared") == 1
    assert obsagent.generate_latest(registry).count(b"\nshared ") == 1


def test_unregistering_a_described_collector_frees_its_names():
    registry = obsagent.CollectorRegistry()
    collector = describing(CounterMetricFamily("jobs", "Jobs.", value=1))
    registry.register(collector)
    registry.unregister(collector)
    obsagent.Counter("jobs", "J.", registry=registry).inc(5)
    assert registry.get_sample_value("jobs_total") == 5


def test_describe_is_used_instead_of_collect_at_registration():
    registry = obsagent.CollectorRegistry()
    collector = describing(GaugeMetricFamily("described", "D.", value=1))
    registry.register(collector)
    assert collector.calls == 0


def test_without_describe_names_are_not_checked_unless_auto_describe():
    plain = obsagent.CollectorRegistry()
    undescribed = Collector(lambda: [GaugeMetricFamily("loose", "L.", value=1)])
    plain.register(undescribed)
    assert undescribed.calls == 0
    obsagent.Gauge("other", "O.", registry=plain)

    auto = obsagent.CollectorRegistry(auto_describe=True)
    auto_collector = Collector(lambda: [GaugeMetricFamily("loose", "L.", value=1)])
    auto.register(auto_collector)
    assert auto_collector.calls == 1
    with pytest.raises(ValueError, match=r"Duplicated timeseries in CollectorRegistry: \{'loose'\}"):
        obsagent.Gauge("loose", "L.", registry=auto)


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "millis"),
    [
        (1700000001.25, "1700000001250"),
        (1700000000, "1700000000000"),
        (1700000000.999, "1700000000999"),
        (0.5, "500"),
        (12, "12000"),
        (0, "0"),
        (0.001, "1"),
    ],
)
def test_text_timestamps_are_integer_milliseconds(timestamp, millis):
    gauge = GaugeMetricFamily("stamped", "Stamped.", labels=["k"])
    gauge.add_metric(["a"], 1.5, timestamp=timestamp)
    text = exposition(gauge)
    assert text == f'# HELP stamped Stamped.\n# TYPE stamped gauge\nstamped{{k="a"}} 1.5 {millis}\n'
    # prometheus_client writes the same line.
    theirs = prometheus_client.CollectorRegistry()
    family = prometheus_client.core.GaugeMetricFamily("stamped", "Stamped.", labels=["k"])
    family.add_metric(["a"], 1.5, timestamp=timestamp)
    theirs.register(Collector(lambda: [family]))
    assert (
        text.splitlines()[-1].split()[-1]
        == prometheus_client.generate_latest(theirs).decode().splitlines()[-1].split()[-1]
    )
    # And the text parser reads seconds back.
    (parsed,) = parse_text(text)
    assert parsed.samples[0].timestamp == int(millis) / 1000


def test_timestamps_on_every_sample_of_a_family():
    counter = CounterMetricFamily("stamped_jobs", "Jobs.", labels=["q"])
    counter.add_metric(["a"], 2, created=1600000000, timestamp=1700000000.5)
    histogram = HistogramMetricFamily("stamped_lat", "Lat.", labels=["q"])
    histogram.add_metric(["a"], [("1.0", 1), ("+Inf", 2)], 3, timestamp=1700000002)
    assert exposition(counter, histogram) == (
        "# HELP stamped_jobs_total Jobs.\n"
        "# TYPE stamped_jobs_total counter\n"
        'stamped_jobs_total{q="a"} 2.0 1700000000500\n'
        "# HELP stamped_jobs_created Jobs.\n"
        "# TYPE stamped_jobs_created gauge\n"
        'stamped_jobs_created{q="a"} 1.6e+09 1700000000500\n'
        "# HELP stamped_lat Lat.\n"
        "# TYPE stamped_lat histogram\n"
        'stamped_lat_bucket{le="1.0",q="a"} 1.0 1700000002000\n'
        'stamped_lat_bucket{le="+Inf",q="a"} 2.0 1700000002000\n'
        'stamped_lat_count{q="a"} 2.0 1700000002000\n'
        'stamped_lat_sum{q="a"} 3.0 1700000002000\n'
    )


@pytest.mark.parametrize("timestamp", [1700000001.25, 1700000000.999, 1700000000, 1234567.5, 0.5, 12])
def test_openmetrics_timestamps_read_back_as_the_same_instant(timestamp):
    gauge = GaugeMetricFamily("stamped", "Stamped.", labels=["k"])
    gauge.add_metric(["a"], 1.5, timestamp=timestamp)
    registry = obsagent.CollectorRegistry()
    registry.register(Collector(lambda: [gauge]))
    text = generate_openmetrics(registry).decode()
    (parsed,) = parse_openmetrics(text)
    read = parsed.samples[0].timestamp
    seconds = read.sec + read.nsec / 1e9 if hasattr(read, "nsec") else float(read)
    assert seconds == pytest.approx(timestamp, abs=1e-6), text


def test_process_metrics_of_a_forked_child_are_its_own(registry):
    """The core keeps /proc/self files open between scrapes; a forked child must not read its
    parent's through them (gunicorn --preload forks workers after the app is imported)."""
    from obsagent.process_collector import ProcessCollector

    collector = ProcessCollector(registry=registry)

    def start_time() -> float:
        return next(s.value for m in collector.collect() for s in m.samples if s.name == "process_start_time_seconds")

    parent = start_time()
    time.sleep(0.05)  # the child starts at least one clock tick later
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, repr(start_time()).encode())
        os._exit(0)
    os.close(write)
    child = float(os.read(read, 100))
    os.waitpid(pid, 0)
    assert child > parent, (child, parent)
    assert start_time() == parent
