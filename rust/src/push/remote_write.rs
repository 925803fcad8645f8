//! Prometheus remote write 1.0 on the wire: a `WriteRequest` protobuf, compressed with snappy's
//! block format, and the samples it carries.
//!
//! The encoder is written by hand for the messages the protocol needs:
//! `WriteRequest{repeated TimeSeries timeseries = 1}`, `TimeSeries{repeated Label labels = 1;
//! repeated Sample samples = 2; repeated Histogram histograms = 4}`, `Label{string name = 1;
//! string value = 2}`, `Sample{double value = 1; int64 timestamp = 2}` (milliseconds) and, for
//! native histograms, `Histogram{uint64 count_int = 1; double sum = 3; sint32 schema = 4;
//! double zero_threshold = 5; uint64 zero_count_int = 6; repeated BucketSpan negative_spans = 8;
//! repeated sint64 negative_deltas = 9; repeated BucketSpan positive_spans = 11; repeated
//! sint64 positive_deltas = 12; int64 timestamp = 15}` with `BucketSpan{sint32 offset = 1;
//! uint32 length = 2}` (Prometheus' `prompb/types.proto`). A series' labels (sorted by name,
//! `__name__` included, empty values left out, external labels added) are encoded once, when
//! the series is first seen, and shared by every queued sample of it; a request is then mostly
//! copies of those bytes. That is what makes a million samples a second cheap.
//!
//! Native histograms are sent only when asked (`send_native_histograms`, as Prometheus' own
//! remote write has it, off by default: Prometheus without native histograms answers a request
//! carrying one with a 500, which is retried, so it would hold the queue). Their classic
//! `_bucket`/`_sum`/`_count` series are sent either way; the native one is the family's own
//! name.

use crate::encode::protowire::{put_double_field, put_len_field, put_varint, put_varint_field, varint_len};
use crate::encode::{write_sample_labels, write_series_name};
use crate::error::Result;
use crate::key;
use crate::metric::{native_histogram, Extra, Reading};
use crate::registry::{Family, FamilySink, MetricFamily, Options, Registry};
use hashbrown::hash_map::EntryRef;
use hashbrown::HashMap;
use std::sync::Arc;

/// The request headers the spec requires, less `User-Agent` (the client sets it).
pub const HEADERS: [(&str, &str); 3] = [
    ("Content-Encoding", "snappy"),
    ("Content-Type", "application/x-protobuf"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

/// The NaN Prometheus reads as "this series ended" (a stale marker).
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// One sample waiting to be sent: its series' encoded labels, value and time.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedSample {
    /// The series' `Label` messages, each already tagged as field 1 of `TimeSeries`.
    pub series: Arc<[u8]>,
    /// The value.
    pub value: SampleValue,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// What a sample carries: a float (`Sample`) or a native histogram (`Histogram`).
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    /// A float sample's value.
    Float(f64),
    /// A native histogram's `Histogram` fields, less its timestamp (added when it is sent).
    Histogram(Arc<[u8]>),
}

impl SampleValue {
    /// The float value, if it is one.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            SampleValue::Float(value) => Some(*value),
            SampleValue::Histogram(_) => None,
        }
    }
}

/// Appends one series' labels, which must be sorted by name, as `TimeSeries.labels` fields.
pub fn encode_labels<N: AsRef<str>, V: AsRef<str>>(out: &mut Vec<u8>, labels: &[(N, V)]) {
    for (name, value) in labels {
        let (name, value) = (name.as_ref(), value.as_ref());
        let label_len =
            1 + varint_len(name.len() as u64) + name.len() + 1 + varint_len(value.len() as u64) + value.len();
        out.push(1 << 3 | 2);
        put_varint(out, label_len as u64);
        put_len_field(out, 1, name.as_bytes());
        put_len_field(out, 2, value.as_bytes());
    }
}

