//! Delimited protobuf: each family an `io.prometheus.client.MetricFamily`, prefixed with its
//! length (what client_golang pushes and Prometheus scrapes as
//! `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited`).
//!
//! Named and typed as in text 0.0.4: a counter as `<name>_total`, an Info as a gauge
//! `<name>_info`, a StateSet as a gauge; classic histograms and summaries as one `Metric` per
//! label set, without the `+Inf` bucket (the count is it); `_created` series left out. Native
//! families are written from their typed readings, other collectors' from their samples; both
//! give the same bytes for the same values.

use super::protowire::{put_double_field, put_len_field, put_varint, put_varint_field, varint_len};
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
/// `created_timestamp`. Every message is written in place in `out`, its length patched in when
/// it is done ([`open`], [`close`]), and each series' labels straight from their rendered form:
/// no buffer per message to copy from, no allocation per series.
pub fn write_family(out: &mut Vec<u8>, family: &Family, created: bool, cumulative: &mut Vec<u64>) {
    let meta = family.meta();
    let kind = meta.kind.metric_type();
    let (code, value_field) = type_code(kind);
    let name = match kind {
        MetricType::Counter => format!("{}_total", meta.name),
        MetricType::Info => format!("{}_info", meta.name),
        _ => meta.name.clone(),
    };
    // A histogram's `Metric` takes some 15 bytes a bucket; the others' about 64 in all.
    let per_metric = match kind {
        MetricType::Histogram => meta.kind.exemplar_slots() as u64 * 16 + 64,
        _ => 64,
    };
    let writer = MessageWriter::open(out, &name, &meta.help, (code, value_field), family.len(), per_metric);
    let created = created && family.exposes_created();
    family.for_each_series(|series| {
        let created = created.then(|| series.created());
        let exemplar = |slot: usize| family.exemplar(series, slot);
        let labels = Labels::Series(series.labels(), &meta.label_names);
        match family.read(series, cumulative) {
            Reading::Counter(counter) => writer.metric(out, labels, created, None, |value| {
                put_double_field(value, 1, counter.total());
                if let Some(exemplar) = exemplar(0) {
                    put_len_field(value, 2, &exemplar_message(&exemplar));
                }
            }),
            Reading::Gauge(gauge) => {
                writer.metric(out, labels, created, None, |value| put_double_field(value, 1, gauge))
            }
            Reading::Histogram(histogram) => writer.metric(out, labels, created, None, |value| {
                put_varint_field(value, 1, histogram.count());
                if histogram.bounds.exposes_sum() {
                    put_double_field(value, 2, histogram.sum);
                }
                put_buckets(value, &histogram, exemplar);
            }),
            Reading::NativeHistogram(histogram) => writer.metric(out, labels, created, None, |value| {
                let classic = &histogram.classic;
                put_varint_field(value, 1, classic.count());
                put_double_field(value, 2, classic.sum);
                put_buckets(value, classic, exemplar);
                put_native(value, &histogram);
                for slot in 0..classic.bounds.len() {
                    if let Some(exemplar) = exemplar(slot) {
                        put_wide_len_field(value, 16, &exemplar_message(&exemplar));
                    }
                }
            }),
            Reading::Summary(summary) => writer.metric(out, labels, created, None, |value| {
                put_varint_field(value, 1, summary.count);
                put_double_field(value, 2, summary.sum);
            }),
            Reading::QuantileSummary(reading) => writer.metric(out, labels, created, None, |value| {
                for (&(quantile, _), &estimate) in reading.quantiles.targets.iter().zip(&reading.values) {
                    put_quantile(value, quantile, estimate);
                }
                put_varint_field(value, 1, reading.summary.count);
                put_double_field(value, 2, reading.summary.sum);
            }),
            Reading::Info(pairs) => {
                let labels = Labels::SeriesWith(series.labels(), &meta.label_names, &pairs);
                writer.metric(out, labels, created, None, |value| put_double_field(value, 1, 1.0))
            }
            Reading::StateSet(states) => {
                for (i, state) in states.states.iter().enumerate() {
                    let extra = [(meta.name.as_str(), state.as_str())];
                    let labels = Labels::SeriesAnd(series.labels(), &meta.label_names, &extra);
                    let current = if i == states.current { 1.0 } else { 0.0 };
                    writer.metric(out, labels, None, None, |value| put_double_field(value, 1, current));
                }
            }
        }
    });
    writer.close(out, &meta.unit);
}

