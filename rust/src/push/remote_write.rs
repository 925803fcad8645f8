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

use super::protowire::{put_len_field, put_varint, varint_len};
use crate::error::Result;
use crate::key;
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

/// Turns scrapes into queued samples. A scrape is read from the registry's text exposition,
/// its fastest way out (each series' `name{labels}` is rendered once, when the series is born):
/// that prefix identifies the series, and the series' encoded labels are looked up by it, so
/// a series seen before costs a hash lookup and a number to parse. A series that is gone at the
/// next scrape gets a stale marker.
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

    /// Appends one sample per sample line of a text 0.0.4 `exposition` (at `timestamp_ms` unless
    /// the line has its own time), then a stale marker for each series of the last scrape
    /// missing from this one.
    pub fn scrape(&mut self, exposition: &[u8], timestamp_ms: i64, out: &mut Vec<QueuedSample>) {
        self.scrape += 1;
        for line in exposition.split(|&b| b == b'\n') {
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let Some((prefix, value, timestamp)) = split_line(line) else { continue };
            let series = match self.known.entry_ref(prefix) {
                EntryRef::Occupied(mut known) => {
                    known.get_mut().seen = self.scrape;
                    known.get().labels.clone()
                }
                EntryRef::Vacant(vacant) => {
                    let labels = encode_series(&mut self.scratch, &self.external_labels, prefix);
                    vacant.insert(Known { labels: labels.clone(), seen: self.scrape });
                    labels
                }
            };
            out.push(QueuedSample { series, value, timestamp_ms: timestamp.unwrap_or(timestamp_ms) });
        }
        let scrape = self.scrape;
        self.known.retain(|_, known| {
            if known.seen != scrape {
                out.push(QueuedSample { series: known.labels.clone(), value: f64::from_bits(STALE_NAN), timestamp_ms });
            }
            known.seen == scrape
        });
    }
}

/// The encoded labels of the series `name{a="x",...}`: `__name__`, the labels with a value,
/// the external labels it lacks, sorted by name.
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

/// `name{labels} value [timestamp]` into its series prefix, value and timestamp.
fn split_line(line: &[u8]) -> Option<(&[u8], f64, Option<i64>)> {
    let first_space = line.iter().position(|&b| b == b' ')?;
    let prefix_end = match line[..first_space].contains(&b'{') {
        // Label values may hold spaces and braces; the value and timestamp never hold a brace.
        true => line.iter().rposition(|&b| b == b'}')? + 1,
        false => first_space,
    };
    let (prefix, rest) = line.split_at(prefix_end);
    let mut fields = rest.split(|&b| b == b' ').filter(|field| !field.is_empty());
    let value = std::str::from_utf8(fields.next()?).ok()?.parse::<f64>().ok()?;
    let timestamp = fields.next().and_then(|t| std::str::from_utf8(t).ok()?.parse::<i64>().ok());
    Some((prefix, value, timestamp))
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

    #[test]
    fn labels_sorted_bytewise_with_name_and_external_labels() {
        let mut cache = SeriesCache::new(vec![("region".into(), "eu".into()), ("job".into(), "ext".into())]).unwrap();
        let mut out = Vec::new();
        let text = b"# HELP x An x.\n# TYPE x gauge\nx{job=\"mine\",Zone=\"b } \\\"q\\\"\\n\\\\\",empty=\"\"} 1.5\n";
        cache.scrape(text, 5, &mut out);
        let expected = [("Zone", "b } \"q\"\n\\"), ("__name__", "x"), ("job", "mine"), ("region", "eu")];
        let expected: Vec<(String, String)> = expected.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(out.len(), 1);
        assert_eq!(labels_of(&out[0]), expected);
        assert_eq!((out[0].value, out[0].timestamp_ms), (1.5, 5));
        assert!(SeriesCache::new(vec![("bad-name".into(), "v".into())]).is_err());
    }

    #[test]
    fn values_and_timestamps_as_the_text_format_writes_them() {
        let mut cache = SeriesCache::new(vec![]).unwrap();
        let mut out = Vec::new();
        let text = b"a 1e+06\nb +Inf\nc -Inf\nd NaN\ne -0.25 1700000000123\nf{l=\"v\"} 3 -5\n";
        cache.scrape(text, 9, &mut out);
        let got: Vec<(f64, i64)> = out.iter().map(|s| (s.value, s.timestamp_ms)).collect();
        assert_eq!(got[0], (1e6, 9));
        assert_eq!(got[1], (f64::INFINITY, 9));
        assert_eq!(got[2], (f64::NEG_INFINITY, 9));
        assert!(got[3].0.is_nan() && got[3].0.to_bits() != STALE_NAN);
        assert_eq!(got[4], (-0.25, 1_700_000_000_123));
        assert_eq!(got[5], (3.0, -5));
    }

    #[test]
    fn series_labels_are_shared_and_vanished_series_get_stale_markers() {
        let mut cache = SeriesCache::new(vec![]).unwrap();
        let mut first = Vec::new();
        cache.scrape(b"a 1\nb 2\n", 1000, &mut first);
        let mut second = Vec::new();
        cache.scrape(b"a 3\n", 2000, &mut second);
        assert!(Arc::ptr_eq(&first[0].series, &second[0].series));
        assert_eq!(second.len(), 2);
        assert_eq!(second[1].series, first[1].series);
        assert_eq!(second[1].value.to_bits(), STALE_NAN);
        assert_eq!(second[1].timestamp_ms, 2000);
        let mut third = Vec::new();
        cache.scrape(b"a 4\n", 3000, &mut third);
        assert_eq!(third.len(), 1, "a stale marker is sent once");
    }
}