/// Appends a `WriteRequest` with one `TimeSeries` per sample, in order (uncompressed).
pub fn encode_request(out: &mut Vec<u8>, samples: &[QueuedSample]) {
    for sample in samples {
        // int64: negative times take ten bytes.
        let timestamp = sample.timestamp_ms as u64;
        // `TimeSeries.samples = 2` (a `Sample`) or `.histograms = 4` (a `Histogram`), with the
        // message's own fields before its timestamp (field 2 of a Sample, 15 of a Histogram).
        let (field, fields, timestamp_field): (u8, &[u8], u8) = match &sample.value {
            SampleValue::Float(value) => (2, &float_value(*value), 2),
            SampleValue::Histogram(fields) => (4, fields, 15),
        };
        let message_len = fields.len() + 1 + varint_len(timestamp);
        let series_len = sample.series.len() + 1 + varint_len(message_len as u64) + message_len;
        out.push(1 << 3 | 2);
        put_varint(out, series_len as u64);
        out.extend_from_slice(&sample.series);
        out.push(field << 3 | 2);
        put_varint(out, message_len as u64);
        out.extend_from_slice(fields);
        out.push(timestamp_field << 3); // varint
        put_varint(out, timestamp);
    }
}

/// `Sample.value = 1`: a double, fixed 64 bits.
fn float_value(value: f64) -> [u8; 9] {
    let mut field = [1 << 3 | 1; 9];
    field[1..].copy_from_slice(&value.to_le_bytes());
    field
}

/// Encodes `samples` as a request body: protobuf, then snappy's block format. `raw` and
/// `encoder` are scratch space kept between requests.
pub fn encode_body(samples: &[QueuedSample], raw: &mut Vec<u8>, encoder: &mut snap::raw::Encoder) -> Vec<u8> {
    raw.clear();
    encode_request(raw, samples);
    let mut body = vec![0; snap::raw::max_compress_len(raw.len())];
    let written = encoder.compress(raw, &mut body).expect("a buffer of max_compress_len");
    body.truncate(written);
    body
}

/// A native histogram's `Histogram` fields (its timestamp aside): count, sum, schema, zero
/// bucket, spans and deltas of both signs, as client_golang lays out the buckets. Written in
/// `scratch` (kept between series), then copied into the one allocation the sample keeps.
pub fn encode_histogram(scratch: &mut Vec<u8>, reading: &native_histogram::Reading<'_>) -> Arc<[u8]> {
    scratch.clear();
    put_varint_field(scratch, 1, reading.classic.count());
    put_double_field(scratch, 3, reading.classic.sum);
    put_varint_field(scratch, 4, zigzag(i64::from(reading.schema)));
    put_double_field(scratch, 5, reading.zero_threshold);
    put_varint_field(scratch, 6, reading.zero_count);
    put_buckets(scratch, 8, 9, &native_histogram::spans(&reading.negative));
    put_buckets(scratch, 11, 12, &native_histogram::spans(&reading.positive));
    Arc::from(&scratch[..])
}

/// A histogram stale marker, as Prometheus writes one: no observations, a stale NaN sum.
fn stale_histogram() -> Arc<[u8]> {
    let mut out = Vec::new();
    put_varint_field(&mut out, 1, 0);
    put_double_field(&mut out, 3, f64::from_bits(STALE_NAN));
    Arc::from(out)
}

/// `BucketSpan` messages (`sint32 offset = 1; uint32 length = 2`) as repeated field
/// `span_field`, then the deltas packed as field `delta_field`; lengths counted first, so
/// nothing is assembled apart.
fn put_buckets(out: &mut Vec<u8>, span_field: u8, delta_field: u8, (spans, deltas): &(Vec<(i32, u32)>, Vec<i64>)) {
    for &(offset, length) in spans {
        let (offset, length) = (zigzag(i64::from(offset)), u64::from(length));
        out.push(span_field << 3 | 2);
        put_varint(out, (2 + varint_len(offset) + varint_len(length)) as u64);
        put_varint_field(out, 1, offset);
        put_varint_field(out, 2, length);
    }
    if !deltas.is_empty() {
        let packed: usize = deltas.iter().map(|&delta| varint_len(zigzag(delta))).sum();
        out.push(delta_field << 3 | 2);
        put_varint(out, packed as u64);
        deltas.iter().for_each(|&delta| put_varint(out, zigzag(delta)));
    }
}

/// A signed value as protobuf's `sint32`/`sint64` encode it.
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Turns scrapes into queued samples. A scrape walks the registry's families (native ones read
/// from their cells, as an encoder reads them): each sample's series is identified by its
/// `name{labels}` as the text format writes it (a native series' labels are rendered once,
/// when it is born), and the series' encoded labels are looked up by that, so a series seen
/// before costs a hash lookup. Only a series seen for the first time has its label pairs
/// taken apart, by the family's label names (never by parsing the text back, which a name or
/// value holding `="` would fool). A series that is gone at the next scrape gets a stale marker.
pub struct SeriesCache {
    external_labels: Vec<(String, String)>,
    native_histograms: bool,
    known: HashMap<Vec<u8>, Known>,
    scrape: u64,
    scratch: Vec<u8>,
}

