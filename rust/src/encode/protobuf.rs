//! Delimited protobuf: each family an `io.prometheus.client.MetricFamily`, prefixed with its
//! length (what client_golang pushes and Prometheus scrapes as
//! `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited`).
//!
//! Named and typed as in text 0.0.4: a counter as `<name>_total`, an Info as a gauge
//! `<name>_info`, a StateSet as a gauge; classic histograms and summaries as one `Metric` per
//! label set, without the `+Inf` bucket (the count is it); `_created` series left out. Native
//! families are written from their typed readings, other collectors' from their samples; both
//! give the same bytes for the same values.

use super::protowire::{put_double_field, put_len_field, put_varint, put_varint_field};
use crate::metric::exemplar::Exemplar;
use crate::metric::{histogram, native_histogram, MetricType, Reading};
use crate::registry::{Family, MetricFamily};

/// The Content-Type of this format.
pub const CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

// `MetricType` enum values and the `Metric` fields holding each type's value.
const COUNTER: u64 = 0;
const GAUGE: u64 = 1;
const SUMMARY: u64 = 2;
const UNTYPED: u64 = 3;
const HISTOGRAM: u64 = 4;
const GAUGE_HISTOGRAM: u64 = 5;
const GAUGE_FIELD: u8 = 2;
const COUNTER_FIELD: u8 = 3;
const SUMMARY_FIELD: u8 = 4;
const UNTYPED_FIELD: u8 = 5;
const HISTOGRAM_FIELD: u8 = 7;

/// One `Metric` being assembled: its labels, and the fields of its value message.
#[derive(Default)]
struct Metric {
    labels: Vec<(String, String)>,
    value: Vec<u8>,
    /// A histogram's buckets, after its count and sum.
    buckets: Vec<u8>,
    /// When the series started (`_created`), written last in its value message.
    created: Option<f64>,
    timestamp_ms: Option<i64>,
}

/// Appends a native family; with `created`, each series' creation time as its value's
/// `created_timestamp`. Each series is written as it is read, its labels straight from their
/// rendered form, into buffers reused from one series to the next: no allocation per series.
pub fn write_family(out: &mut Vec<u8>, family: &Family, created: bool, cumulative: &mut Vec<u64>) {
    let meta = family.meta();
    let kind = meta.kind.metric_type();
    let (code, value_field) = type_code(kind);
    let name = match kind {
        MetricType::Counter => format!("{}_total", meta.name),
        MetricType::Info => format!("{}_info", meta.name),
        _ => meta.name.clone(),
    };
    let mut writer = MessageWriter::new(&name, &meta.help, code, value_field);
    let (mut value, mut buckets) = (Vec::new(), Vec::new());
    family.for_each_series(|series| {
        value.clear();
        buckets.clear();
        let created = (created && family.exposes_created()).then(|| series.created());
        let exemplar = |slot: usize| family.exemplar(series, slot);
        let mut info_pairs = None;
        match family.read(series, cumulative) {
            Reading::Counter(counter) => {
                put_double_field(&mut value, 1, counter.total());
                if let Some(exemplar) = exemplar(0) {
                    put_len_field(&mut value, 2, &exemplar_message(&exemplar));
                }
            }
            Reading::Gauge(gauge) => put_double_field(&mut value, 1, gauge),
            Reading::Histogram(histogram) => {
                put_varint_field(&mut value, 1, histogram.count());
                if histogram.bounds.exposes_sum() {
                    put_double_field(&mut value, 2, histogram.sum);
                }
                put_buckets(&mut buckets, &histogram, exemplar);
            }
            Reading::NativeHistogram(histogram) => {
                let classic = &histogram.classic;
                put_varint_field(&mut value, 1, classic.count());
                put_double_field(&mut value, 2, classic.sum);
                put_buckets(&mut buckets, classic, exemplar);
                put_native(&mut buckets, &histogram);
                for slot in 0..classic.bounds.len() {
                    if let Some(exemplar) = exemplar(slot) {
                        put_wide_len_field(&mut buckets, 16, &exemplar_message(&exemplar));
                    }
                }
            }
            Reading::Summary(summary) => {
                put_varint_field(&mut value, 1, summary.count);
                put_double_field(&mut value, 2, summary.sum);
            }
            Reading::QuantileSummary(reading) => {
                for (&(quantile, _), &estimate) in reading.quantiles.targets.iter().zip(&reading.values) {
                    let mut pair = Vec::new();
                    put_double_field(&mut pair, 1, quantile);
                    put_double_field(&mut pair, 2, estimate);
                    put_len_field(&mut value, 3, &pair);
                }
                put_varint_field(&mut value, 1, reading.summary.count);
                put_double_field(&mut value, 2, reading.summary.sum);
            }
            Reading::Info(pairs) => {
                put_double_field(&mut value, 1, 1.0);
                info_pairs = Some(pairs);
            }
            Reading::StateSet(states) => {
                for (i, state) in states.states.iter().enumerate() {
                    value.clear();
                    put_double_field(&mut value, 1, if i == states.current { 1.0 } else { 0.0 });
                    let extra = [(meta.name.as_str(), state.as_str())];
                    writer.metric(series.labels(), "", &extra, &value, &[], None, None);
                }
                return;
            }
        }
        let rendered_extra = info_pairs.as_deref().unwrap_or("");
        writer.metric(series.labels(), rendered_extra, &[], &value, &buckets, created, None);
    });
    writer.finish(out, &meta.unit);
}

