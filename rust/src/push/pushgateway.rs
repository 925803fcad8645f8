//! The Pushgateway client: the group URL with the gateway's grouping-key encoding, the body
//! (text 0.0.4 as prometheus_client pushes it, or delimited protobuf as client_golang does,
//! both from `encode`; optionally gzip or snappy), and the request: PUT (replace the group),
//! POST (replace the families pushed) or DELETE (remove the group).
//!
//! The URL is built exactly as prometheus_client builds it, so a job that moves to obsagent
//! lands in the same group: components are percent-encoded like `urllib.parse.quote_plus`;
//! an empty value is `name@base64/=`, and a value with `/` or a space is `name@base64/` plus
//! padded URL-safe base64 (the only way the gateway accepts a `/`).

use super::http::{Auth, Client, Method};
use crate::encode::{self, Format};
use crate::error::{Error, Result};
use crate::registry::{Options, Registry};
use std::time::Duration;

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

/// The registry as a push body in `format` (text 0.0.4 or protobuf), with its request headers.
pub fn body(
    registry: &Registry,
    options: &Options,
    format: Format,
    compression: Compression,
) -> Result<(Vec<u8>, Headers)> {
    compress(encode::encode(registry, format, options)?, format.content_type(), compression)
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

    const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

    #[test]
    fn compressed_bodies_decompress_to_the_text() {
        let text = b"# TYPE x gauge\nx 1\n".repeat(50);
        let (gzip, headers) = compress(text.clone(), TEXT_CONTENT_TYPE, Compression::Gzip).unwrap();
        assert_eq!(headers[1], ("Content-Encoding", "gzip"));
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut unzipped).unwrap();
        assert_eq!(unzipped, text);
        let (snappy, headers) = compress(text.clone(), TEXT_CONTENT_TYPE, Compression::Snappy).unwrap();
        assert_eq!(headers[1], ("Content-Encoding", "snappy"));
        let mut unframed = Vec::new();
        std::io::Read::read_to_end(&mut snap::read::FrameDecoder::new(&snappy[..]), &mut unframed).unwrap();
        assert_eq!(unframed, text);
        assert_eq!(
            compress(text.clone(), TEXT_CONTENT_TYPE, Compression::None).unwrap(),
            (text, vec![("Content-Type", TEXT_CONTENT_TYPE)])
        );
    }
}
