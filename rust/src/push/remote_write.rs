//! Prometheus remote write 1.0 on the wire: a `WriteRequest` protobuf, compressed with snappy's
//! block format, and the samples it carries.
//!
//! The encoder is written by hand for the four messages the protocol needs:
//! `WriteRequest{repeated TimeSeries timeseries = 1}`, `TimeSeries{repeated Label labels = 1;
//! repeated Sample samples = 2}`, `Label{string name = 1; string value = 2}` and
//! `Sample{double value = 1; int64 timestamp = 2}` (milliseconds). A series' labels (sorted by
//! name, `__name__` included, empty values left out, external labels added) are encoded once,
//! when the series is first seen, and shared by every queued sample of it; a request is then
//! mostly copies of those bytes. That is what makes a million samples a second cheap.

use crate::encode::protowire::{put_len_field, put_varint, varint_len};
use crate::encode::{write_sample_labels, write_series_name};
use crate::error::Result;
use crate::key;
use crate::metric::Extra;
use crate::registry::{Family, FamilySink, MetricFamily, Options, Registry};
use hashbrown::hash_map::EntryRef;
use hashbrown::HashMap;
use smallvec::SmallVec;
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
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// Appends one series' labels, which must be sorted by name, as `TimeSeries.labels` fields.
pub fn encode_labels(out: &mut Vec<u8>, labels: &[(&str, &str)]) {
    for (name, value) in labels {
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
        let timestamp = sample.timestamp_ms as u64; // int64: negative times take ten bytes
        let sample_len = 1 + 8 + 1 + varint_len(timestamp);
        let series_len = sample.series.len() + 1 + varint_len(sample_len as u64) + sample_len;
        out.push(1 << 3 | 2);
        put_varint(out, series_len as u64);
        out.extend_from_slice(&sample.series);
        out.push(2 << 3 | 2);
        put_varint(out, sample_len as u64);
        out.push(1 << 3 | 1); // double, fixed 64 bits
        out.extend_from_slice(&sample.value.to_le_bytes());
        out.push(2 << 3); // varint
        put_varint(out, timestamp);
    }
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

/// Turns scrapes into queued samples. A scrape walks the registry's families (native ones read
/// from their cells, as an encoder reads them): each sample's series is identified by its
/// `name{labels}` as the text format writes it (a native series' labels are rendered once,
/// when it is born), and the series' encoded labels are looked up by that, so a series seen
/// before costs a hash lookup. A series that is gone at the next scrape gets a stale marker.
pub struct SeriesCache {
    external_labels: Vec<(String, String)>,
    known: HashMap<Vec<u8>, Known>,
    scrape: u64,
    scratch: Vec<u8>,
}

struct Known {
    labels: Arc<[u8]>,
    /// The scrape that last had the series.
    seen: u64,
}

impl SeriesCache {
    /// A cache adding `external_labels` to every series that lacks them; refuses invalid names.
    pub fn new(external_labels: Vec<(String, String)>) -> Result<SeriesCache> {
        for (name, _) in &external_labels {
            key::validate_label_name(name)?;
        }
        Ok(SeriesCache { external_labels, known: HashMap::new(), scrape: 0, scratch: Vec::new() })
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
        let mut sink = Scrape { cache: self, options, timestamp_ms, out, name: Vec::new(), cumulative: Vec::new() };
        if let Err(err) = registry.visit(options, &mut sink) {
            out.truncate(before);
            return Err(err);
        }
        let scrape = self.scrape;
        self.known.retain(|_, known| {
            if known.seen != scrape {
                out.push(QueuedSample { series: known.labels.clone(), value: f64::from_bits(STALE_NAN), timestamp_ms });
            }
            known.seen == scrape
        });
        Ok(())
    }

    /// Queues one sample of the series named `series` (`name{labels}`).
    fn sample(&mut self, series: &[u8], value: f64, timestamp_ms: i64, out: &mut Vec<QueuedSample>) {
        let labels = match self.known.entry_ref(series) {
            EntryRef::Occupied(mut known) => {
                known.get_mut().seen = self.scrape;
                known.get().labels.clone()
            }
            EntryRef::Vacant(vacant) => {
                let labels = encode_series(&mut self.scratch, &self.external_labels, series);
                vacant.insert(Known { labels: labels.clone(), seen: self.scrape });
                labels
            }
        };
        // Any NaN a user sets is sent as the ordinary NaN: only the writer makes stale markers.
        let value = if value.is_nan() { f64::NAN } else { value };
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
}

impl FamilySink for Scrape<'_> {
    fn family(&mut self, family: &Family) {
        let Scrape { cache, options, timestamp_ms, out, name, cumulative } = self;
        let family_name = &family.meta().name;
        family.for_each_series(|series| {
            for line in family.read(series, cumulative).lines() {
                name.clear();
                write_series_name(name, family_name, line.suffix, series.labels(), line.extra);
                cache.sample(name, line.value.as_f64(), *timestamp_ms, out);
            }
        });
        if options.created && family.exposes_created() {
            family.for_each_series(|series| {
                name.clear();
                write_series_name(name, family_name, "_created", series.labels(), Extra::None);
                cache.sample(name, series.created(), *timestamp_ms, out);
            });
        }
    }

    fn snapshot(&mut self, family: &MetricFamily) {
        for sample in &family.samples {
            self.name.clear();
            self.name.extend_from_slice(sample.name.as_bytes());
            write_sample_labels(&mut self.name, &sample.labels);
            let timestamp_ms = sample.timestamp.map_or(self.timestamp_ms, |t| (t * 1000.0) as i64);
            self.cache.sample(&self.name, sample.value, timestamp_ms, self.out);
        }
    }
}

/// The encoded labels of the series `name{a="x",...}`: `__name__`, the labels with a value,
/// the external labels it lacks, sorted by name. Made once per series.
fn encode_series(scratch: &mut Vec<u8>, external_labels: &[(String, String)], prefix: &[u8]) -> Arc<[u8]> {
    let prefix = String::from_utf8_lossy(prefix);
    let (name, rendered) = match prefix.split_once('{') {
        Some((name, rest)) => (name, rest.strip_suffix('}').unwrap_or(rest)),
        None => (&*prefix, ""),
    };
    let parsed = key::parse_rendered(rendered);
    let mut pairs: SmallVec<[(&str, &str); 8]> = SmallVec::new();
    pairs.push(("__name__", name));
    pairs.extend(parsed.iter().filter(|(_, value)| !value.is_empty()).map(|(n, v)| (n.as_str(), v.as_str())));
    for (name, value) in external_labels {
        if !value.is_empty() && !pairs.iter().any(|(n, _)| n == name) {
            pairs.push((name, value));
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
        let samples = [QueuedSample { series: series.into(), value: 1.0, timestamp_ms: 1000 }];
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
        let samples = vec![QueuedSample { series: Arc::from(&b"\x0a\x00"[..]), value: 2.5, timestamp_ms: 7 }; 100];
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
        assert_eq!((out[0].value, out[0].timestamp_ms), (1.5, 5));
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
            out.iter().map(|s| (labels_of(s)[0].1.clone(), s.value, s.timestamp_ms)).collect();
        let names: Vec<&str> = got.iter().map(|(name, _, _)| name.as_str()).collect();
        assert_eq!(names, ["latency_bucket", "latency_bucket", "latency_count", "latency_sum", "e", "e"]);
        assert_eq!((got[0].1, got[3].1, got[3].2), (1.0, 0.5, 9));
        assert_eq!((got[4].1, got[4].2), (-0.25, 1_700_000_000_500));
        assert!(got[5].1.is_nan() && got[5].1.to_bits() != STALE_NAN, "only the writer makes stale markers");
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
        assert_eq!(second[1].value.to_bits(), STALE_NAN);
        assert_eq!(second[1].timestamp_ms, 2000);
        assert_eq!(scrape(&mut cache, &registry, 3000).len(), 1, "a stale marker is sent once");
    }
}
