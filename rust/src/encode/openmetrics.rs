//! OpenMetrics 1.0.0 text (<https://prometheus.io/docs/specs/om/open_metrics_spec/>): metadata
//! under the family name with `# UNIT`, HELP escaping `"` too, `_created` right after its
//! series, numbers as prometheus_client prints them (`1.0`, counts too), timestamps in seconds (a
//! collector's int or `Timestamp` as Python's `str()` prints it), `# EOF` at the end.
//! Exemplars follow their sample as ` # {labels} value timestamp`, labels sorted by name, the
//! value as a sample's and the timestamp as Python prints it (prometheus_client's bytes).
//!
//! OpenMetrics 2.0.0 (as prometheus_client 0.26 writes it, when asked for) adds native
//! histograms: one sample per series named as the family, its value a struct
//! `{count:..,sum:..,schema:..,zero_threshold:..,zero_count:..,negative_spans:[o:l,..],
//! negative_deltas:[..],positive_spans:[..],positive_deltas:[..]}` (spans and deltas only when
//! there are buckets), followed by its exemplars; a native family's classic lines follow it.
//! prometheus_client prints the struct's numbers with Python's `str()`, so integers have no
//! point and floats are `repr`'s (`0.001`, `2.938735877055719e-39`), not sample values' style.
//! 1.0.0 leaves the native samples of other collectors out, as prometheus_client does.

use super::{
    write_created, write_escaped_created, write_escaped_series, write_meta_name, write_sample_series, write_series,
    Escaping, Naming, Style,
};
use crate::error::{Error, Result};
use crate::metric::exemplar::{Exemplar, Time};
use crate::metric::{native_histogram, Extra, MetricType, Reading};
use crate::number;
use crate::registry::snapshot::{NativeHistogramValue, Number};
use crate::registry::{Family, MetricFamily, Series};

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

