//! Exposition: one file per wire format (text 0.0.4, OpenMetrics 1.0, delimited protobuf),
//! plus what the formats share here: the format choice from an `Accept` header, exact
//! Content-Types, gzip, and the [`Encoder`] a scrape walks the registry with.
//!
//! Encoders write native families straight from their cells (labels are pre-rendered, so a
//! scrape only appends numbers), through each kind's typed reading (`metric::Reading`), and
//! other collectors' families from their samples.

pub mod openmetrics;
pub mod protobuf;
pub mod protowire;
pub mod text;

use crate::error::Result;
use crate::metric::{Extra, Line, Value};
use crate::number;
use crate::registry::{Family, FamilySink, MetricFamily, Options, Registry, Series, Text};

/// A wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.0 text.
    OpenMetrics,
    /// Length-delimited `io.prometheus.client.MetricFamily` messages.
    Protobuf,
}

impl Format {
    /// The exact Content-Type of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Protobuf => protobuf::CONTENT_TYPE,
        }
    }
}

/// Renders everything `registry` holds in `format`.
pub fn encode(registry: &Registry, format: Format, options: &Options) -> Result<Vec<u8>> {
    let mut encoder = Encoder::new(format, options, registry.size_hint() + 1024);
    registry.visit(options, &mut encoder)?;
    let out = encoder.finish();
    registry.set_size_hint(out.len());
    Ok(out)
}

/// Picks the format for an `Accept` header: the supported type with the highest `q`
/// (OpenMetrics 1.0.0 or text 0.0.4), text when nothing supported is named.
pub fn negotiate(accept: Option<&str>) -> Format {
    negotiate_among(accept, true)
}

/// [`negotiate`], offering delimited protobuf only when `protobuf` (the Python apps render
/// text formats only).
pub fn negotiate_among(accept: Option<&str>, protobuf: bool) -> Format {
    let mut best = (Format::Text, -1.0f32);
    for item in accept.unwrap_or("").split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let (mut q, mut version, mut delimited_families) = (1.0f32, None, [false, false]);
        for param in parts {
            if let Some((key, value)) = param.split_once('=') {
                match key.trim() {
                    "q" => q = value.trim().parse().unwrap_or(0.0),
                    "version" => version = Some(value.trim().to_owned()),
                    "proto" => delimited_families[0] = value.trim() == "io.prometheus.client.MetricFamily",
                    "encoding" => delimited_families[1] = value.trim() == "delimited",
                    _ => {}
                }
            }
        }
        let format = match (media.as_str(), version.as_deref()) {
            // The kinds helper's stand-in until the names helper's negotiation lands.
            ("application/vnd.google.protobuf", _) if protobuf && delimited_families == [true, true] => {
                Format::Protobuf
            }
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

/// Writes the families a scrape hands it in one format, keeping scratch space between them.
pub struct Encoder<'a> {
    format: Format,
    options: &'a Options,
    out: Vec<u8>,
    cumulative: Vec<u64>,
}

impl<'a> Encoder<'a> {
    /// A new encoder, with room for `capacity` bytes.
    pub fn new(format: Format, options: &'a Options, capacity: usize) -> Encoder<'a> {
        Encoder { format, options, out: Vec::with_capacity(capacity), cumulative: Vec::new() }
    }

    /// Ends the exposition (`# EOF` for OpenMetrics) and returns it.
    pub fn finish(mut self) -> Vec<u8> {
        if self.format == Format::OpenMetrics {
            self.out.extend_from_slice(b"# EOF\n");
        }
        self.out
    }
}

impl FamilySink for Encoder<'_> {
    fn family(&mut self, family: &Family) {
        let created = self.options.created && family.exposes_created();
        let (out, cumulative) = (&mut self.out, &mut self.cumulative);
        match self.format {
            Format::Text => text::write_family(out, family, created, cumulative),
            Format::OpenMetrics => openmetrics::write_family(out, family, created, cumulative),
            Format::Protobuf => protobuf::write_family(out, family, self.options.created, cumulative),
        }
    }

    fn snapshot(&mut self, family: &MetricFamily) {
        match self.format {
            Format::Text => text::write_snapshot(&mut self.out, family),
            Format::OpenMetrics => openmetrics::write_snapshot(&mut self.out, family),
            Format::Protobuf => protobuf::write_snapshot(&mut self.out, family),
        }
    }
}

/// Appends `{labels,extra}`, or nothing when both are empty.
#[inline(always)]
fn write_label_block(out: &mut Vec<u8>, labels: &str, extra: Extra<'_>) {
    let extra_present = match extra {
        Extra::None => false,
        Extra::Label(..) => true,
        Extra::Rendered(pairs) => !pairs.is_empty(),
    };
    if labels.is_empty() && !extra_present {
        return;
    }
    out.push(b'{');
    out.extend_from_slice(labels.as_bytes());
    if extra_present && !labels.is_empty() {
        out.push(b',');
    }
    match extra {
        Extra::None => {}
        Extra::Label(name, value) => {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"=\"");
            out.extend_from_slice(value.as_bytes());
            out.push(b'"');
        }
        Extra::Rendered(pairs) => out.extend_from_slice(pairs.as_bytes()),
    }
    out.push(b'}');
}

