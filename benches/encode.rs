//! Criterion benchmarks of the native core alone: label lookup, updates, and encoding 10k and
//! 100k labeled counter series. `make bench` runs them beside the Python comparison.

use criterion::{criterion_main, Criterion};
use obsagent::encode::{self, Format};
use obsagent::metric::{counter, Kind};
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
    }
}

// The macro generates an undocumented function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench);
}
use group::benches;
criterion_main!(benches);
