//! The Pushgateway client: the group URL with the gateway's grouping-key encoding, the body
//! (text 0.0.4 as prometheus_client pushes it, or delimited protobuf as client_golang does;
//! optionally gzip or snappy), and PUT (replace the group), POST (replace the families pushed)
//! or DELETE (remove the group).
//!
//! The URL is built exactly as prometheus_client builds it, so a job that moves to obsagent
//! lands in the same group: components are percent-encoded like `urllib.parse.quote_plus`;
//! an empty value is `name@base64/=`, and a value with `/` or a space is `name@base64/` plus
//! padded URL-safe base64 (the only way the gateway accepts a `/`).

use super::http::{Auth, Client, Method};
use super::protowire::{put_double_field, put_len_field, put_varint, put_varint_field};
use crate::encode::{self, Format, Options};
use crate::error::{Error, Result};
use crate::registry::{MetricFamily, Registry};
use std::time::Duration;

/// The Content-Type of a text push.
pub const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Request headers with values known at compile time.
pub type Headers = Vec<(&'static str, &'static str)>;

/// How a push body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not at all.
    None,
    /// `Content-Encoding: gzip`.
    Gzip,
    /// `Content-Encoding: snappy`, the framed format (what prometheus_client sends).
    Snappy,
}

impl Compression {
    /// `None`, `"gzip"` or `"snappy"` (any case), as prometheus_client's `compression=`.
    pub fn parse(name: Option<&str>) -> Result<Compression> {
        match name.map(str::to_ascii_lowercase).as_deref() {
            None => Ok(Compression::None),
            Some("gzip") => Ok(Compression::Gzip),
            Some("snappy") => Ok(Compression::Snappy),
            Some(_) => Err(Error::InvalidValue(format!("Unsupported compression type: {}", name.unwrap_or("")))),
        }
    }
}

/// One path component of the grouping key, `(name, value)` as they go into the URL.
pub fn escape_component(name: &str, value: &str) -> (String, String) {
    use base64::Engine;
    if value.is_empty() {
        (format!("{name}@base64"), "=".to_owned())
    } else if value.contains(['/', ' ']) {
        (format!("{name}@base64"), base64::engine::general_purpose::URL_SAFE.encode(value))
    } else {
        (name.to_owned(), quote_plus(value))
    }
}