struct Known {
    labels: Arc<[u8]>,
    /// The scrape that last had the series.
    seen: u64,
    /// Whether its last sample was a native histogram (its stale marker is one too).
    histogram: bool,
}

impl SeriesCache {
    /// A cache adding `external_labels` to every series that lacks them; refuses invalid names.
    /// Native histograms are not sent (see [`SeriesCache::send_native_histograms`]).
    pub fn new(external_labels: Vec<(String, String)>) -> Result<SeriesCache> {
        for (name, _) in &external_labels {
            key::validate_label_name(name)?;
        }
        Ok(SeriesCache {
            external_labels,
            native_histograms: false,
            known: HashMap::new(),
            scrape: 0,
            scratch: Vec::new(),
        })
    }

    /// With `send`, each native histogram series is also sent as a `Histogram` sample.
    pub fn send_native_histograms(mut self, send: bool) -> SeriesCache {
        self.native_histograms = send;
        self
    }

    /// Appends one sample per sample of a scrape of `registry` (at `timestamp_ms` unless the
    /// sample has its own time), then a stale marker for each series of the last scrape missing
    /// from this one. A failing collector fails the scrape, which then adds nothing.
    pub fn scrape(
        &mut self,
        registry: &Registry,
        options: &Options,
        timestamp_ms: i64,
        out: &mut Vec<QueuedSample>,
    ) -> Result<()> {
        self.scrape += 1;
        let before = out.len();
        let mut sink = Scrape {
            cache: self,
            options,
            timestamp_ms,
            out,
            name: Vec::new(),
            cumulative: Vec::new(),
            histogram: Vec::new(),
        };
        if let Err(err) = registry.visit(options, &mut sink) {
            out.truncate(before);
            return Err(err);
        }
        let scrape = self.scrape;
        self.known.retain(|_, known| {
            if known.seen != scrape {
                let value = match known.histogram {
                    true => SampleValue::Histogram(stale_histogram()),
                    false => SampleValue::Float(f64::from_bits(STALE_NAN)),
                };
                out.push(QueuedSample { series: known.labels.clone(), value, timestamp_ms });
            }
            known.seen == scrape
        });
        Ok(())
    }

    /// Queues one sample of the series named `series` (`name{labels}`); `pairs` gives its label
    /// pairs, `__name__` included, when the series is new.
    fn sample(
        &mut self,
        series: &[u8],
        pairs: impl FnOnce() -> Vec<(String, String)>,
        value: SampleValue,
        timestamp_ms: i64,
        out: &mut Vec<QueuedSample>,
    ) {
        let histogram = matches!(value, SampleValue::Histogram(_));
        let labels = match self.known.entry_ref(series) {
            EntryRef::Occupied(mut known) => {
                let known = known.get_mut();
                known.seen = self.scrape;
                known.histogram = histogram;
                known.labels.clone()
            }
            EntryRef::Vacant(vacant) => {
                let labels = encode_series(&mut self.scratch, &self.external_labels, pairs());
                vacant.insert(Known { labels: labels.clone(), seen: self.scrape, histogram });
                labels
            }
        };
        // Any NaN a user sets is sent as the ordinary NaN: only the writer makes stale markers.
        let value = match value {
            SampleValue::Float(value) if value.is_nan() => SampleValue::Float(f64::NAN),
            value => value,
        };
        out.push(QueuedSample { series: labels, value, timestamp_ms });
    }
}

/// One scrape in progress: what the registry's walk hands over becomes queued samples.
struct Scrape<'a> {
    cache: &'a mut SeriesCache,
    options: &'a Options,
    timestamp_ms: i64,
    out: &'a mut Vec<QueuedSample>,
    /// Room for a series' `name{labels}`.
    name: Vec<u8>,
    /// Room for a histogram's running totals.
    cumulative: Vec<u64>,
    /// Room for a native histogram's `Histogram` fields.
    histogram: Vec<u8>,
}