/// Appends a native family, each series followed by its `_created` line when `created`; with
/// `version_2`, a native histogram's series start with their native sample.
pub fn write_family(
    out: &mut Vec<u8>,
    family: &Family,
    created: bool,
    cumulative: &mut Vec<u64>,
    naming: Naming<'_>,
    version_2: bool,
) {
    let meta = family.meta();
    let native = version_2 && matches!(meta.kind, crate::metric::Kind::NativeHistogram { .. });
    match naming {
        Naming::Classic => {
            write_header(out, &meta.name, &meta.help, meta.kind.type_name(), &meta.unit, Escaping::Underscores);
            family.for_each_series(|series| {
                if native {
                    write_native_series(out, family, series, cumulative, naming);
                }
                write_series(out, family, series, &STYLE, cumulative);
                if created {
                    write_created(out, &meta.name, series, &STYLE);
                }
            });
        }
        Naming::Escaped(escaping, names) => {
            write_header(out, &meta.name, &meta.help, meta.kind.type_name(), &meta.unit, escaping);
            family.for_each_series(|series| {
                if native {
                    write_native_series(out, family, series, cumulative, naming);
                }
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

/// The error prometheus_client raises for an exemplar where OpenMetrics allows none.
fn misplaced_exemplar(family: &MetricFamily) -> Error {
    Error::InvalidValue(format!("Metric {} has exemplars, but is not a histogram bucket or counter", family.name))
}

/// Appends a family given as samples; with `version_2`, native histogram samples are written
/// with their struct, else left out. An exemplar OpenMetrics does not allow (not on a counter's
/// total or a histogram's bucket or native sample) fails the family, as in prometheus_client.
pub fn write_snapshot(out: &mut Vec<u8>, family: &MetricFamily, escaping: Escaping, version_2: bool) -> Result<()> {
    write_header(out, &family.name, &family.help, family.kind.name(), &family.unit, escaping);
    let mut exemplars = family.exemplars.iter().peekable();
    let mut natives = family.native_histograms.iter().peekable();
    let mut timestamp_texts = family.timestamp_texts.iter().peekable();
    for (index, sample) in family.samples.iter().enumerate() {
        let mut exemplar = None;
        while let Some((at, found)) = exemplars.next_if(|(at, _)| *at <= index) {
            if *at == index {
                exemplar = Some(found);
            }
        }
        let mut native = None;
        while let Some((at, found)) = natives.next_if(|(at, _)| *at <= index) {
            if *at == index {
                native = Some(found);
            }
        }
        let exemplar_allowed = may_have_exemplar(family, &sample.name);
        if exemplar.is_some() && !exemplar_allowed {
            return Err(misplaced_exemplar(family));
        }
        if native.is_some() && !version_2 {
            continue;
        }
        if let Some(reason) = native.and_then(|native| native.unwritable.as_deref()) {
            return Err(Error::WrongType(reason.into()));
        }
        write_sample_series(out, &sample.name, &sample.labels, escaping);
        out.push(b' ');
        match native {
            Some(native) => write_native_value(out, native),
            None => number::write_python(out, sample.value),
        }
        if let Some(timestamp) = sample.timestamp {
            out.push(b' ');
            let mut text = None;
            while let Some((at, found)) = timestamp_texts.next_if(|(at, _)| *at <= index) {
                if *at == index {
                    text = Some(found);
                }
            }
            match text {
                Some(text) => out.extend_from_slice(text.as_bytes()),
                None => number::write_timestamp(out, timestamp),
            }
        }
        if let Some(exemplar) = exemplar {
            write_exemplar(out, exemplar);
        }
        if let Some(native) = native {
            if !native.exemplars.is_empty() && !exemplar_allowed {
                return Err(misplaced_exemplar(family));
            }
            native.exemplars.iter().for_each(|exemplar| write_exemplar(out, exemplar));
        }
        out.push(b'\n');
    }
    Ok(())
}

/// Appends a native histogram series' native sample line (OpenMetrics 2.0), with every exemplar
/// the series holds after it.
fn write_native_series(
    out: &mut Vec<u8>,
    family: &Family,
    series: &Series,
    cumulative: &mut Vec<u64>,
    naming: Naming<'_>,
) {
    let Reading::NativeHistogram(reading) = family.read(series, cumulative) else { return };
    let name = family.meta().name.as_str();
    match naming {
        Naming::Classic => super::write_line_start(out, name, "", series.labels(), Extra::None),
        Naming::Escaped(escaping, names) => {
            super::write_escaped_line_start(out, (escaping, names), name, "", series.labels(), Extra::None)
        }
    }
    let (negative_spans, negative_deltas) = native_histogram::spans(&reading.negative);
    let (positive_spans, positive_deltas) = native_histogram::spans(&reading.positive);
    write_native_head(
        out,
        [
            Number::Integer(reading.classic.count() as i64),
            Number::Float(reading.classic.sum),
            Number::Integer(reading.schema.into()),
            Number::Float(reading.zero_threshold),
            Number::Integer(reading.zero_count as i64),
        ],
    );
    write_native_buckets(out, "negative", &negative_spans, &negative_deltas);
    write_native_buckets(out, "positive", &positive_spans, &positive_deltas);
    out.push(b'}');
    if family.has_exemplars() {
        for slot in 0..family.meta().kind.exemplar_slots() {
            if let Some(exemplar) = family.exemplar(series, slot) {
                write_exemplar(out, &exemplar);
            }
        }
    }
    out.push(b'\n');
}

/// Appends `{count:..,sum:..,schema:..,zero_threshold:..,zero_count:..}` with the spans and
/// deltas of each sign that has buckets, negative first, as prometheus_client writes them.
fn write_native_value(out: &mut Vec<u8>, value: &NativeHistogramValue) {
    let head = [&value.count, &value.sum, &value.schema, &value.zero_threshold, &value.zero_count];
    write_native_head(out, head.map(Clone::clone));
    write_native_buckets(out, "negative", &value.negative_spans, &value.negative_deltas);
    write_native_buckets(out, "positive", &value.positive_spans, &value.positive_deltas);
    out.push(b'}');
}

/// Appends `{count:..,sum:..,schema:..,zero_threshold:..,zero_count:..` (count, sum, schema,
/// zero threshold, zero count, in that order).
fn write_native_head(out: &mut Vec<u8>, numbers: [Number; 5]) {
    const FIELDS: [&str; 5] = ["{count:", ",sum:", ",schema:", ",zero_threshold:", ",zero_count:"];
    for (field, number) in FIELDS.iter().zip(numbers) {
        out.extend_from_slice(field.as_bytes());
        number.write_str(out);
    }
}

/// A span or delta number, written as Python's `str()` writes it.
trait WriteStr {
    fn write_str(&self, out: &mut Vec<u8>);
}

impl WriteStr for Number {
    fn write_str(&self, out: &mut Vec<u8>) {
        match self {
            Number::Integer(value) => value.write_str(out),
            Number::Float(value) => number::write_repr(out, *value),
            Number::Text(text) => out.extend_from_slice(text.as_bytes()),
        }
    }
}

impl WriteStr for i64 {
    fn write_str(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(itoa::Buffer::new().format(*self).as_bytes());
    }
}

impl WriteStr for i32 {
    fn write_str(&self, out: &mut Vec<u8>) {
        i64::from(*self).write_str(out);
    }
}

impl WriteStr for u32 {
    fn write_str(&self, out: &mut Vec<u8>) {
        i64::from(*self).write_str(out);
    }
}

/// Appends `,<sign>_spans:[o:l,..],<sign>_deltas:[d,..]`, or nothing when there are no spans.
fn write_native_buckets<O, L, D>(out: &mut Vec<u8>, sign: &str, spans: &[(O, L)], deltas: &[D])
where
    O: WriteStr,
    L: WriteStr,
    D: WriteStr,
{
    if spans.is_empty() {
        return;
    }
    out.push(b',');
    out.extend_from_slice(sign.as_bytes());
    out.extend_from_slice(b"_spans:[");
    for (i, (offset, length)) in spans.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        offset.write_str(out);
        out.push(b':');
        length.write_str(out);
    }
    out.extend_from_slice(b"],");
    out.extend_from_slice(sign.as_bytes());
    out.extend_from_slice(b"_deltas:[");
    for (i, delta) in deltas.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        delta.write_str(out);
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native_family(version_2: bool) -> String {
        let mut family = MetricFamily::new("nh", "h", MetricType::Histogram, "");
        family.push("", vec![("a".into(), "b".into())], 0.0);
        family.push("_count", vec![("a".into(), "b".into())], 3.0);
        let value = NativeHistogramValue {
            count: Number::Integer(3),
            sum: Number::Float(2.5),
            schema: Number::Integer(0),
            zero_threshold: Number::Float(0.001),
            zero_count: Number::Integer(1),
            negative_spans: Vec::new(),
            negative_deltas: Vec::new(),
            positive_spans: vec![(Number::Integer(-1), Number::Integer(2))],
            positive_deltas: vec![Number::Integer(1), Number::Integer(0)],
            exemplars: Vec::new(),
            unwritable: None,
        };
        family.native_histograms.push((0, std::sync::Arc::new(value)));
        let mut out = Vec::new();
        write_snapshot(&mut out, &family, Escaping::Underscores, version_2).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn native_samples_are_written_in_2_0_and_left_out_of_1_0() {
        let head = "# HELP nh h\n# TYPE nh histogram\n";
        assert_eq!(
            native_family(true),
            format!(
                "{head}nh{{a=\"b\"}} {{count:3,sum:2.5,schema:0,zero_threshold:0.001,zero_count:1,positive_spans:[-1:2],positive_deltas:[1,0]}}\nnh_count{{a=\"b\"}} 3.0\n"
            )
        );
        assert_eq!(native_family(false), format!("{head}nh_count{{a=\"b\"}} 3.0\n"));
    }

    #[test]
    fn a_native_histogram_family_gets_its_native_line_in_2_0_only() {
        use crate::metric::{histogram, native_histogram::Config, Kind};
        use crate::registry::{Options, Registry};
        let native = Config::new(2.0, None, 160, 0.0, 0.0).unwrap();
        let kind = Kind::NativeHistogram { bounds: histogram::bounds(&[1.0]).unwrap(), native: native.clone() };
        let family = Family::new("size", "Size.", "", kind, vec!["p".into()]).unwrap();
        let series = family.labels(&["x"]).unwrap();
        let Kind::NativeHistogram { bounds, native } = &family.meta().kind else { unreachable!() };
        for value in [0.0, 3.0, 5.0, 30.0, -0.75] {
            native_histogram::observe(series.cells(), bounds, native, value, || 0.0);
        }
        let registry = Registry::new();
        registry.register_family(family).unwrap();
        let options = Options { created: false, ..Options::default() };
        let encoded = |version_2: bool| {
            let exposition = super::super::Exposition {
                openmetrics_2: version_2,
                ..super::super::Exposition::plain(super::super::Format::OpenMetrics)
            };
            String::from_utf8(super::super::encode_exposition(&registry, &exposition, &options).unwrap()).unwrap()
        };
        let classic = "size_bucket{p=\"x\",le=\"1.0\"} 2.0\nsize_bucket{p=\"x\",le=\"+Inf\"} 5.0\nsize_count{p=\"x\"} 5.0\nsize_sum{p=\"x\"} 37.25\n";
        let head = "# HELP size Size.\n# TYPE size histogram\n";
        assert_eq!(encoded(false), format!("{head}{classic}# EOF\n"));
        // Schema 0: 3 and 5 in (2, 4] and (4, 8] (keys 2, 3), 30 in key 5; 0.75 in key 0.
        let native = "size{p=\"x\"} {count:5,sum:37.25,schema:0,zero_threshold:2.938735877055719e-39,zero_count:1,\
            negative_spans:[0:1],negative_deltas:[1],positive_spans:[2:4],positive_deltas:[1,0,-1,1]}\n";
        assert_eq!(encoded(true), format!("{head}{native}{classic}# EOF\n"));
    }

    #[test]
    fn an_exemplar_where_openmetrics_allows_none_fails_the_family() {
        let mut family = MetricFamily::new("hh", "h", MetricType::Histogram, "");
        family.push("_count", Vec::new(), 1.0);
        let exemplar = Exemplar::unchecked(vec![("a".into(), "b".into())], 0.5, Time::None);
        family.exemplars.push((0, std::sync::Arc::new(exemplar)));
        let err = write_snapshot(&mut Vec::new(), &family, Escaping::Underscores, false).unwrap_err();
        assert!(err.to_string().contains("not a histogram bucket or counter"), "{err}");
    }
}