/// Appends the label pairs of a rendered set (`a="x",b="y"`, values escaped) as `LabelPair`
/// fields, unescaping only the values that need it.
fn put_rendered_labels(out: &mut Vec<u8>, rendered: &str, pair: &mut Vec<u8>) {
    let mut rest = rendered;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim_start_matches(',');
        let tail = &rest[eq + 2..];
        let plain = tail.find(['"', '\\']).filter(|&end| tail.as_bytes()[end] == b'"');
        let (owned, value, taken);
        match plain {
            Some(end) => {
                value = &tail[..end];
                taken = end + 1;
            }
            None => {
                // A rendered set is ours, so well formed; a bad one ends the pairs.
                let Ok((unescaped, used)) = crate::escape::read_label_value(tail) else { return };
                owned = unescaped;
                value = &owned;
                taken = used;
            }
        }
        put_pair(out, name, value, pair);
        rest = &tail[taken..];
    }
}

fn put_pair(out: &mut Vec<u8>, name: &str, value: &str, pair: &mut Vec<u8>) {
    pair.clear();
    put_len_field(pair, 1, name.as_bytes());
    put_len_field(pair, 2, value.as_bytes());
    put_len_field(out, 1, pair);
}

/// One `MetricFamily` being written, a `Metric` at a time, with its buffers.
struct MessageWriter {
    code: u64,
    value_field: u8,
    message: Vec<u8>,
    metric: Vec<u8>,
    value: Vec<u8>,
    pair: Vec<u8>,
}

impl MessageWriter {
    fn new(name: &str, help: &str, code: u64, value_field: u8) -> MessageWriter {
        let mut message = Vec::new();
        put_len_field(&mut message, 1, name.as_bytes());
        if !help.is_empty() {
            put_len_field(&mut message, 2, help.as_bytes());
        }
        put_varint_field(&mut message, 3, code);
        MessageWriter { code, value_field, message, metric: Vec::new(), value: Vec::new(), pair: Vec::new() }
    }

    /// Appends one `Metric`: its labels (rendered ones, then rendered extra ones, then pairs), its
    /// value message (fields, buckets, created timestamp) and its timestamp.
    #[allow(clippy::too_many_arguments)]
    fn metric(
        &mut self,
        rendered: &str,
        rendered_extra: &str,
        extra: &[(&str, &str)],
        fields: &[u8],
        buckets: &[u8],
        created: Option<f64>,
        timestamp_ms: Option<i64>,
    ) {
        let MessageWriter { code, value_field, message, metric, value, pair } = self;
        metric.clear();
        put_rendered_labels(metric, rendered, pair);
        put_rendered_labels(metric, rendered_extra, pair);
        for (name, label_value) in extra {
            put_pair(metric, name, label_value, pair);
        }
        value.clear();
        value.extend_from_slice(fields);
        value.extend_from_slice(buckets);
        if let Some((field, created)) = created_field(*code).zip(created) {
            put_len_field(value, field, &timestamp_message(created));
        }
        put_len_field(metric, *value_field, value);
        if let Some(timestamp) = timestamp_ms {
            put_varint_field(metric, 6, timestamp as u64);
        }
        put_len_field(message, 4, metric);
    }

    /// Appends the family, length-prefixed, to `out`.
    fn finish(mut self, out: &mut Vec<u8>, unit: &str) {
        if !unit.is_empty() {
            put_len_field(&mut self.message, 5, unit.as_bytes());
        }
        put_varint(out, self.message.len() as u64);
        out.extend_from_slice(&self.message);
    }
}

