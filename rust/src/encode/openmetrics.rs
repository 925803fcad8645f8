//! OpenMetrics 1.0.0 text (<https://prometheus.io/docs/specs/om/open_metrics_spec/>): metadata
//! under the family name with `# UNIT`, HELP escaping `"` too, `_created` right after its
//! series, numbers as prometheus_client prints them (`1.0`, counts too), timestamps in seconds, `# EOF` at the end.
//! Exemplars follow their sample as ` # {labels} value timestamp`, labels sorted by name, the
//! value as a sample's and the timestamp as Python prints it (prometheus_client's bytes).

use super::{
    write_created, write_escaped_created, write_escaped_series, write_meta_name, write_sample_series, write_series,
    Escaping, Naming, Style,
};
use crate::metric::exemplar::{Exemplar, Time};
use crate::metric::MetricType;
use crate::number;
use crate::registry::{Family, MetricFamily};

const STYLE: Style = Style { float: number::write_python, exemplar: Some(write_exemplar) };

/// Appends ` # {labels} value[ timestamp]`.
fn write_exemplar(out: &mut Vec<u8>, exemplar: &Exemplar) {
    if exemplar.labels_only {
        return;
    }
    out.extend_from_slice(b" # {");
    out.extend_from_slice(exemplar.rendered.as_bytes());
    out.extend_from_slice(b"} ");
    number::write_python(out, exemplar.value);
    match &exemplar.time {
        Time::None => {}
        Time::Seconds(seconds) => {
            out.push(b' ');
            number::write_timestamp(out, *seconds);
        }
        Time::Text(text) => {
            out.push(b' ');
            out.extend_from_slice(text.as_bytes());
        }
    }
}

fn write_header(out: &mut Vec<u8>, name: &str, help: &str, kind: &str, unit: &str, escaping: Escaping) {
    out.extend_from_slice(b"# HELP ");
    write_meta_name(out, name, "", escaping);
    out.push(b' ');
    crate::escape::label_value(out, help);
    out.extend_from_slice(b"\n# TYPE ");
    write_meta_name(out, name, "", escaping);
    out.push(b' ');
    out.extend_from_slice(kind.as_bytes());
    out.push(b'\n');
    if !unit.is_empty() {
        out.extend_from_slice(b"# UNIT ");
        write_meta_name(out, name, "", escaping);
        out.push(b' ');
        out.extend_from_slice(unit.as_bytes());
        out.push(b'\n');
    }
}

/// Appends a native family, each series followed by its `_created` line when `created`.
pub fn write_family(out: &mut Vec<u8>, family: &Family, created: bool, cumulative: &mut Vec<u64>, naming: Naming<'_>) {
    let meta = family.meta();
    match naming {
        Naming::Classic => {
            write_header(out, &meta.name, &meta.help, meta.kind.type_name(), &meta.unit, Escaping::Underscores);
            family.for_each_series(|series| {
                write_series(out, family, series, &STYLE, cumulative);
                if created {
                    write_created(out, &meta.name, series, &STYLE);
                }
            });
        }
        Naming::Escaped(escaping, names) => {
            write_header(out, &meta.name, &meta.help, meta.kind.type_name(), &meta.unit, escaping);
            family.for_each_series(|series| {
                write_escaped_series(out, family, series, &STYLE, cumulative, (escaping, names));
                if created {
                    write_escaped_created(out, &meta.name, series, &STYLE, (escaping, names));
                }
            });
        }
    }
}

/// Whether OpenMetrics lets sample `name` of `family` carry an exemplar: a counter's total, a
/// (gauge) histogram's bucket (prometheus_client's rule).
fn may_have_exemplar(family: &MetricFamily, name: &str) -> bool {
    let suffix = name.strip_prefix(&*family.name);
    match family.kind {
        MetricType::Counter => name.ends_with("_total"),
        MetricType::GaugeHistogram => name.ends_with("_bucket"),
        MetricType::Histogram => name.ends_with("_bucket") || suffix == Some(""),
        _ => false,
    }
}

/// Appends a family given as samples.
pub fn write_snapshot(out: &mut Vec<u8>, family: &MetricFamily, escaping: Escaping) {
    write_header(out, &family.name, &family.help, family.kind.name(), &family.unit, escaping);
    let mut exemplars = family.exemplars.iter().peekable();
    for (index, sample) in family.samples.iter().enumerate() {
        write_sample_series(out, &sample.name, &sample.labels, escaping);
        out.push(b' ');
        number::write_python(out, sample.value);
        if let Some(timestamp) = sample.timestamp {
            out.push(b' ');
            number::write_timestamp(out, timestamp);
        }
        while let Some((at, exemplar)) = exemplars.next_if(|(at, _)| *at <= index) {
            if *at == index && may_have_exemplar(family, &sample.name) {
                write_exemplar(out, exemplar);
            }
        }
        out.push(b'\n');
    }
}