/// Percent-encodes everything but ASCII letters, digits and `_.-~`, spaces as `+`.
fn quote_plus(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The group's URL: `<gateway>/metrics/job/<job>{/<name>/<value>}`, names sorted; `http://`
/// is assumed when the gateway names no scheme.
pub fn group_url(gateway: &str, job: &str, grouping_key: &[(String, String)]) -> String {
    let lower = gateway.to_ascii_lowercase();
    let mut url = if lower.starts_with("http://") || lower.starts_with("https://") {
        gateway.to_owned()
    } else {
        format!("http://{gateway}")
    };
    url.truncate(url.trim_end_matches('/').len());
    let mut key: Vec<&(String, String)> = grouping_key.iter().collect();
    key.sort();
    let (name, value) = escape_component("job", job);
    url.push_str(&format!("/metrics/{name}/{value}"));
    for (name, value) in key {
        let (name, value) = escape_component(name, value);
        url.push_str(&format!("/{name}/{value}"));
    }
    url
}

/// The registry as a push body (text 0.0.4 or protobuf), with its request headers.
pub fn body(
    registry: &Registry,
    options: &Options,
    protobuf: bool,
    compression: Compression,
) -> Result<(Vec<u8>, Headers)> {
    if protobuf {
        compress(protobuf_body(&registry.collect(options)?), PROTOBUF, compression)
    } else {
        compress(registry.encode(Format::Text, options)?, TEXT, compression)
    }
}

/// A body of `content_type` compressed as asked, with its request headers.
pub fn compress(text: Vec<u8>, content_type: &'static str, compression: Compression) -> Result<(Vec<u8>, Headers)> {
    let mut headers = vec![("Content-Type", content_type)];
    let body = match compression {
        Compression::None => text,
        Compression::Gzip => {
            headers.push(("Content-Encoding", "gzip"));
            encode::gzip(&text)
        }
        Compression::Snappy => {
            headers.push(("Content-Encoding", "snappy"));
            let mut framed = snap::write::FrameEncoder::new(Vec::with_capacity(text.len() / 2 + 64));
            std::io::Write::write_all(&mut framed, &text)?;
            framed.into_inner().map_err(|err| Error::Io(err.into_error()))?
        }
    };
    Ok((body, headers))
}

/// The Content-Type of a protobuf push.
pub const PROTOBUF: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// The families as a protobuf push body: each an `io.prometheus.client.MetricFamily`, prefixed
/// with its length (what client_golang pushes). Named and typed as in text 0.0.4 (a counter as
/// `<name>_total`, an Info as a gauge `<name>_info`, a StateSet as a gauge); classic histograms
/// and summaries as one `Metric` per label set, without the `+Inf` bucket (the count is it);
/// `_created` series left out.
pub fn protobuf_body(families: &[MetricFamily]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut family_bytes = Vec::new();
    for family in families {
        family_bytes.clear();
        encode_family(&mut family_bytes, family);
        put_varint(&mut out, family_bytes.len() as u64);
        out.extend_from_slice(&family_bytes);
    }
    out
}

/// One `Metric` being assembled: its labels, and the fields of its value message.
#[derive(Default)]
struct Metric<'a> {
    labels: Vec<(&'a str, &'a str)>,
    value: Vec<u8>,
    timestamp_ms: Option<i64>,
}

fn encode_family(out: &mut Vec<u8>, family: &MetricFamily) {
    let name = &*family.name;
    let (full_name, kind, value_field) = match &*family.kind {
        "counter" if family.samples.iter().all(|s| s.name != family.name) => (format!("{name}_total"), 0, 3),
        "counter" => (name.to_owned(), 0, 3),
        "gauge" | "stateset" => (name.to_owned(), 1, 2),
        "info" => (format!("{name}_info"), 1, 2),
        "summary" => (name.to_owned(), 2, 4),
        "histogram" => (name.to_owned(), 4, 7),
        "gaugehistogram" => (name.to_owned(), 5, 7),
        _ => (name.to_owned(), 3, 5),
    };
    // Samples of one label set (less `le` and `quantile`) make one Metric, in order of appearance.
    let mut metrics: Vec<Metric<'_>> = Vec::new();
    let mut buckets: Vec<Vec<u8>> = Vec::new();
    for sample in &family.samples {
        let suffix = sample.name.strip_prefix(name).unwrap_or("");
        if suffix == "_created" {
            continue;
        }
        let mut bound = None;
        let labels: Vec<(&str, &str)> = sample
            .labels
            .iter()
            .filter(|(label, value)| match (&**label, suffix) {
                ("le", "_bucket") | ("quantile", "") if kind == 2 || kind >= 4 => {
                    bound = Some(value.parse::<f64>().unwrap_or(f64::NAN));
                    false
                }
                _ => true,
            })
            .map(|(label, value)| (&**label, &**value))
            .collect();
        let index = match metrics.iter().position(|m| m.labels == labels) {
            Some(index) => index,
            None => {
                metrics.push(Metric { labels, ..Metric::default() });
                buckets.push(Vec::new());
                metrics.len() - 1
            }
        };
        let metric = &mut metrics[index];
        metric.timestamp_ms = sample.timestamp.map(|t| (t * 1000.0).round() as i64);
        match (kind, suffix, bound) {
            (4 | 5, "_bucket", Some(bound)) if bound.is_finite() => {
                let mut bucket = Vec::new();
                put_varint_field(&mut bucket, 1, sample.value as u64);
                put_double_field(&mut bucket, 2, bound);
                put_len_field(&mut buckets[index], 3, &bucket);
            }
            (4 | 5, "_bucket", _) => {} // +Inf: the count says it
            (2 | 4, "_count", _) | (5, "_gcount", _) => put_varint_field(&mut metric.value, 1, sample.value as u64),
            (2 | 4, "_sum", _) | (5, "_gsum", _) => put_double_field(&mut metric.value, 2, sample.value),
            (2, "", Some(quantile)) => {
                let mut pair = Vec::new();
                put_double_field(&mut pair, 1, quantile);
                put_double_field(&mut pair, 2, sample.value);
                put_len_field(&mut metric.value, 3, &pair);
            }
            _ => put_double_field(&mut metric.value, 1, sample.value),
        }
    }
    put_len_field(out, 1, full_name.as_bytes());
    if !family.help.is_empty() {
        put_len_field(out, 2, family.help.as_bytes());
    }
    put_varint_field(out, 3, kind);
    let mut metric_bytes = Vec::new();
    let mut pair = Vec::new();
    for (metric, buckets) in metrics.iter_mut().zip(buckets) {
        metric_bytes.clear();
        for (label, value) in &metric.labels {
            pair.clear();
            put_len_field(&mut pair, 1, label.as_bytes());
            put_len_field(&mut pair, 2, value.as_bytes());
            put_len_field(&mut metric_bytes, 1, &pair);
        }
        metric.value.extend_from_slice(&buckets);
        put_len_field(&mut metric_bytes, value_field, &metric.value);
        if let Some(timestamp) = metric.timestamp_ms {
            put_varint_field(&mut metric_bytes, 6, timestamp as u64);
        }
        put_len_field(out, 4, &metric_bytes);
    }
}