/// The labels of one `Metric`.
#[derive(Clone, Copy)]
enum Labels<'a> {
    /// A series' rendered set (`a="x",b="y"`, values escaped) and its family's label names.
    Series(&'a str, &'a [String]),
    /// A series' set, then more rendered pairs (an Info's).
    SeriesWith(&'a str, &'a [String], &'a str),
    /// A series' set, then plain pairs (a state).
    SeriesAnd(&'a str, &'a [String], &'a [(&'a str, &'a str)]),
    /// Plain pairs (a collector's).
    Pairs(&'a [(String, String)]),
}

impl Labels<'_> {
    fn put(self, out: &mut Vec<u8>) {
        match self {
            Labels::Series(rendered, names) => put_series_labels(out, rendered, names),
            Labels::SeriesWith(rendered, names, extra) => {
                put_series_labels(out, rendered, names);
                put_rendered_labels(out, extra);
            }
            Labels::SeriesAnd(rendered, names, extra) => {
                put_series_labels(out, rendered, names);
                extra.iter().for_each(|(name, value)| put_pair(out, name.as_bytes(), value.as_bytes()));
            }
            Labels::Pairs(pairs) => {
                pairs.iter().for_each(|(name, value)| put_pair(out, name.as_bytes(), value.as_bytes()))
            }
        }
    }
}

/// Appends the label pairs of a rendered set (`a="x",b="y"`, values escaped) as `LabelPair`
/// fields, unescaping only the values that need it. The names are classic (a family with other
/// names is written from its snapshot), so the first `=` ends a name. This parse is most of
/// what a protobuf scrape costs beyond the text one, so it looks at eight bytes at a time.
#[inline]
fn put_rendered_labels(out: &mut Vec<u8>, rendered: &str) {
    let bytes = rendered.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let Some(eq) = find_either(&bytes[at..], b'=', b'=') else { return };
        let name = &bytes[at..at + eq];
        let Some(next) = put_rendered_value(out, name, rendered, at + eq + 2) else { return };
        at = next;
    }
}

/// Appends the pair of `name` and the escaped value that starts at `start` in `rendered`
/// (after `="`); returns where the next pair starts, or `None` for a set not well formed (a
/// rendered set is ours, so that ends the pairs).
#[inline(always)]
fn put_rendered_value(out: &mut Vec<u8>, name: &[u8], rendered: &str, start: usize) -> Option<usize> {
    let bytes = rendered.as_bytes();
    let end = start + find_either(bytes.get(start..)?, b'"', b'\\')?;
    if bytes[end] == b'"' {
        put_pair(out, name, &bytes[start..end]);
        Some(end + 2) // past `",`
    } else {
        let (unescaped, used) = crate::escape::read_label_value(rendered.get(start..)?).ok()?;
        put_pair(out, name, unescaped.as_bytes());
        Some(start + used + 1)
    }
}

/// [`put_rendered_labels`] for a series' own set, whose names are the family's `names` in
/// order: only the values are looked for.
#[inline]
fn put_series_labels(out: &mut Vec<u8>, rendered: &str, names: &[String]) {
    let bytes = rendered.as_bytes();
    let mut at = 0;
    for name in names {
        let name = name.as_bytes();
        if bytes.get(at + name.len()) != Some(&b'=') {
            return put_rendered_labels(out, &rendered[at.min(rendered.len())..]);
        }
        let Some(next) = put_rendered_value(out, name, rendered, at + name.len() + 2) else { return };
        at = next;
    }
    if at < bytes.len() {
        put_rendered_labels(out, &rendered[at..]);
    }
}

