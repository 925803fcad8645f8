//! OpenMetrics 1.0.0 text (<https://prometheus.io/docs/specs/om/open_metrics_spec/>): metadata
//! under the family name with `# UNIT`, HELP escaping `"` too, `_created` right after its
//! series, numbers as prometheus_client prints them (`1.0`, counts too), timestamps in seconds, `# EOF` at the end.

use super::{write_created, write_sample_labels, write_series, Style};
use crate::number;
use crate::registry::{Family, MetricFamily};

const STYLE: Style = Style { float: number::write_python };

fn write_header(out: &mut Vec<u8>, name: &str, help: &str, kind: &str, unit: &str) {
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    crate::escape::label_value(out, help);
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(kind.as_bytes());
    out.push(b'\n');
    if !unit.is_empty() {
        out.extend_from_slice(b"# UNIT ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(unit.as_bytes());
        out.push(b'\n');
    }
}

/// Appends a native family, each series followed by its `_created` line when `created`.
pub fn write_family(out: &mut Vec<u8>, family: &Family, created: bool, cumulative: &mut Vec<u64>) {
    let meta = family.meta();
    write_header(out, &meta.name, &meta.help, meta.kind.type_name(), &meta.unit);
    family.for_each_series(|series| {
        write_series(out, family, series, &STYLE, cumulative);
        if created {
            write_created(out, &meta.name, series, &STYLE);
        }
    });
}

/// Appends a family given as samples.
pub fn write_snapshot(out: &mut Vec<u8>, family: &MetricFamily) {
    write_header(out, &family.name, &family.help, family.kind.name(), &family.unit);
    for sample in &family.samples {
        out.extend_from_slice(sample.name.as_bytes());
        write_sample_labels(out, &sample.labels);
        out.push(b' ');
        number::write_python(out, sample.value);
        if let Some(timestamp) = sample.timestamp {
            out.push(b' ');
            number::write_timestamp(out, timestamp);
        }
        out.push(b'\n');
    }
}