/// A classic histogram's finite buckets, each with its exemplar; the `+Inf` bucket (which the
/// count implies) only when it has an exemplar, as client_golang writes it.
fn put_buckets(
    out: &mut Vec<u8>,
    histogram: &histogram::Reading<'_>,
    exemplar: impl Fn(usize) -> Option<std::sync::Arc<Exemplar>>,
) {
    for (slot, (bound, count)) in histogram.bounds.iter().zip(histogram.cumulative).enumerate() {
        let exemplar = exemplar(slot);
        if bound.is_finite() || exemplar.is_some() {
            put_bucket(out, *count, *bound, exemplar.as_deref());
        }
    }
}

/// An `Exemplar` message: labels (1), value (2), timestamp (3) when it has one.
fn exemplar_message(exemplar: &Exemplar) -> Vec<u8> {
    let mut message = Vec::new();
    let mut pair = Vec::new();
    for (name, value) in &exemplar.labels {
        pair.clear();
        put_len_field(&mut pair, 1, name.as_bytes());
        put_len_field(&mut pair, 2, value.as_bytes());
        put_len_field(&mut message, 1, &pair);
    }
    put_double_field(&mut message, 2, exemplar.value);
    if let Some(seconds) = exemplar.time.seconds() {
        put_len_field(&mut message, 3, &timestamp_message(seconds));
    }
    message
}

/// A `google.protobuf.Timestamp`: whole seconds (1) and nanoseconds (2).
fn timestamp_message(seconds: f64) -> Vec<u8> {
    let whole = seconds.floor();
    let nanos = (((seconds - whole) * 1e9).round() as i64).clamp(0, 999_999_999);
    let mut message = Vec::new();
    put_varint_field(&mut message, 1, whole as i64 as u64);
    if nanos > 0 {
        put_varint_field(&mut message, 2, nanos as u64);
    }
    message
}

