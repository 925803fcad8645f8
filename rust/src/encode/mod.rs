//! Exposition: one file per wire format, plus what the formats share here: the format choice
//! from an `Accept` header, exact Content-Types, gzip.
//!
//! Encoders write native families straight from their cells (labels are pre-rendered, so a
//! scrape only appends numbers) and other collectors' families from their samples.

pub mod number;
pub mod openmetrics;
pub mod text;

use crate::registry::{Family, MetricFamily};

/// A wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.0 text.
    OpenMetrics,
}

impl Format {
    /// The exact Content-Type of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// What the caller can choose about an exposition.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Emit `_created` series for counters, histograms and summaries.
    pub created: bool,
    /// Only these system collectors (the `collect[]` URL parameter); empty means all enabled.
    pub collect: Vec<String>,
    /// Not these system collectors (the `exclude[]` URL parameter).
    pub exclude: Vec<String>,
}

impl Options {
    /// Whether the system collector `name` is wanted by this scrape.
    pub fn wants(&self, name: &str) -> bool {
        (self.collect.is_empty() || self.collect.iter().any(|c| c == name)) && !self.exclude.iter().any(|c| c == name)
    }
}

/// Picks the format for an `Accept` header: the supported type with the highest `q`
/// (OpenMetrics 1.0.0 or text 0.0.4), text when nothing supported is named.
pub fn negotiate(accept: Option<&str>) -> Format {
    let mut best = (Format::Text, -1.0f32);
    for item in accept.unwrap_or("").split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let (mut q, mut version) = (1.0f32, None);
        for param in parts {
            if let Some((key, value)) = param.split_once('=') {
                match key.trim() {
                    "q" => q = value.trim().parse().unwrap_or(0.0),
                    "version" => version = Some(value.trim().to_owned()),
                    _ => {}
                }
            }
        }
        let format = match (media.as_str(), version.as_deref()) {
            ("application/openmetrics-text", None | Some("1.0.0")) => Format::OpenMetrics,
            ("text/plain", None | Some("0.0.4")) | ("*/*", _) => Format::Text,
            _ => continue,
        };
        if q > 0.0 && q > best.1 {
            best = (format, q);
        }
    }
    best.0
}

/// Whether an `Accept-Encoding` header allows gzip.
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.unwrap_or("").split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        parts.next().is_some_and(|coding| coding.eq_ignore_ascii_case("gzip"))
            && parts.all(|p| p.strip_prefix("q=").is_none_or(|q| q.trim().parse::<f32>().unwrap_or(0.0) > 0.0))
    })
}

/// Compresses with gzip at a fast level (scrapes favour latency over the last few percent).
///
/// The deflate state (a few hundred KiB) is kept per thread and reset between uses: made anew
/// for every scrape, its memory went back to the kernel and was faulted in again each time,
/// which cost ten times the compression itself.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use flate2::{Compress, Compression, Crc, FlushCompress};
    thread_local! {
        static DEFLATE: std::cell::RefCell<Compress> = std::cell::RefCell::new(Compress::new(Compression::fast(), false));
    }
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]; // deflate, no name, no mtime, OS unknown
    let mut out = Vec::with_capacity(data.len() / 4 + 64);
    out.extend_from_slice(&HEADER);
    DEFLATE.with_borrow_mut(|deflate| {
        deflate.reset();
        let mut input = data;
        loop {
            out.reserve(input.len() / 4 + 1024);
            let before = deflate.total_in();
            let status = deflate.compress_vec(input, &mut out, FlushCompress::Finish).expect("deflate into a Vec");
            input = &input[(deflate.total_in() - before) as usize..];
            if status == flate2::Status::StreamEnd {
                break;
            }
        }
    });
    let mut crc = Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Writes families in one format, keeping scratch space between them.
pub struct Encoder<'a> {
    format: Format,
    options: &'a Options,
    cumulative: Vec<u64>,
}

impl<'a> Encoder<'a> {
    /// A new encoder.
    pub fn new(format: Format, options: &'a Options) -> Encoder<'a> {
        Encoder { format, options, cumulative: Vec::new() }
    }

    /// The format written.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Appends a native family.
    pub fn family(&mut self, out: &mut Vec<u8>, family: &Family) {
        match self.format {
            Format::Text => text::write_family(out, family, self.options, &mut self.cumulative),
            Format::OpenMetrics => openmetrics::write_family(out, family, self.options, &mut self.cumulative),
        }
    }

    /// Appends a family given as samples.
    pub fn snapshot(&mut self, out: &mut Vec<u8>, family: &MetricFamily) {
        match self.format {
            Format::Text => text::write_snapshot(out, family),
            Format::OpenMetrics => openmetrics::write_snapshot(out, family),
        }
    }

    /// Ends the exposition (`# EOF` for OpenMetrics).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.format == Format::OpenMetrics {
            out.extend_from_slice(b"# EOF\n");
        }
    }
}

/// Appends `{labels,extra_name="extra_value"}`, or nothing when both are empty.
fn write_label_block(out: &mut Vec<u8>, labels: &str, extra: Option<(&str, &str)>) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push(b'{');
    out.extend_from_slice(labels.as_bytes());
    if let Some((name, value)) = extra {
        if !labels.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    }
    out.push(b'}');
}