impl FamilySink for Scrape<'_> {
    fn family(&mut self, family: &Family) {
        let Scrape { cache, options, timestamp_ms, out, name, cumulative, histogram: scratch } = self;
        let meta = family.meta();
        let family_name = &meta.name;
        let pairs = |suffix: &str, labels: &str, extra: Extra<'_>| {
            let mut pairs = vec![("__name__".to_owned(), format!("{family_name}{suffix}"))];
            pairs.extend(key::parse_rendered_with(labels, &meta.label_names));
            extra_pairs(&extra, &mut pairs);
            pairs
        };
        let native_histograms = cache.native_histograms;
        family.for_each_series(|series| {
            let reading = family.read(series, cumulative);
            for line in reading.lines() {
                name.clear();
                write_series_name(name, family_name, line.suffix, series.labels(), line.extra);
                let value = SampleValue::Float(line.value.as_f64());
                let labels = || pairs(line.suffix, series.labels(), line.extra);
                cache.sample(name, labels, value, *timestamp_ms, out);
            }
            if let (true, Reading::NativeHistogram(histogram)) = (native_histograms, &reading) {
                name.clear();
                write_series_name(name, family_name, "", series.labels(), Extra::None);
                let value = SampleValue::Histogram(encode_histogram(scratch, histogram));
                cache.sample(name, || pairs("", series.labels(), Extra::None), value, *timestamp_ms, out);
            }
        });
        if options.created && family.exposes_created() {
            family.for_each_series(|series| {
                name.clear();
                write_series_name(name, family_name, "_created", series.labels(), Extra::None);
                let labels = || pairs("_created", series.labels(), Extra::None);
                cache.sample(name, labels, SampleValue::Float(series.created()), *timestamp_ms, out);
            });
        }
    }

    fn snapshot(&mut self, family: &MetricFamily) {
        for sample in &family.samples {
            self.name.clear();
            self.name.extend_from_slice(sample.name.as_bytes());
            write_sample_labels(&mut self.name, &sample.labels);
            let timestamp_ms = sample.timestamp.map_or(self.timestamp_ms, |t| (t * 1000.0) as i64);
            let pairs = || {
                let mut pairs = vec![("__name__".to_owned(), sample.name.to_string())];
                pairs.extend(sample.labels.iter().map(|(name, value)| (name.to_string(), value.to_string())));
                pairs
            };
            self.cache.sample(&self.name, pairs, SampleValue::Float(sample.value), timestamp_ms, self.out);
        }
    }
}

/// Adds a line's extra labels (`le`, a state, an Info's pairs), unescaped, to `pairs`.
fn extra_pairs(extra: &Extra<'_>, pairs: &mut Vec<(String, String)>) {
    match *extra {
        Extra::None => {}
        Extra::Label(name, escaped) => {
            let value = match escaped.contains('\\') {
                true => {
                    crate::escape::read_label_value(&format!("{escaped}\"")).map_or_else(|_| escaped.into(), |v| v.0)
                }
                false => escaped.to_owned(),
            };
            pairs.push((name.to_owned(), value));
        }
        Extra::Rendered(rendered) => pairs.extend(key::parse_rendered(rendered)),
    }
}

