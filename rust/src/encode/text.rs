//! Prometheus text format 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format>),
//! laid out as prometheus_client lays it out: counters are typed under `<name>_total`, Info
//! and Enum become gauges, and `_created` series (when asked for) follow their family as a
//! gauge family of their own, since this format has no place for them.

use super::{
    write_created, write_escaped_created, write_escaped_series, write_meta_name, write_sample_series, write_series,
    Escaping, Naming, Style,
};
use crate::metric::MetricType;
use crate::number;
use crate::registry::{Family, MetricFamily, Sample};

const STYLE: Style = Style { float: number::write_python, exemplar: None };

fn write_header(out: &mut Vec<u8>, name: &str, suffix: &str, help: &str, kind: &str, escaping: Escaping) {
    out.extend_from_slice(b"# HELP ");
    write_meta_name(out, name, suffix, escaping);
    out.push(b' ');
    crate::escape::help(out, help);
    out.extend_from_slice(b"\n# TYPE ");
    write_meta_name(out, name, suffix, escaping);
    out.push(b' ');
    out.extend_from_slice(kind.as_bytes());
    out.push(b'\n');
}

/// The name suffix and type a family is announced with in this format.
fn announced(kind: MetricType) -> (&'static str, &'static str) {
    match kind {
        MetricType::Counter => ("_total", "counter"),
        MetricType::Info => ("_info", "gauge"),
        MetricType::StateSet => ("", "gauge"),
        MetricType::GaugeHistogram => ("", "histogram"),
        MetricType::Unknown => ("", "untyped"),
        other => ("", other.name()),
    }
}

/// Appends a native family, with `_created` series when `created`.
pub fn write_family(out: &mut Vec<u8>, family: &Family, created: bool, cumulative: &mut Vec<u64>, naming: Naming<'_>) {
    let meta = family.meta();
    let (suffix, kind) = announced(meta.kind.metric_type());
    match naming {
        Naming::Classic => {
            write_header(out, &meta.name, suffix, &meta.help, kind, Escaping::Underscores);
            family.for_each_series(|series| write_series(out, family, series, &STYLE, cumulative));
            if created {
                write_header(out, &meta.name, "_created", &meta.help, "gauge", Escaping::Underscores);
                family.for_each_series(|series| write_created(out, &meta.name, series, &STYLE));
            }
        }
        Naming::Escaped(escaping, names) => {
            write_header(out, &meta.name, suffix, &meta.help, kind, escaping);
            let escaped = (escaping, names);
            family.for_each_series(|series| write_escaped_series(out, family, series, &STYLE, cumulative, escaped));
            if created {
                write_header(out, &meta.name, "_created", &meta.help, "gauge", escaping);
                family.for_each_series(|series| write_escaped_created(out, &meta.name, series, &STYLE, escaped));
            }
        }
    }
}

/// Appends a family given as samples (prometheus_client's `generate_latest` rules).
pub fn write_snapshot(out: &mut Vec<u8>, family: &MetricFamily) {
    write_snapshot_escaped(out, family, Escaping::Underscores);
}

/// [`write_snapshot`], names outside the classic charset written as `escaping` says.
pub fn write_snapshot_escaped(out: &mut Vec<u8>, family: &MetricFamily, escaping: Escaping) {
    let (mut suffix, kind) = announced(family.kind);
    if family.samples.iter().any(|s| s.name == family.name) {
        suffix = ""; // a counter named without `_total` (allowed in this format) keeps its name
    }
    write_header(out, &family.name, suffix, &family.help, kind, escaping);
    let moved = ["_created", "_gsum", "_gcount"];
    let is_moved = |name: &str| moved.iter().any(|m| name.strip_prefix(&*family.name) == Some(m));
    for sample in family.samples.iter().filter(|s| !is_moved(&s.name)) {
        write_sample(out, sample, escaping);
    }
    let mut moved_suffixes: Vec<&str> = moved
        .iter()
        .copied()
        .filter(|m| family.samples.iter().any(|s| s.name.strip_prefix(&*family.name) == Some(m)))
        .collect();
    moved_suffixes.sort_unstable();
    for m in moved_suffixes {
        write_header(out, &family.name, m, &family.help, "gauge", escaping);
        for sample in family.samples.iter().filter(|s| s.name.strip_prefix(&*family.name) == Some(m)) {
            write_sample(out, sample, escaping);
        }
    }
}

fn write_sample(out: &mut Vec<u8>, sample: &Sample, escaping: Escaping) {
    write_sample_series(out, &sample.name, &sample.labels, escaping);
    out.push(b' ');
    number::write_python(out, sample.value);
    if let Some(timestamp) = sample.timestamp {
        out.push(b' ');
        out.extend_from_slice(itoa::Buffer::new().format((timestamp * 1000.0) as i64).as_bytes());
    }
    out.push(b'\n');
}