/// A length-delimited field numbered 16 or more (its tag takes two bytes).
fn put_wide_len_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, u64::from(field) << 3 | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends a family given as samples: the samples of one label set (less `le` and
/// `quantile`) make one `Metric`, in order of appearance.
pub fn write_snapshot(out: &mut Vec<u8>, family: &MetricFamily) {
    let name = &*family.name;
    let kind = family.kind;
    let full_name = match kind {
        MetricType::Counter if family.samples.iter().all(|s| s.name != family.name) => format!("{name}_total"),
        MetricType::Info => format!("{name}_info"),
        _ => name.to_owned(),
    };
    let (code, _) = type_code(kind);
    let mut metrics: Vec<Metric> = Vec::new();
    for (index, sample) in family.samples.iter().enumerate() {
        let suffix = sample.name.strip_prefix(name).unwrap_or("");
        let exemplar = family.exemplar(index);
        let mut bound = None;
        let labels: Vec<(String, String)> = sample
            .labels
            .iter()
            .filter(|(label, value)| match (&**label, suffix) {
                ("le", "_bucket") | ("quantile", "") if code == SUMMARY || code >= HISTOGRAM => {
                    bound = Some(value.parse::<f64>().unwrap_or(f64::NAN));
                    false
                }
                _ => true,
            })
            .map(|(label, value)| (label.to_string(), value.to_string()))
            .collect();
        let index = match metrics.iter().position(|m| m.labels == labels) {
            Some(index) => index,
            None => {
                metrics.push(Metric { labels, ..Metric::default() });
                metrics.len() - 1
            }
        };
        let metric = &mut metrics[index];
        if suffix == "_created" {
            if matches!(code, COUNTER | SUMMARY | HISTOGRAM) {
                metric.created = Some(sample.value);
            }
            continue;
        }
        metric.timestamp_ms = sample.timestamp.map(|t| (t * 1000.0).round() as i64);
        match (code, suffix, bound) {
            (HISTOGRAM | GAUGE_HISTOGRAM, "_bucket", Some(bound)) if bound.is_finite() || exemplar.is_some() => {
                put_bucket(&mut metric.buckets, sample.value as u64, bound, exemplar.map(|e| &**e))
            }
            (HISTOGRAM | GAUGE_HISTOGRAM, "_bucket", _) => {} // +Inf: the count says it
            (COUNTER, "_total", _) => {
                put_double_field(&mut metric.value, 1, sample.value);
                if let Some(exemplar) = exemplar.filter(|e| !e.labels_only) {
                    put_len_field(&mut metric.value, 2, &exemplar_message(exemplar));
                }
            }
            (SUMMARY | HISTOGRAM, "_count", _) | (GAUGE_HISTOGRAM, "_gcount", _) => {
                put_varint_field(&mut metric.value, 1, sample.value as u64)
            }
            (SUMMARY | HISTOGRAM, "_sum", _) | (GAUGE_HISTOGRAM, "_gsum", _) => {
                put_double_field(&mut metric.value, 2, sample.value)
            }
            (SUMMARY, "", Some(quantile)) => {
                let mut pair = Vec::new();
                put_double_field(&mut pair, 1, quantile);
                put_double_field(&mut pair, 2, sample.value);
                put_len_field(&mut metric.value, 3, &pair);
            }
            _ => put_double_field(&mut metric.value, 1, sample.value),
        }
    }
    write_message(out, &full_name, &family.help, &family.unit, kind, &metrics);
}

/// The `MetricType` value a type is sent as, and the `Metric` field holding its value.
fn type_code(kind: MetricType) -> (u64, u8) {
    match kind {
        MetricType::Counter => (COUNTER, COUNTER_FIELD),
        MetricType::Gauge | MetricType::StateSet | MetricType::Info => (GAUGE, GAUGE_FIELD),
        MetricType::Summary => (SUMMARY, SUMMARY_FIELD),
        MetricType::Histogram => (HISTOGRAM, HISTOGRAM_FIELD),
        MetricType::GaugeHistogram => (GAUGE_HISTOGRAM, HISTOGRAM_FIELD),
        MetricType::Unknown => (UNTYPED, UNTYPED_FIELD),
    }
}

/// Appends a native histogram's fields of `Histogram`: schema (5), zero threshold (6) and
/// count (7), negative spans and deltas (9, 10), positive ones (12, 13). A histogram with no
/// observation and a zero threshold of zero gets an empty positive span, as client_golang
/// sends it, so that Prometheus still reads it as native.
fn put_native(out: &mut Vec<u8>, reading: &native_histogram::Reading<'_>) {
    put_varint_field(out, 5, zigzag(reading.schema as i64));
    put_double_field(out, 6, reading.zero_threshold);
    put_varint_field(out, 7, reading.zero_count);
    let (negative, positive) = (native_histogram::spans(&reading.negative), native_histogram::spans(&reading.positive));
    put_spans(out, 9, 10, &negative);
    if positive.0.is_empty() && negative.0.is_empty() && reading.zero_threshold == 0.0 && reading.zero_count == 0 {
        put_spans(out, 12, 13, &(vec![(0, 0)], Vec::new()));
    } else {
        put_spans(out, 12, 13, &positive);
    }
}

fn put_spans(out: &mut Vec<u8>, span_field: u8, delta_field: u8, (spans, deltas): &(Vec<(i32, u32)>, Vec<i64>)) {
    let mut span = Vec::new();
    for &(offset, length) in spans {
        span.clear();
        put_varint_field(&mut span, 1, zigzag(offset as i64));
        put_varint_field(&mut span, 2, length as u64);
        put_len_field(out, span_field, &span);
    }
    if !deltas.is_empty() {
        let mut packed = Vec::new();
        deltas.iter().for_each(|&delta| put_varint(&mut packed, zigzag(delta)));
        put_len_field(out, delta_field, &packed);
    }
}

/// A signed value as protobuf's `sint32`/`sint64` encode it.
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn put_bucket(out: &mut Vec<u8>, cumulative_count: u64, upper_bound: f64, exemplar: Option<&Exemplar>) {
    let mut bucket = Vec::new();
    put_varint_field(&mut bucket, 1, cumulative_count);
    put_double_field(&mut bucket, 2, upper_bound);
    if let Some(exemplar) = exemplar.filter(|e| !e.labels_only) {
        put_len_field(&mut bucket, 3, &exemplar_message(exemplar));
    }
    put_len_field(out, 3, &bucket);
}

/// The field of a type's value message holding its `created_timestamp`, if it has one.
fn created_field(code: u64) -> Option<u8> {
    match code {
        COUNTER => Some(3),
        SUMMARY => Some(4),
        HISTOGRAM => Some(15),
        _ => None,
    }
}

/// Appends one length-prefixed `MetricFamily` of assembled metrics (a snapshot's).
fn write_message(out: &mut Vec<u8>, name: &str, help: &str, unit: &str, kind: MetricType, metrics: &[Metric]) {
    let (code, value_field) = type_code(kind);
    let mut writer = MessageWriter::new(name, help, code, value_field);
    for metric in metrics {
        let extra: Vec<(&str, &str)> = metric.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        writer.metric("", "", &extra, &metric.value, &metric.buckets, metric.created, metric.timestamp_ms);
    }
    writer.finish(out, unit);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::{counter, gauge, histogram, summary, GaugeMode, Kind};
    use crate::registry::Sample;

    #[test]
    fn snapshot_bodies_byte_for_byte() {
        let mut counter = MetricFamily::new("jobs", "Jobs.", MetricType::Counter, "");
        counter.push_named("jobs_total", vec![("q".into(), "a".into())], 2.0);
        counter.push_named("jobs_created", vec![("q".into(), "a".into())], 1.0);
        let mut histogram = MetricFamily::new("h", "", MetricType::Histogram, "");
        histogram.push("_bucket", vec![("le".into(), "0.5".into())], 1.0);
        histogram.push("_bucket", vec![("le".into(), "+Inf".into())], 3.0);
        histogram.push("_count", vec![], 3.0);
        histogram.push("_sum", vec![], 4.0);
        let mut gauge = MetricFamily::new("g", "", MetricType::Gauge, "");
        gauge.samples.push(Sample { name: "g".into(), labels: vec![], value: 1.0, timestamp: Some(2.0) });
        let mut body = Vec::new();
        [counter, histogram, gauge].iter().for_each(|family| write_snapshot(&mut body, family));
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            // MetricFamily{name "jobs_total", help "Jobs.", type COUNTER,
            //   metric {label q=a, counter {value 2, created_timestamp {seconds 1}}}}
            &[46, 0x0a, 10][..], b"jobs_total", &[0x12, 5], b"Jobs.", &[0x18, 0],
            &[0x22, 23, 0x0a, 6, 0x0a, 1, b'q', 0x12, 1, b'a', 0x1a, 13, 0x09, 0, 0, 0, 0, 0, 0, 0, 0x40],
            &[0x1a, 2, 0x08, 1],
            // MetricFamily{name "h", type HISTOGRAM, metric {histogram {count 3, sum 4, bucket {1, 0.5}}}}
            &[33, 0x0a, 1, b'h', 0x18, 4, 0x22, 26, 0x3a, 24, 0x08, 3, 0x11, 0, 0, 0, 0, 0, 0, 0x10, 0x40,
              0x1a, 11, 0x08, 1, 0x11, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f],
            // MetricFamily{name "g", type GAUGE, metric {gauge {value 1}, timestamp_ms 2000}}
            &[21, 0x0a, 1, b'g', 0x18, 1, 0x22, 14, 0x12, 9, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x30, 0xd0, 0x0f],
        ]
        .concat();
        assert_eq!(body, expected);
    }

    #[test]
    fn native_families_give_the_bytes_of_their_snapshots() {
        let labels = || vec!["path".to_string()];
        let bounds = histogram::bounds(&[0.5, 2.0]).unwrap();
        let families = [
            Family::new("jobs", "Jobs.", "", Kind::Counter, labels()).unwrap(),
            Family::new("depth", "", "", Kind::Gauge { mode: GaugeMode::Sum }, labels()).unwrap(),
            Family::new("latency", "", "seconds", Kind::Histogram { bounds: bounds.clone() }, labels()).unwrap(),
            Family::new("sizes", "", "", Kind::Summary, labels()).unwrap(),
            Family::new("build", "", "", Kind::Info, labels()).unwrap(),
            Family::new(
                "state",
                "",
                "",
                Kind::StateSet { states: crate::metric::stateset::States::new(vec!["up".into(), "down".into()]) },
                labels(),
            )
            .unwrap(),
        ];
        for path in ["/a", "/b \"q\""] {
            counter::inc(families[0].labels(&[path]).unwrap().cells(), 2.5);
            gauge::set(families[1].labels(&[path]).unwrap().cells(), -1.0);
            histogram::observe(families[2].labels(&[path]).unwrap().cells(), &bounds, 1.0);
            summary::observe(families[3].labels(&[path]).unwrap().cells(), 3.0);
            let info = families[4].labels(&[path]).unwrap();
            families[4].set_info(&info, &[("version".into(), "1.2".into())]).unwrap();
            crate::metric::stateset::set(families[5].labels(&[path]).unwrap().cells(), 1);
        }
        for family in &families {
            let (mut native, mut snapshot) = (Vec::new(), Vec::new());
            write_family(&mut native, family, true, &mut Vec::new());
            write_snapshot(&mut snapshot, &family.snapshot(true));
            assert_eq!(native, snapshot, "{}", family.meta().name);
        }
    }
}
