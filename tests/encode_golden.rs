//! Golden exposition files, shared with tests/test_exposition.py: the same metrics built here
//! through the core API and there through the Python API must render to the same bytes.
//! `make golden-update` (OBSAGENT_GOLDEN_UPDATE=1) rewrites them; review the diff.

use obsagent::clock;
use obsagent::encode::{self, Format};
use obsagent::metric::{counter, gauge, histogram, stateset, summary, Kind};
use obsagent::registry::{Family, Options, Registry};
use std::path::PathBuf;
use std::sync::Arc;

fn family(registry: &Registry, name: &str, help: &str, unit: &str, kind: Kind, labels: &[&str]) -> Arc<Family> {
    let family = Family::new(name, help, unit, kind, labels.iter().map(|s| s.to_string()).collect()).unwrap();
    registry.register_family(family.clone()).unwrap();
    family
}

fn counters(r: &Registry) {
    let requests = family(r, "requests", "Requests handled.", "", Kind::Counter, &["method", "path"]);
    counter::inc(requests.labels(&["GET", "/api"]).unwrap().cells(), 3.0);
    counter::inc(requests.labels(&["POST", "/a\"b\\c\nd"]).unwrap().cells(), 1.5);
    let jobs = family(r, "jobs", "Jobs run.", "", Kind::Counter, &[]);
    counter::inc(jobs.unlabeled().unwrap().cells(), 1234567.0);
}

fn gauges(r: &Registry) {
    let temperature =
        family(r, "temperature_celsius", "Temperature.\nIn \\ degrees \"C\".", "celsius", Kind::GAUGE, &[]);
    gauge::set(temperature.unlabeled().unwrap().cells(), -2.5);
    let depth = family(r, "queue_depth", "Jobs waiting.", "", Kind::GAUGE, &["queue"]);
    gauge::set(depth.labels(&["default"]).unwrap().cells(), 7.0);
    gauge::set(depth.labels(&["überlauf"]).unwrap().cells(), f64::INFINITY);
    gauge::set(depth.labels(&["broken"]).unwrap().cells(), f64::NAN);
    gauge::set(depth.labels(&["tiny"]).unwrap().cells(), 0.000012);
}

fn histograms(r: &Registry) {
    let bounds = histogram::bounds(&histogram::DEFAULT_BUCKETS).unwrap();
    let latency = family(
        r,
        "request_latency_seconds",
        "Latency.",
        "seconds",
        Kind::Histogram { bounds: bounds.clone() },
        &["method"],
    );
    let get = latency.labels(&["GET"]).unwrap();
    for v in [0.003, 0.1, 0.4, 12.0] {
        histogram::observe(get.cells(), &bounds, v);
    }
    latency.labels(&["POST"]).unwrap();
    let custom = histogram::bounds(&[1.0, 2.5, 1e6]).unwrap();
    let sizes = family(r, "sizes", "Sizes.", "", Kind::Histogram { bounds: custom.clone() }, &[]);
    histogram::observe(sizes.unlabeled().unwrap().cells(), &custom, 5.0);
}

fn summaries(r: &Registry) {
    let payload = family(r, "payload_bytes", "Payload sizes.", "bytes", Kind::Summary, &[]);
    for v in [100.0, 300.5] {
        summary::observe(payload.unlabeled().unwrap().cells(), v);
    }
}

fn infos(r: &Registry) {
    let pairs = |p: &[(&str, &str)]| p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    let build = family(r, "build", "Build facts.", "", Kind::Info, &[]);
    build.set_info(&build.unlabeled().unwrap(), &pairs(&[("version", "1.2.3"), ("commit", "abc\"1")])).unwrap();
    let component = family(r, "component", "Components.", "", Kind::Info, &["name"]);
    component.set_info(&component.labels(&["db"]).unwrap(), &pairs(&[("driver", "pg")])).unwrap();
}

fn enums(r: &Registry) {
    let states = stateset::States::new(["starting", "running", "stopped"].iter().map(|s| s.to_string()).collect());
    let state = family(r, "task_state", "Task state.", "", Kind::StateSet { states: states.clone() }, &[]);
    stateset::set(state.unlabeled().unwrap().cells(), 1);
    let workers = family(r, "worker_state", "Worker state.", "", Kind::StateSet { states }, &["worker"]);
    workers.labels(&["w1"]).unwrap();
}

fn created(r: &Registry) {
    clock::freeze(Some(1_700_000_000.5));
    let jobs = family(r, "created_jobs", "Jobs.", "", Kind::Counter, &["queue"]);
    counter::inc(jobs.labels(&["a"]).unwrap().cells(), 2.0);
    let bounds = histogram::bounds(&[1.0]).unwrap();
    let latency = family(r, "created_latency", "Latency.", "", Kind::Histogram { bounds: bounds.clone() }, &[]);
    histogram::observe(latency.unlabeled().unwrap().cells(), &bounds, 0.5);
    let sizes = family(r, "created_sizes", "Sizes.", "", Kind::Summary, &[]);
    summary::observe(sizes.unlabeled().unwrap().cells(), 3.0);
    clock::freeze(None);
}

fn check(case: &str, build: fn(&Registry), options: Options) {
    let registry = Registry::new();
    build(&registry);
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (format, dir, ext) in [(Format::Text, "text", "prom"), (Format::OpenMetrics, "openmetrics", "txt")] {
        let rendered = encode::encode(&registry, format, &options).unwrap();
        let path = golden.join(dir).join(format!("{case}.{ext}"));
        if std::env::var_os("OBSAGENT_GOLDEN_UPDATE").is_some() {
            std::fs::write(&path, &rendered).unwrap();
        }
        let expected = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(String::from_utf8_lossy(&rendered), String::from_utf8_lossy(&expected), "{}", path.display());
    }
}

#[test]
fn golden_counter() {
    check("counter", counters, Options::default());
}

#[test]
fn golden_gauge() {
    check("gauge", gauges, Options::default());
}

#[test]
fn golden_histogram() {
    check("histogram", histograms, Options::default());
}

#[test]
fn golden_summary() {
    check("summary", summaries, Options::default());
}

#[test]
fn golden_info() {
    check("info", infos, Options::default());
}

#[test]
fn golden_enum() {
    check("enum", enums, Options::default());
}

#[test]
fn golden_created() {
    check("created", created, Options { created: true, ..Options::default() });
}