/// Appends a sample's label pairs as `{a="x",...}` (values escaped), or nothing when empty.
fn write_sample_labels(out: &mut Vec<u8>, labels: &[(crate::registry::Text, crate::registry::Text)]) {
    if labels.is_empty() {
        return;
    }
    out.push(b'{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        crate::key::escape_label_value_bytes(out, value);
        out.push(b'"');
    }
    out.push(b'}');
}

/// How a format prints what the two text formats share.
struct Style {
    /// Writes a float sample value.
    float: fn(&mut Vec<u8>, f64),
    /// Whether `_created` follows each series (OpenMetrics) rather than standing in a gauge
    /// family of its own after the family (text 0.0.4, as prometheus_client does).
    created_inline: bool,
}

fn write_sample_line(out: &mut Vec<u8>, name: &str, suffix: &str, labels: &str, extra: Option<(&str, &str)>) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    write_label_block(out, labels, extra);
    out.push(b' ');
}

/// Appends every sample of one native series.
fn write_series(
    out: &mut Vec<u8>,
    family: &Family,
    series: &crate::registry::Series,
    style: &Style,
    created: bool,
    cumulative: &mut Vec<u64>,
) {
    use crate::metric::{counter, gauge, histogram, info, summary, Kind};
    let meta = family.meta();
    let (name, labels, cells) = (meta.name.as_str(), series.labels(), series.cells());
    match &meta.kind {
        Kind::Counter => {
            write_sample_line(out, name, "_total", labels, None);
            match counter::integer_only(cells) {
                Some(whole) => number::write_u64(out, whole),
                None => (style.float)(out, counter::get(cells)),
            }
        }
        Kind::Gauge => {
            write_sample_line(out, name, "", labels, None);
            (style.float)(out, gauge::get(cells));
        }
        Kind::Histogram { bounds } => {
            let sum = histogram::snapshot(cells, bounds, cumulative);
            for (bound, count) in bounds.iter().zip(cumulative.iter()) {
                write_sample_line(out, name, "_bucket", labels, Some(("le", &number::openmetrics_float(*bound))));
                number::write_u64(out, *count);
                out.push(b'\n');
            }
            write_sample_line(out, name, "_count", labels, None);
            number::write_u64(out, cumulative.last().copied().unwrap_or(0));
            if histogram::exposes_sum(bounds) {
                out.push(b'\n');
                write_sample_line(out, name, "_sum", labels, None);
                (style.float)(out, sum);
            }
        }
        Kind::Summary => {
            let (count, sum) = summary::get(cells);
            write_sample_line(out, name, "_count", labels, None);
            number::write_u64(out, count);
            out.push(b'\n');
            write_sample_line(out, name, "_sum", labels, None);
            (style.float)(out, sum);
        }
        Kind::Info => {
            let info_labels = family.info_labels(series);
            let all = match (labels.is_empty(), info_labels.is_empty()) {
                (true, _) => info_labels.to_string(),
                (false, true) => labels.to_owned(),
                (false, false) => format!("{labels},{info_labels}"),
            };
            write_sample_line(out, name, "_info", &all, None);
            (style.float)(out, 1.0);
        }
        Kind::StateSet { states } => {
            let current = info::index(cells);
            for (i, state) in states.iter().enumerate() {
                let mut escaped = String::new();
                crate::key::escape_label_value(&mut escaped, state);
                write_sample_line(out, name, "", labels, Some((name, &escaped)));
                (style.float)(out, if i == current { 1.0 } else { 0.0 });
                if i + 1 < states.len() {
                    out.push(b'\n');
                }
            }
        }
    }
    out.push(b'\n');
    if created && style.created_inline {
        write_created(out, name, series, style);
    }
}

fn write_created(out: &mut Vec<u8>, name: &str, series: &crate::registry::Series, style: &Style) {
    write_sample_line(out, name, "_created", series.labels(), None);
    (style.float)(out, series.created());
    out.push(b'\n');
}

/// Whether a type has `_created` series.
fn has_created(kind: &crate::metric::Kind) -> bool {
    use crate::metric::Kind;
    matches!(kind, Kind::Counter | Kind::Histogram { .. } | Kind::Summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_q() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(negotiate(Some("text/plain;q=0.9, application/openmetrics-text;q=0.5")), Format::Text);
        assert_eq!(negotiate(Some("application/openmetrics-text; version=0.0.1")), Format::Text);
        assert_eq!(negotiate(None), Format::Text);
        assert_eq!(negotiate(Some("application/json")), Format::Text);
    }

    #[test]
    fn gzip_is_detected_and_round_trips() {
        assert!(accepts_gzip(Some("deflate, gzip")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(None));
        let big: Vec<u8> =
            (0..2_000_000u32).flat_map(|i| format!("m{{i=\"{}\"}} {i}\n", i % 977).into_bytes()).collect();
        // Reusing the thread's deflate state must not leak one stream into the next.
        for data in [b"metric 1\n".repeat(100), big, Vec::new(), b"x 1\n".to_vec()] {
            let mut decoded = Vec::new();
            let compressed = gzip(&data);
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&compressed[..]), &mut decoded).unwrap();
            assert_eq!(decoded, data);
        }
    }
}
