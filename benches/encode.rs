//! Criterion benchmarks of the native core alone: label lookup, updates, encoding 10k and
//! 100k labeled counter series as text and 100k as protobuf (the same run, so the two compare),
//! and a classic beside a native histogram `observe`. `make bench` runs them beside the Python
//! comparison.

use criterion::{criterion_main, Criterion};
use obsagent::encode::{self, Format};
use obsagent::metric::{counter, histogram, native_histogram, Kind};
use obsagent::registry::{Family, Options, Registry};
use std::hint::black_box;

fn registry_with(series: usize) -> Registry {
    let registry = Registry::new();
    let family =
        Family::new("http_requests", "Requests.", "", Kind::Counter, vec!["method".into(), "path".into()]).unwrap();
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    for i in 0..series {
        let child = family.labels(&[methods[i % 5], &format!("/api/item/{i}")]).unwrap();
        counter::inc_integer(child.cells(), i as u64);
    }
    registry.register_family(family).unwrap();
    registry
}

fn bench(c: &mut Criterion) {
    let family = Family::new("requests", "Requests.", "", Kind::Counter, vec!["method".into(), "path".into()]).unwrap();
    let child = family.labels(&["GET", "/api"]).unwrap();
    c.bench_function("counter inc (held child)", |b| b.iter(|| counter::inc_integer(black_box(child.cells()), 1)));
    c.bench_function("labels lookup + inc", |b| {
        b.iter(|| counter::inc_integer(family.labels(black_box(&["GET", "/api"])).unwrap().cells(), 1))
    });
    for series in [10_000, 100_000] {
        let registry = registry_with(series);
        c.bench_function(&format!("encode text {series} series"), |b| {
            b.iter(|| encode::encode(&registry, Format::Text, &Options::default()).unwrap())
        });
        if series == 100_000 {
            c.bench_function(&format!("encode protobuf {series} series"), |b| {
                b.iter(|| encode::encode(&registry, Format::Protobuf, &Options::default()).unwrap())
            });
        }
    }
    let bounds = histogram::bounds(&histogram::DEFAULT_BUCKETS).unwrap();
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