/// The encoded labels of a series from its pairs (`__name__` among them): those with a value,
/// the external labels it lacks, sorted by name. Made once per series.
fn encode_series(
    scratch: &mut Vec<u8>,
    external_labels: &[(String, String)],
    mut pairs: Vec<(String, String)>,
) -> Arc<[u8]> {
    pairs.retain(|(_, value)| !value.is_empty());
    for (name, value) in external_labels {
        if !value.is_empty() && !pairs.iter().any(|(n, _)| n == name) {
            pairs.push((name.clone(), value.clone()));
        }
    }
    pairs.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    scratch.clear();
    encode_labels(scratch, &pairs);
    Arc::from(&scratch[..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_write_request_byte_for_byte() {
        let mut series = Vec::new();
        encode_labels(&mut series, &[("__name__", "up"), ("job", "a")]);
        #[rustfmt::skip]
        let labels: &[u8] = &[
            0x0a, 14, 0x0a, 8, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', 0x12, 2, b'u', b'p',
            0x0a, 8, 0x0a, 3, b'j', b'o', b'b', 0x12, 1, b'a',
        ];
        assert_eq!(series, labels);
        let samples = [QueuedSample { series: series.into(), value: SampleValue::Float(1.0), timestamp_ms: 1000 }];
        let mut out = Vec::new();
        encode_request(&mut out, &samples);
        // TimeSeries (field 1) of 26 label bytes + Sample (field 2, 12 bytes):
        // 0x09 + 1.0 as little-endian double, 0x10 + varint 1000 (0xe8 0x07).
        let mut expected = vec![0x0a, 40];
        expected.extend_from_slice(labels);
        expected.extend_from_slice(&[0x12, 12, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 0xe8, 0x07]);
        assert_eq!(out, expected);
    }

    #[test]
    fn varints_and_lengths() {
        for value in [0u64, 1, 127, 128, 300, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value), "{value}");
        }
        let mut out = Vec::new();
        put_varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
    }

    #[test]
    fn body_is_snappy_block_format() {
        let samples =
            vec![
                QueuedSample { series: Arc::from(&b"\x0a\x00"[..]), value: SampleValue::Float(2.5), timestamp_ms: 7 };
                100
            ];
        let mut raw = Vec::new();
        let body = encode_body(&samples, &mut raw, &mut snap::raw::Encoder::new());
        assert!(body.len() < raw.len());
        assert_eq!(snap::raw::Decoder::new().decompress_vec(&body).unwrap(), raw);
    }

    fn labels_of(sample: &QueuedSample) -> Vec<(String, String)> {
        // Each label: 0x0a len 0x0a len name 0x12 len value (short names and values only).
        let mut out = Vec::new();
        let bytes = &sample.series[..];
        let mut at = 0;
        while at < bytes.len() {
            let name_len = bytes[at + 3] as usize;
            let name = &bytes[at + 4..at + 4 + name_len];
            let value_len = bytes[at + 5 + name_len] as usize;
            let value = &bytes[at + 6 + name_len..at + 6 + name_len + value_len];
            out.push((String::from_utf8(name.to_vec()).unwrap(), String::from_utf8(value.to_vec()).unwrap()));
            at += 2 + bytes[at + 1] as usize;
        }
        out
    }

    /// A collector of fixed families, for samples with their own timestamps.
    struct Fixed(Vec<MetricFamily>);
    impl crate::registry::Collector for Fixed {
        fn collect(&self, _: &Options, out: &mut Vec<MetricFamily>) -> Result<()> {
            out.extend(self.0.iter().cloned());
            Ok(())
        }
    }

    fn scrape(cache: &mut SeriesCache, registry: &Registry, timestamp_ms: i64) -> Vec<QueuedSample> {
        let mut out = Vec::new();
        cache.scrape(registry, &Options::default(), timestamp_ms, &mut out).unwrap();
        out
    }

    fn gauge(registry: &Registry, name: &str, labels: &[&str]) -> Arc<Family> {
        let labels = labels.iter().map(|l| l.to_string()).collect();
        let family = Family::new(name, "", "", crate::metric::Kind::GAUGE, labels).unwrap();
        registry.register_family(family.clone()).unwrap();
        family
    }

    #[test]
    fn labels_sorted_bytewise_with_name_and_external_labels() {
        let mut cache = SeriesCache::new(vec![("region".into(), "eu".into()), ("job".into(), "ext".into())]).unwrap();
        let registry = Registry::new();
        let x = gauge(&registry, "x", &["job", "Zone", "empty"]);
        crate::metric::gauge::set(x.labels(&["mine", "b } \"q\"\n\\", ""]).unwrap().cells(), 1.5);
        let out = scrape(&mut cache, &registry, 5);
        let expected = [("Zone", "b } \"q\"\n\\"), ("__name__", "x"), ("job", "mine"), ("region", "eu")];
        let expected: Vec<(String, String)> = expected.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(out.len(), 1);
        assert_eq!(labels_of(&out[0]), expected);
        assert_eq!((out[0].value.as_float(), out[0].timestamp_ms), (Some(1.5), 5));
        assert!(SeriesCache::new(vec![("bad-name".into(), "v".into())]).is_err());
    }

    #[test]
    fn every_kind_and_sample_timestamps() {
        let registry = Registry::new();
        let bounds = crate::metric::histogram::bounds(&[1.0]).unwrap();
        let latency = Family::new("latency", "", "", crate::metric::Kind::Histogram { bounds: bounds.clone() }, vec![]);
        let latency = latency.unwrap();
        crate::metric::histogram::observe(latency.unlabeled().unwrap().cells(), &bounds, 0.5);
        registry.register_family(latency).unwrap();
        let mut fixed = MetricFamily::new("e", "", crate::metric::MetricType::Gauge, "");
        for (value, timestamp) in [(-0.25, Some(1_700_000_000.5)), (f64::from_bits(STALE_NAN), None)] {
            fixed.samples.push(crate::registry::Sample { name: "e".into(), labels: vec![], value, timestamp });
        }
        registry.register(crate::registry::Entry::Collector(Arc::new(Fixed(vec![fixed])))).unwrap();
        let out = scrape(&mut SeriesCache::new(vec![]).unwrap(), &registry, 9);
        let got: Vec<(String, f64, i64)> =
            out.iter().map(|s| (labels_of(s)[0].1.clone(), s.value.as_float().unwrap(), s.timestamp_ms)).collect();
        let names: Vec<&str> = got.iter().map(|(name, _, _)| name.as_str()).collect();
        assert_eq!(names, ["latency_bucket", "latency_bucket", "latency_count", "latency_sum", "e", "e"]);
        assert_eq!((got[0].1, got[3].1, got[3].2), (1.0, 0.5, 9));
        assert_eq!((got[4].1, got[4].2), (-0.25, 1_700_000_000_500));
        assert!(got[5].1.is_nan() && got[5].1.to_bits() != STALE_NAN, "only the writer makes stale markers");
    }

    /// The fields of a message: number and, per wire type, the varint, the 8 bytes as a
    /// double, or the bytes.
    fn fields(mut bytes: &[u8]) -> Vec<(u64, Field)> {
        fn varint(bytes: &mut &[u8]) -> u64 {
            let (mut value, mut shift) = (0u64, 0);
            loop {
                let byte = bytes[0];
                *bytes = &bytes[1..];
                value |= u64::from(byte & 0x7f) << shift;
                if byte < 0x80 {
                    return value;
                }
                shift += 7;
            }
        }
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let tag = varint(&mut bytes);
            let field = match tag & 7 {
                0 => Field::Varint(varint(&mut bytes)),
                1 => {
                    let (double, rest) = bytes.split_at(8);
                    bytes = rest;
                    Field::Double(f64::from_le_bytes(double.try_into().unwrap()))
                }
                2 => {
                    let len = varint(&mut bytes) as usize;
                    let (message, rest) = bytes.split_at(len);
                    bytes = rest;
                    Field::Bytes(message.to_vec())
                }
                wire => panic!("wire type {wire}"),
            };
            out.push((tag >> 3, field));
        }
        out
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Field {
        Varint(u64),
        Double(f64),
        Bytes(Vec<u8>),
    }

    fn unzigzag(value: u64) -> i64 {
        (value >> 1) as i64 ^ -((value & 1) as i64)
    }

    /// A `Histogram` message as (field, value) pairs, spans as (offset, length), deltas
    /// unpacked, all signed fields decoded.
    fn histogram_fields(message: &[u8]) -> Vec<(u64, String)> {
        fields(message)
            .into_iter()
            .map(|(number, field)| {
                let shown = match (number, field) {
                    (4, Field::Varint(v)) => unzigzag(v).to_string(),
                    (8 | 11, Field::Bytes(span)) => {
                        let span = fields(&span);
                        let offset = span.iter().find(|f| f.0 == 1).map_or(0, |f| match f.1 {
                            Field::Varint(v) => unzigzag(v),
                            _ => panic!("offset"),
                        });
                        let length = span.iter().find(|f| f.0 == 2).map_or(0, |f| match f.1 {
                            Field::Varint(v) => v,
                            _ => panic!("length"),
                        });
                        format!("({offset},{length})")
                    }
                    (9 | 12, Field::Bytes(mut packed)) => {
                        let mut deltas = Vec::new();
                        let mut rest = &mut packed[..];
                        while !rest.is_empty() {
                            let (mut value, mut shift, mut used) = (0u64, 0, 0);
                            for byte in rest.iter() {
                                used += 1;
                                value |= u64::from(byte & 0x7f) << shift;
                                shift += 7;
                                if *byte < 0x80 {
                                    break;
                                }
                            }
                            deltas.push(unzigzag(value).to_string());
                            rest = &mut rest[used..];
                        }
                        deltas.join(" ")
                    }
                    (_, Field::Varint(v)) => v.to_string(),
                    (_, Field::Double(v)) => format!("{v:?}"),
                    (_, Field::Bytes(b)) => format!("{b:?}"),
                };
                (number, shown)
            })
            .collect()
    }

    fn native_family(registry: &Registry, name: &str, classic: &[f64], labels: &[&str]) -> Arc<Family> {
        let bounds = match classic {
            [] => crate::metric::histogram::inf_only(),
            bounds => crate::metric::histogram::bounds(bounds).unwrap(),
        };
        let config = native_histogram::Config::new(1.1, None, 160, 0.0, 0.0).unwrap();
        let kind = crate::metric::Kind::NativeHistogram { bounds, native: config };
        let family = Family::new(name, "", "", kind, labels.iter().map(|l| l.to_string()).collect()).unwrap();
        registry.register_family(family.clone()).unwrap();
        family
    }

    fn observe(family: &Family, series: &crate::registry::Series, value: f64) {
        let crate::metric::Kind::NativeHistogram { bounds, native } = &family.meta().kind else { panic!() };
        native_histogram::observe(series.cells(), bounds, native, value, || 0.0);
    }

    #[test]
    fn native_histograms_are_sent_as_histograms_only_when_asked() {
        let registry = Registry::new();
        let latency = native_family(&registry, "latency", &[], &["k"]);
        let series = latency.labels(&["a"]).unwrap();
        // Schema 3 (factor 1.1): bucket k is (2^((k-1)/8), 2^(k/8)].
        for value in [0.0, 1.0, 1.5, 1.5, -2.0, 100.0] {
            observe(&latency, &series, value);
        }
        let classic_only = scrape(&mut SeriesCache::new(vec![]).unwrap(), &registry, 9);
        let names: Vec<String> = classic_only.iter().map(|s| labels_of(s)[0].1.clone()).collect();
        assert_eq!(names, ["latency_bucket", "latency_count", "latency_sum"], "the default sends what text shows");

        let mut cache = SeriesCache::new(vec![("job".into(), "j".into())]).unwrap().send_native_histograms(true);
        let out = scrape(&mut cache, &registry, 9);
        assert_eq!(out.len(), 4);
        for (with, without) in out[..3].iter().zip(&classic_only) {
            assert_eq!((labels_of(with)[0].clone(), &with.value), (labels_of(without)[0].clone(), &without.value));
        }
        let native = &out[3];
        let expected = [("__name__", "latency"), ("job", "j"), ("k", "a")].map(|(n, v)| (n.to_string(), v.to_string()));
        assert_eq!(labels_of(native), expected);
        let SampleValue::Histogram(message) = &native.value else { panic!("a histogram sample") };
        let expected: Vec<(u64, String)> = [
            (1, "6"),                     // count_int
            (3, "102.0"),                 // sum: 0 + 1 + 1.5 + 1.5 - 2 + 100
            (4, "3"),                     // schema
            (5, "2.938735877055719e-39"), // zero_threshold, client_golang's default
            (6, "1"),                     // zero_count_int: the 0
            (8, "(8,1)"),                 // negative span: 2 is the top of bucket 8
            (9, "1"),                     // negative deltas
            (11, "(0,1)"),                // positive spans: 1 in bucket 0,
            (11, "(4,1)"),                // 1.5 in bucket 5 (a gap of 4),
            (11, "(48,1)"),               // 100 in bucket 54
            (12, "1 1 -1"),               // positive deltas: counts 1, 2, 1
        ]
        .iter()
        .map(|(n, v)| (*n, v.to_string()))
        .collect();
        assert_eq!(histogram_fields(message), expected);

        // In a request: TimeSeries{labels, histograms = 4 {fields, timestamp = 15}}.
        let mut request = Vec::new();
        encode_request(&mut request, std::slice::from_ref(native));
        let [(1, Field::Bytes(time_series))] = &fields(&request)[..] else { panic!("one TimeSeries") };
        let series_fields = fields(time_series);
        assert_eq!(series_fields.iter().map(|f| f.0).collect::<Vec<_>>(), [1, 1, 1, 4]);
        let Field::Bytes(histogram) = &series_fields[3].1 else { panic!() };
        let mut with_time = expected.clone();
        with_time.push((15, "9".into()));
        assert_eq!(histogram_fields(histogram), with_time);

        // Gone: a histogram stale marker (no count, a stale NaN sum), as Prometheus sends one.
        latency.remove(&["a"]).unwrap();
        let after = scrape(&mut cache, &registry, 10);
        let stale = after.iter().find(|s| s.series == native.series).expect("a stale marker");
        let SampleValue::Histogram(message) = &stale.value else { panic!("a histogram stale marker") };
        let [(1, Field::Varint(0)), (3, Field::Double(sum))] = fields(message)[..] else { panic!("{message:?}") };
        assert_eq!(sum.to_bits(), STALE_NAN);
        assert_eq!(after.iter().filter(|s| s.value.as_float().is_some_and(|v| v.to_bits() == STALE_NAN)).count(), 3);
    }

    #[test]
    fn an_empty_native_histogram_and_classic_buckets_alongside() {
        let registry = Registry::new();
        let family = native_family(&registry, "size", &[1.0], &["k"]);
        let series = family.labels(&["v"]).unwrap();
        let out = scrape(&mut SeriesCache::new(vec![]).unwrap().send_native_histograms(true), &registry, 1);
        let names: Vec<String> = out.iter().map(|s| labels_of(s)[0].1.clone()).collect();
        assert_eq!(names, ["size_bucket", "size_bucket", "size_count", "size_sum", "size"]);
        let SampleValue::Histogram(message) = &out[4].value else { panic!() };
        let shown: Vec<u64> = histogram_fields(message).iter().map(|f| f.0).collect();
        assert_eq!(shown, [1, 3, 4, 5, 6], "no spans nor deltas when empty");
        observe(&family, &series, 0.5);
        observe(&family, &series, 3.0);
        let mut cache = SeriesCache::new(vec![]).unwrap().send_native_histograms(true);
        let out = scrape(&mut cache, &registry, 2);
        assert_eq!(out[0].value, SampleValue::Float(1.0), "classic le=1 bucket");
        let SampleValue::Histogram(message) = &out[4].value else { panic!() };
        let count = histogram_fields(message)[0].clone();
        assert_eq!(count, (1, "2".to_string()));
    }

    #[test]
    fn label_pairs_come_from_the_names_not_from_parsing_text_back() {
        // A name holding `="` and `,`, and values with quotes, escapes and `="`: each pair
        // must come out as it went in. Parsing `name{labels}` back splits these wrongly.
        let registry = Registry::new();
        let family = gauge(&registry, "odd{name}", &["a=\"b", "c,d", "e"]);
        let values = ["x=\"y\",z=\"w", "\\n\"", "plain"];
        crate::metric::gauge::set(family.labels(&values).unwrap().cells(), 2.0);
        let out = scrape(&mut SeriesCache::new(vec![]).unwrap(), &registry, 1);
        let mut expected: Vec<(String, String)> = vec![("__name__".into(), "odd{name}".into())];
        expected.extend(["a=\"b", "c,d", "e"].iter().zip(values).map(|(n, v)| (n.to_string(), v.to_string())));
        expected.sort();
        assert_eq!(labels_of(&out[0]), expected);
        // A histogram's `le` and a native histogram's series get their pairs the same way.
        let hist = native_family(&registry, "h", &[0.5], &["q\"=\""]);
        hist.labels(&["v\\\""]).unwrap();
        let out = scrape(&mut SeriesCache::new(vec![]).unwrap().send_native_histograms(true), &registry, 1);
        let native = out.iter().find(|s| matches!(s.value, SampleValue::Histogram(_))).unwrap();
        assert_eq!(labels_of(native), [("__name__".into(), "h".into()), ("q\"=\"".into(), "v\\\"".into())]);
        let first_bucket = out.iter().find(|s| labels_of(s)[0].1 == "h_bucket").unwrap();
        assert_eq!(labels_of(first_bucket)[1..], [("le".into(), "0.5".into()), ("q\"=\"".into(), "v\\\"".into())]);
    }

    #[test]
    fn series_labels_are_shared_and_vanished_series_get_stale_markers() {
        let mut cache = SeriesCache::new(vec![]).unwrap();
        let registry = Registry::new();
        let g = gauge(&registry, "g", &["k"]);
        g.labels(&["a"]).unwrap();
        g.labels(&["b"]).unwrap();
        let first = scrape(&mut cache, &registry, 1000);
        g.remove(&["b"]).unwrap();
        let second = scrape(&mut cache, &registry, 2000);
        assert!(Arc::ptr_eq(&first[0].series, &second[0].series));
        assert_eq!(second.len(), 2);
        assert_eq!(second[1].series, first[1].series);
        assert_eq!(second[1].value.as_float().unwrap().to_bits(), STALE_NAN);
        assert_eq!(second[1].timestamp_ms, 2000);
        assert_eq!(scrape(&mut cache, &registry, 3000).len(), 1, "a stale marker is sent once");
    }
}