/// Appends a sample's label pairs as `{a="x",...}` (values escaped), or nothing when empty.
pub fn write_sample_labels(out: &mut Vec<u8>, labels: &[(Text, Text)]) {
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
        crate::escape::label_value(out, value);
        out.push(b'"');
    }
    out.push(b'}');
}

/// How a text format prints what the two share.
struct Style {
    /// Writes a float sample value.
    float: fn(&mut Vec<u8>, f64),
    /// Writes a line's exemplar (after its value), for the formats that show them.
    exemplar: Option<fn(&mut Vec<u8>, &crate::metric::exemplar::Exemplar)>,
}

/// Appends `<name><suffix>{<labels>,<extra>}`: what identifies a sample line's series.
#[inline(always)]
pub fn write_series_name(out: &mut Vec<u8>, name: &str, suffix: &str, labels: &str, extra: Extra<'_>) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    write_label_block(out, labels, extra);
}

/// Appends a sample line up to its value.
#[inline(always)]
fn write_line_start(out: &mut Vec<u8>, name: &str, suffix: &str, labels: &str, extra: Extra<'_>) {
    write_series_name(out, name, suffix, labels, extra);
    out.push(b' ');
}

/// Appends every sample line of one native series (`_created` aside).
fn write_series(out: &mut Vec<u8>, family: &Family, series: &Series, style: &Style, cumulative: &mut Vec<u64>) {
    let (name, labels) = (family.meta().name.as_str(), series.labels());
    let exemplars = style.exemplar.filter(|_| family.has_exemplars());
    for (index, Line { suffix, extra, value }) in family.read(series, cumulative).lines().enumerate() {
        write_line_start(out, name, suffix, labels, extra);
        match value {
            Value::Count(count) => number::write_count(out, count),
            Value::Float(value) => (style.float)(out, value),
        }
        if let Some(write_exemplar) = exemplars {
            let slot = family.meta().kind.exemplar_slot(index);
            if let Some(exemplar) = slot.and_then(|slot| family.exemplar(series, slot)) {
                write_exemplar(out, &exemplar);
            }
        }
        out.push(b'\n');
    }
}

/// Appends a series' `_created` line.
fn write_created(out: &mut Vec<u8>, name: &str, series: &Series, style: &Style) {
    write_line_start(out, name, "_created", series.labels(), Extra::None);
    (style.float)(out, series.created());
    out.push(b'\n');
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
        let native_histograms = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(native_histograms)), Format::Protobuf);
        assert_eq!(negotiate_among(Some(native_histograms), false), Format::OpenMetrics);
        assert_eq!(
            negotiate(Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily")),
            Format::Text
        );
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
