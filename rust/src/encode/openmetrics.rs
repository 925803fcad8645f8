//! OpenMetrics 1.0.0 text (<https://prometheus.io/docs/specs/om/open_metrics_spec/>): metadata
//! under the family name with `# UNIT`, HELP escaping `"` too, `_created` right after its
//! series, numbers as prometheus_client prints them (`1.0`, counts too), timestamps in seconds, `# EOF` at the end.

use super::{
    write_created, write_escaped_created, write_escaped_series, write_meta_name, write_sample_series, write_series,
    Escaping, Naming, Style,
};
use crate::number;
use crate::registry::{Family, MetricFamily};

const STYLE: Style = Style { float: number::write_python };

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

/// Appends a family given as samples.
pub fn write_snapshot(out: &mut Vec<u8>, family: &MetricFamily, escaping: Escaping) {
    write_header(out, &family.name, &family.help, family.kind.name(), &family.unit, escaping);
    for sample in &family.samples {
        write_sample_series(out, &sample.name, &sample.labels, escaping);
        out.push(b' ');
        number::write_python(out, sample.value);
        if let Some(timestamp) = sample.timestamp {
            out.push(b' ');
            number::write_timestamp(out, timestamp);
        }
        out.push(b'\n');
    }
}