/// Where the first byte equal to `a` or `b` is in `haystack`, eight bytes at a time.
#[inline(always)]
fn find_either(haystack: &[u8], a: u8, b: u8) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // The lowest high bit of `zero_bytes(x)` marks `x`'s first zero byte (borrows only ever
    // mark bytes above a true zero).
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let (a_word, b_word) = (ONES * u64::from(a), ONES * u64::from(b));
    let mut chunks = haystack.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let found = zero_bytes(word ^ a_word) | zero_bytes(word ^ b_word);
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks.remainder().iter().position(|&byte| byte == a || byte == b).map(|i| offset + i)
}

/// Appends a `LabelPair` field: name (1), value (2).
#[inline(always)]
fn put_pair(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    let len = 2 + varint_len(name.len() as u64) + name.len() + varint_len(value.len() as u64) + value.len();
    out.push(1 << 3 | 2);
    put_varint(out, len as u64);
    put_bytes_field(out, 1, name);
    put_bytes_field(out, 2, value);
}

/// [`put_len_field`], inline: labels make most of a scrape's fields.
#[inline(always)]
fn put_bytes_field(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    out.push(field << 3 | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Starts a length-delimited field whose length is not known yet: its tag, then `reserve`
/// bytes for the length, which [`close`] fills in. Returns where the length goes.
#[inline(always)]
fn open(out: &mut Vec<u8>, field: u8, reserve: usize) -> usize {
    out.push(field << 3 | 2);
    let at = out.len();
    if reserve == 1 {
        out.push(0);
    } else {
        out.extend_from_slice(&[0; 10][..reserve]);
    }
    at
}

/// Ends the field [`open`] started at `at`: writes its length, moving its contents when the
/// length takes other than the `reserve` bytes left for it.
#[inline(always)]
fn close(out: &mut Vec<u8>, at: usize, reserve: usize) {
    let len = out.len() - at - reserve;
    if len < 0x80 && reserve == 1 {
        out[at] = len as u8;
        return;
    }
    close_moving(out, at, reserve, len);
}

/// [`close`] for a length that isn't one byte or has other room than one byte.
#[inline(never)]
fn close_moving(out: &mut Vec<u8>, at: usize, reserve: usize, len: usize) {
    let body = at + reserve;
    let needed = varint_len(len as u64);
    if needed != reserve {
        if needed > reserve {
            out.resize(out.len() + needed - reserve, 0);
        }
        out.copy_within(body..body + len, at + needed);
        out.truncate(at + needed + len);
    }
    let mut value = len as u64;
    for byte in &mut out[at..at + needed - 1] {
        *byte = value as u8 | 0x80;
        value >>= 7;
    }
    out[at + needed - 1] = value as u8;
}

/// One `MetricFamily` being written in place, a `Metric` at a time.
struct MessageWriter {
    code: u64,
    value_field: u8,
    /// Where the family's length goes, and the bytes left for it.
    at: usize,
    reserve: usize,
    /// The bytes left for each `Metric`'s and value message's length.
    metric_reserve: usize,
}

impl MessageWriter {
    /// Starts a family of type `code` (its value in `value_field`) of about `metrics`
    /// messages of about `per_metric` bytes: the room left for the lengths is guessed from
    /// them, and a wrong guess costs a move of the message, not wrong bytes.
    fn open(
        out: &mut Vec<u8>,
        name: &str,
        help: &str,
        (code, value_field): (u64, u8),
        metrics: usize,
        per_metric: u64,
    ) -> MessageWriter {
        let metric_reserve = varint_len(per_metric);
        let reserve = varint_len(metrics as u64 * per_metric + 64);
        let at = out.len();
        out.extend_from_slice(&[0; 10][..reserve]);
        put_len_field(out, 1, name.as_bytes());
        if !help.is_empty() {
            put_len_field(out, 2, help.as_bytes());
        }
        put_varint_field(out, 3, code);
        MessageWriter { code, value_field, at, reserve, metric_reserve }
    }

    /// Appends one `Metric`: its labels, its value message (the fields `value` writes, then the
    /// created timestamp) and its timestamp.
    #[inline(always)]
    fn metric(
        &self,
        out: &mut Vec<u8>,
        labels: Labels<'_>,
        created: Option<f64>,
        timestamp_ms: Option<i64>,
        value: impl FnOnce(&mut Vec<u8>),
    ) {
        let metric = open(out, 4, self.metric_reserve);
        labels.put(out);
        let value_message = open(out, self.value_field, self.metric_reserve);
        value(out);
        if let Some((field, created)) = created_field(self.code).zip(created) {
            put_timestamp(out, field, created);
        }
        close(out, value_message, self.metric_reserve);
        if let Some(timestamp) = timestamp_ms {
            put_varint_field(out, 6, timestamp as u64);
        }
        close(out, metric, self.metric_reserve);
    }

    /// Ends the family: its unit, then its length in front.
    fn close(self, out: &mut Vec<u8>, unit: &str) {
        if !unit.is_empty() {
            put_len_field(out, 5, unit.as_bytes());
        }
        close(out, self.at, self.reserve);
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
        put_timestamp(&mut message, 3, seconds);
    }
    message
}

/// A `google.protobuf.Timestamp` as field `field`: whole seconds (1) and nanoseconds (2).
fn put_timestamp(out: &mut Vec<u8>, field: u8, seconds: f64) {
    let whole = seconds.floor();
    let nanos = (((seconds - whole) * 1e9).round() as i64).clamp(0, 999_999_999);
    let (whole, nanos) = (whole as i64 as u64, nanos as u64);
    let len = 1 + varint_len(whole) + if nanos > 0 { 1 + varint_len(nanos) } else { 0 };
    out.push(field << 3 | 2);
    put_varint(out, len as u64);
    put_varint_field(out, 1, whole);
    if nanos > 0 {
        put_varint_field(out, 2, nanos);
    }
}

/// A summary's `Quantile` (field 3): quantile (1), value (2).
fn put_quantile(out: &mut Vec<u8>, quantile: f64, value: f64) {
    out.extend_from_slice(&[3 << 3 | 2, 18]);
    put_double_field(out, 1, quantile);
    put_double_field(out, 2, value);
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
            (SUMMARY, "", Some(quantile)) => put_quantile(&mut metric.value, quantile, sample.value),
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

/// A `Bucket` (field 3): cumulative count (1), upper bound (2), exemplar (3).
fn put_bucket(out: &mut Vec<u8>, cumulative_count: u64, upper_bound: f64, exemplar: Option<&Exemplar>) {
    let bucket = open(out, 3, 1);
    put_varint_field(out, 1, cumulative_count);
    put_double_field(out, 2, upper_bound);
    if let Some(exemplar) = exemplar.filter(|e| !e.labels_only) {
        put_len_field(out, 3, &exemplar_message(exemplar));
    }
    close(out, bucket, 1);
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
    let writer = MessageWriter::open(out, name, help, type_code(kind), metrics.len(), 64);
    for metric in metrics {
        writer.metric(out, Labels::Pairs(&metric.labels), metric.created, metric.timestamp_ms, |value| {
            value.extend_from_slice(&metric.value);
            value.extend_from_slice(&metric.buckets);
        });
    }
    writer.close(out, unit);
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

    /// A message's fields, each length-delimited one checked to end within the message.
    fn walk(mut bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let varint = |bytes: &mut &[u8]| {
            let (mut value, mut shift) = (0u64, 0);
            loop {
                let byte = bytes[0];
                *bytes = &bytes[1..];
                value |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                if byte < 0x80 {
                    return value;
                }
            }
        };
        let mut fields = Vec::new();
        while !bytes.is_empty() {
            let tag = varint(&mut bytes);
            let payload = match tag & 7 {
                0 => varint(&mut bytes).to_le_bytes().to_vec(),
                1 => {
                    let (value, rest) = bytes.split_at(8);
                    bytes = rest;
                    value.to_vec()
                }
                2 => {
                    let len = varint(&mut bytes) as usize;
                    let (value, rest) = bytes.split_at(len);
                    bytes = rest;
                    value.to_vec()
                }
                wire => panic!("wire type {wire}"),
            };
            fields.push((tag >> 3, payload));
        }
        fields
    }

    #[test]
    fn lengths_that_outgrow_their_room_are_moved_into_place() {
        // Label values of lengths around the one-byte varint limit and past it, escaped, in a
        // counter (room for one byte), a histogram smaller than the two bytes guessed for it
        // and one larger than guessed.
        let family = Family::new("jobs", "Jobs.", "", Kind::Counter, vec!["path".into()]).unwrap();
        let bounds = histogram::bounds(&(1..=60).map(f64::from).collect::<Vec<_>>()).unwrap();
        let wide =
            Family::new("wide", "", "", Kind::Histogram { bounds: bounds.clone() }, vec!["path".into()]).unwrap();
        let few = histogram::bounds(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        let narrow =
            Family::new("narrow", "", "", Kind::Histogram { bounds: few.clone() }, vec!["path".into()]).unwrap();
        let paths: Vec<String> = [1, 100, 120, 126, 127, 128, 200, 1000, 4000]
            .iter()
            .map(|&n| "p\"".repeat(n / 2) + &"x".repeat(1 + n % 2))
            .collect();
        for (i, path) in paths.iter().enumerate() {
            counter::inc_integer(family.labels(&[path]).unwrap().cells(), i as u64 + 1);
            histogram::observe(wide.labels(&[path]).unwrap().cells(), &bounds, i as f64);
            histogram::observe(narrow.labels(&[path]).unwrap().cells(), &few, i as f64);
        }
        for family in [&family, &wide, &narrow] {
            let mut body = Vec::new();
            write_family(&mut body, family, true, &mut Vec::new());
            let (mut snapshot, mut rest) = (Vec::new(), &body[..]);
            write_snapshot(&mut snapshot, &family.snapshot(true));
            assert_eq!(body, snapshot);
            // The delimited form: the family's length, then it.
            let mut len = 0usize;
            for (i, &byte) in rest.iter().enumerate() {
                len |= usize::from(byte & 0x7f) << (7 * i);
                if byte < 0x80 {
                    rest = &rest[i + 1..];
                    break;
                }
            }
            assert_eq!(len, rest.len(), "one family, its length in front");
            let fields = walk(rest);
            let metrics: Vec<&Vec<u8>> = fields.iter().filter(|(field, _)| *field == 4).map(|(_, m)| m).collect();
            assert_eq!(metrics.len(), paths.len());
            for (metric, path) in metrics.iter().zip(&paths) {
                let metric = walk(metric);
                let label = walk(&metric[0].1);
                assert_eq!(label[1].1, path.as_bytes(), "the value unescaped, whole");
                let value = walk(&metric[1].1);
                assert!(value.iter().any(|(field, _)| *field == 1));
            }
        }
    }

    #[test]
    fn bytes_are_found_eight_at_a_time() {
        let text = b"abcdefgh=ijklmnop\\qrstuvw\"";
        for start in 0..text.len() {
            let expected = text[start..].iter().position(|&b| b == b'"' || b == b'\\');
            assert_eq!(find_either(&text[start..], b'"', b'\\'), expected, "from {start}");
            let expected = text[start..].iter().position(|&b| b == b'=');
            assert_eq!(find_either(&text[start..], b'=', b'='), expected, "from {start}");
        }
        assert_eq!(find_either(&[0x80, 0x01, b'"'], b'"', b'"'), Some(2));
        assert_eq!(find_either(b"", b'"', b'"'), None);
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