/// Sends one request to the gateway; an answer of 400 or more is an error naming the status
/// and the gateway's explanation.
pub fn send(
    client: &Client,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    auth: &Auth,
    timeout: Option<Duration>,
) -> Result<()> {
    let authorization = auth.header();
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if let Some(value) = authorization.as_deref() {
        all.push(("Authorization", value));
    }
    let reply = client
        .send(method, url, &all, body, timeout)
        .map_err(|err| Error::Io(std::io::Error::other(format!("error talking to pushgateway: {err}"))))?;
    if reply.status >= 400 {
        let message = format!("error talking to pushgateway: {} {}", reply.status, reply.reason);
        return Err(Error::Io(std::io::Error::other(message.trim_end().to_owned())));
    }
    Ok(())
}

/// Pushes (PUT or POST) `registry` to the group (as text 0.0.4, or protobuf), or deletes the
/// group (DELETE, empty body).
#[allow(clippy::too_many_arguments)] // the Pushgateway API's own parameters
pub fn push(
    client: &Client,
    method: Method,
    gateway: &str,
    job: &str,
    grouping_key: &[(String, String)],
    registry: Option<&Registry>,
    options: &Options,
    protobuf: bool,
    compression: Compression,
    auth: &Auth,
    timeout: Option<Duration>,
) -> Result<()> {
    let url = group_url(gateway, job, grouping_key);
    match (method, registry) {
        (Method::Delete, _) | (_, None) => {
            if compression != Compression::None {
                return Err(Error::InvalidValue("Compression is not supported for DELETE requests.".into()));
            }
            send(client, Method::Delete, &url, &[("Content-Type", TEXT)], b"", auth, timeout)
        }
        (_, Some(registry)) => {
            let (body, headers) = body(registry, options, protobuf, compression)?;
            send(client, method, &url, &headers, &body, auth, timeout)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn grouping_key_encoding_matches_prometheus_client() {
        assert_eq!(escape_component("instance", "web-1.example"), ("instance".into(), "web-1.example".into()));
        assert_eq!(escape_component("path", "/var/tmp"), ("path@base64".into(), "L3Zhci90bXA=".into()));
        assert_eq!(escape_component("empty", ""), ("empty@base64".into(), "=".into()));
        assert_eq!(escape_component("space", "a b"), ("space@base64".into(), "YSBi".into()));
        assert_eq!(escape_component("odd", "a?b&c=d%é"), ("odd".into(), "a%3Fb%26c%3Dd%25%C3%A9".into()));
        // URL-safe alphabet: '-' and '_' instead of '+' and '/'.
        assert_eq!(escape_component("k", "/>?"), ("k@base64".into(), "Lz4_".into()));
        assert_eq!(escape_component("k", "/~~"), ("k@base64".into(), "L35-".into()));
    }

    #[test]
    fn group_urls() {
        assert_eq!(group_url("localhost:9091", "batch", &[]), "http://localhost:9091/metrics/job/batch");
        assert_eq!(
            group_url("https://gw.example/", "a/b", &key(&[("z", ""), ("a", "x y"), ("m", "plain")])),
            "https://gw.example/metrics/job@base64/YS9i/a@base64/eCB5/m/plain/z@base64/="
        );
        assert_eq!(group_url("http://gw:9091/prefix//", "job", &[]), "http://gw:9091/prefix/metrics/job/job");
    }

    #[test]
    fn compression_names() {
        assert_eq!(Compression::parse(None).unwrap(), Compression::None);
        assert_eq!(Compression::parse(Some("GZIP")).unwrap(), Compression::Gzip);
        assert_eq!(Compression::parse(Some("snappy")).unwrap(), Compression::Snappy);
        assert_eq!(Compression::parse(Some("zstd")).unwrap_err().to_string(), "Unsupported compression type: zstd");
    }

    #[test]
    fn protobuf_body_byte_for_byte() {
        use crate::registry::Sample;
        let mut counter = MetricFamily::new("jobs", "Jobs.", "counter", "");
        counter.push_named("jobs_total", vec![("q".into(), "a".into())], 2.0);
        counter.push_named("jobs_created", vec![("q".into(), "a".into())], 1.0);
        let mut histogram = MetricFamily::new("h", "", "histogram", "");
        histogram.push("_bucket", vec![("le".into(), "0.5".into())], 1.0);
        histogram.push("_bucket", vec![("le".into(), "+Inf".into())], 3.0);
        histogram.push("_count", vec![], 3.0);
        histogram.push("_sum", vec![], 4.0);
        let mut gauge = MetricFamily::new("g", "", "gauge", "");
        gauge.samples.push(Sample { name: "g".into(), labels: vec![], value: 1.0, timestamp: Some(2.0) });
        let body = protobuf_body(&[counter, histogram, gauge]);
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            // MetricFamily{name "jobs_total", help "Jobs.", type COUNTER, metric {label q=a, counter {value 2}}}
            &[42, 0x0a, 10][..], b"jobs_total", &[0x12, 5], b"Jobs.", &[0x18, 0],
            &[0x22, 19, 0x0a, 6, 0x0a, 1, b'q', 0x12, 1, b'a', 0x1a, 9, 0x09, 0, 0, 0, 0, 0, 0, 0, 0x40],
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
    fn compressed_bodies_decompress_to_the_text() {
        let text = b"# TYPE x gauge\nx 1\n".repeat(50);
        let (gzip, headers) = compress(text.clone(), TEXT, Compression::Gzip).unwrap();
        assert_eq!(headers[1], ("Content-Encoding", "gzip"));
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut unzipped).unwrap();
        assert_eq!(unzipped, text);
        let (snappy, headers) = compress(text.clone(), TEXT, Compression::Snappy).unwrap();
        assert_eq!(headers[1], ("Content-Encoding", "snappy"));
        let mut unframed = Vec::new();
        std::io::Read::read_to_end(&mut snap::read::FrameDecoder::new(&snappy[..]), &mut unframed).unwrap();
        assert_eq!(unframed, text);
        assert_eq!(compress(text.clone(), TEXT, Compression::None).unwrap(), (text, vec![("Content-Type", TEXT)]));
    }
}
