//! Criterion benchmarks of the native core alone: label lookup, updates, a scrape of each
//! common kind (100k labeled counters, 100k gauges, 10k histograms with the default buckets)
//! in every wire format (the same run, so formats and kinds compare), and a classic beside a
//! native histogram `observe`. `make bench` runs them beside the Python comparison.

use criterion::{criterion_main, Criterion};
use obsagent::encode::{self, Format};
use obsagent::metric::{counter, gauge, histogram, native_histogram, Kind};
use obsagent::registry::{Family, Options, Registry};
use std::hint::black_box;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// A registry of one family of `kind` with `series` label sets, each given a value by `fill`.
fn registry_with(kind: Kind, series: usize, fill: impl Fn(&Family, usize)) -> Registry {
    let registry = Registry::new();
    let family = Family::new("http_requests", "Requests.", "", kind, vec!["method".into(), "path".into()]).unwrap();
    for i in 0..series {
        fill(&family, i);
    }
    registry.register_family(family).unwrap();
    registry
}

fn child(family: &Family, i: usize) -> obsagent::registry::Series {
    family.labels(&[METHODS[i % 5], &format!("/api/item/{i}")]).unwrap()
}

fn bench(c: &mut Criterion) {
    let family = Family::new("requests", "Requests.", "", Kind::Counter, vec!["method".into(), "path".into()]).unwrap();
    let held = family.labels(&["GET", "/api"]).unwrap();
    c.bench_function("counter inc (held child)", |b| b.iter(|| counter::inc_integer(black_box(held.cells()), 1)));
    c.bench_function("labels lookup + inc", |b| {
        b.iter(|| counter::inc_integer(family.labels(black_box(&["GET", "/api"])).unwrap().cells(), 1))
    });
    let bounds = histogram::bounds(&histogram::DEFAULT_BUCKETS).unwrap();
    let scrapes = [
        (
            "counters",
            100_000,
            registry_with(Kind::Counter, 100_000, |f, i| counter::inc_integer(child(f, i).cells(), i as u64)),
        ),
        (
            "gauges",
            100_000,
            registry_with(Kind::GAUGE, 100_000, |f, i| gauge::set(child(f, i).cells(), i as f64 * 0.25)),
        ),
        (
            "histograms",
            10_000,
            registry_with(Kind::Histogram { bounds: bounds.clone() }, 10_000, |f, i| {
                let cells = child(f, i);
                for k in 0..(i % 7) {
                    histogram::observe(cells.cells(), &bounds, 0.003 * (1 + k * i % 13) as f64);
                }
            }),
        ),
    ];
    for (what, series, registry) in &scrapes {
        for (format, format_name) in
            [(Format::Text, "text"), (Format::OpenMetrics, "openmetrics"), (Format::Protobuf, "protobuf")]
        {
            c.bench_function(&format!("encode {format_name} {series} {what}"), |b| {
                b.iter(|| encode::encode(registry, format, &Options::default()).unwrap())
            });
        }
    }
    let classic = Family::new("classic", "", "", Kind::Histogram { bounds: bounds.clone() }, vec![]).unwrap();
    let classic_cells = classic.unlabeled().unwrap();
    let native_config = native_histogram::Config::new(1.1, None, 160, 0.0, 0.0).unwrap();
    let native = Kind::NativeHistogram { bounds: histogram::inf_only(), native: native_config.clone() };
    let native = Family::new("native", "", "", native, vec![]).unwrap();
    let native_cells = native.unlabeled().unwrap();
    // Latency-like values cycling through 64 of them, so both walk their buckets.
    let values: Vec<f64> = (0..64).map(|i| 0.001 * 1.15f64.powi(i)).collect();
    let mut at = 0;
    c.bench_function("histogram observe (classic, default buckets)", |b| {
        b.iter(|| {
            at = (at + 1) & 63;
            histogram::observe(classic_cells.cells(), &bounds, black_box(values[at]))
        })
    });
    let (inf, mut at) = (histogram::inf_only(), 0);
    c.bench_function("histogram observe (native, factor 1.1)", |b| {
        b.iter(|| {
            at = (at + 1) & 63;
            native_histogram::observe(native_cells.cells(), &inf, &native_config, black_box(values[at]), || 0.0)
        })
    });
}

// The macro generates an undocumented function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench);
}
use group::benches;
criterion_main!(benches);
