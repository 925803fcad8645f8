//! Exposition: one file per wire format (text 0.0.4, OpenMetrics 1.0, delimited protobuf),
//! plus what the formats share here: the format choice from an `Accept` header, exact
//! Content-Types, gzip, and the [`Encoder`] a scrape walks the registry with.
//!
//! Encoders write native families straight from their cells (labels are pre-rendered, so a
//! scrape only appends numbers), through each kind's own typed reading (`metric::Kind::visit`
//! for the text formats, `metric::Reading` for protobuf), and other collectors' families from
//! their samples.
//!
//! Names outside the classic charset are written in the [`Escaping`] a scrape asks for. Whether
//! a family needs that is decided once per family ([`Naming::for_family`]); a classic family's
//! lines are copied as before, so UTF-8 support costs a classic scrape nothing.

pub mod openmetrics;
pub mod protobuf;
pub mod protowire;
pub mod text;

use crate::error::Result;
pub use crate::escape::Escaping;
use crate::escape::{self, is_classic_label_name, is_classic_metric_name};
use crate::metric::{Extra, Line, LinesVisitor, SampleLines, Value};
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

/// Renders everything `registry` holds in `format`, names escaped with `underscores`.
pub fn encode(registry: &Registry, format: Format, options: &Options) -> Result<Vec<u8>> {
    encode_escaped(registry, format, Escaping::Underscores, options)
}

/// Renders everything `registry` holds in `format`, names outside the classic charset written
/// as `escaping` says.
pub fn encode_escaped(registry: &Registry, format: Format, escaping: Escaping, options: &Options) -> Result<Vec<u8>> {
    let exposition = Exposition { escaping, ..Exposition::plain(format) };
    encode_exposition(registry, &exposition, options)
}

/// Renders everything `registry` holds as `exposition` says (format, escaping, OpenMetrics 2.0).
pub fn encode_exposition(registry: &Registry, exposition: &Exposition, options: &Options) -> Result<Vec<u8>> {
    let mut encoder =
        Encoder::with_escaping(exposition.format, exposition.escaping, options, registry.size_hint() + 1024);
    encoder.openmetrics_2 = exposition.openmetrics_2;
    registry.visit(options, &mut encoder)?;
    if let Some(err) = encoder.error.take() {
        return Err(err);
    }
    let out = encoder.finish();
    registry.set_size_hint(out.len());
    Ok(out)
}

/// What a scrape answers with: the format, how names are escaped, and the exact Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposition {
    /// The wire format.
    pub format: Format,
    /// How names outside the classic charset are written.
    pub escaping: Escaping,
    /// OpenMetrics 2.0.0 was asked for (its native-histogram samples may be written).
    pub openmetrics_2: bool,
    /// The response's Content-Type.
    pub content_type: &'static str,
}

impl Exposition {
    /// `format` with its plain Content-Type (no `escaping` parameter) and `underscores`.
    pub fn plain(format: Format) -> Exposition {
        Exposition {
            format,
            escaping: Escaping::Underscores,
            openmetrics_2: false,
            content_type: format.content_type(),
        }
    }

    fn text_1_0_0(escaping: Escaping) -> Exposition {
        const TYPES: [&str; 4] = [
            "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
            "text/plain; version=1.0.0; charset=utf-8; escaping=underscores",
            "text/plain; version=1.0.0; charset=utf-8; escaping=dots",
            "text/plain; version=1.0.0; charset=utf-8; escaping=values",
        ];
        Exposition { format: Format::Text, escaping, openmetrics_2: false, content_type: TYPES[escaping as usize] }
    }

    fn openmetrics(escaping: Escaping, version_2: bool) -> Exposition {
        const TYPES: [[&str; 4]; 2] = [
            [
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores",
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=dots",
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=values",
            ],
            [
                "application/openmetrics-text; version=2.0.0; charset=utf-8; escaping=allow-utf-8",
                "application/openmetrics-text; version=2.0.0; charset=utf-8; escaping=underscores",
                "application/openmetrics-text; version=2.0.0; charset=utf-8; escaping=dots",
                "application/openmetrics-text; version=2.0.0; charset=utf-8; escaping=values",
            ],
        ];
        let content_type = TYPES[version_2 as usize][escaping as usize];
        Exposition { format: Format::OpenMetrics, escaping, openmetrics_2: version_2, content_type }
    }
}

/// `major.minor.patch` as numbers (a missing or non-numeric part reads as 0).
fn version_parts(version: &str) -> (u32, u32, u32) {
    let mut parts = version.split('.').map(|p| p.trim().parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Picks what to answer an `Accept` header with, as prometheus_client 0.26's `choose_encoder`
/// reads it, with `q` values honoured and protobuf offered as Prometheus asks for it:
///
/// - `application/openmetrics-text` with no version: OpenMetrics 1.0.0, `underscores`, the plain
///   Content-Type; with a version of 1.0.0 or more: that version (2.0.0 and up answer 2.0.0) in
///   the `escaping` asked for (`underscores` when none or an unknown one is given), named in the
///   Content-Type; an older version is passed over;
/// - `text/plain` with a version of 1.0.0 or more: text 1.0.0 in the `escaping` asked for;
/// - `application/vnd.google.protobuf` with `proto=io.prometheus.client.MetricFamily` and
///   `encoding=delimited`: delimited protobuf;
/// - anything else (or nothing): text 0.0.4, `underscores`.
///
/// Of the types offered the one with the highest `q` wins, the first of equals; `q=0` refuses.
pub fn negotiate(accept: Option<&str>) -> Exposition {
    let mut best = (Exposition::plain(Format::Text), 0.0f32);
    for item in accept.unwrap_or("").split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let (mut q, mut version, mut escaping, mut proto, mut delimited) =
            (1.0f32, None, Escaping::Underscores, false, false);
        for param in parts {
            let Some((key, value)) = param.split_once('=') else { continue };
            let value = value.trim();
            match key.trim() {
                "q" => q = value.parse().unwrap_or(0.0),
                "version" => version = Some(version_parts(value)),
                "escaping" => escaping = Escaping::parse(value).unwrap_or(Escaping::Underscores),
                "proto" => proto = value == "io.prometheus.client.MetricFamily",
                "encoding" => delimited = value == "delimited",
                _ => {}
            }
        }
        let exposition = match (media.as_str(), version) {
            ("application/openmetrics-text", None) => Exposition::plain(Format::OpenMetrics),
            ("application/openmetrics-text", Some(v)) if v >= (1, 0, 0) => {
                Exposition::openmetrics(escaping, v >= (2, 0, 0))
            }
            ("text/plain", Some(v)) if v >= (1, 0, 0) => Exposition::text_1_0_0(escaping),
            ("application/vnd.google.protobuf", _) if proto && delimited => Exposition::plain(Format::Protobuf),
            _ => continue,
        };
        if q > best.1 {
            best = (exposition, q);
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
    escaping: Escaping,
    options: &'a Options,
    out: Vec<u8>,
    cumulative: Vec<u64>,
    /// OpenMetrics 2.0.0: native histogram samples are written.
    pub openmetrics_2: bool,
    /// What a family given as samples failed with (the scrape fails with it).
    error: Option<crate::error::Error>,
}

impl<'a> Encoder<'a> {
    /// A new encoder, with room for `capacity` bytes.
    pub fn new(format: Format, options: &'a Options, capacity: usize) -> Encoder<'a> {
        Encoder::with_escaping(format, Escaping::Underscores, options, capacity)
    }

    /// A new encoder writing names outside the classic charset as `escaping` says.
    pub fn with_escaping(format: Format, escaping: Escaping, options: &'a Options, capacity: usize) -> Encoder<'a> {
        let out = Vec::with_capacity(capacity);
        Encoder { format, escaping, options, out, cumulative: Vec::new(), openmetrics_2: false, error: None }
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
        let naming = Naming::for_family(family, self.escaping);
        match self.format {
            Format::Text => text::write_family(out, family, created, cumulative, naming),
            Format::OpenMetrics => {
                openmetrics::write_family(out, family, created, cumulative, naming, self.openmetrics_2)
            }
            Format::Protobuf => match naming {
                Naming::Classic => protobuf::write_family(out, family, self.options.created, cumulative),
                Naming::Escaped(..) => protobuf::write_snapshot(out, &classic_names(&family.snapshot(false))),
            },
        }
    }

    fn snapshot(&mut self, family: &MetricFamily) {
        match self.format {
            Format::Text => text::write_snapshot_escaped(&mut self.out, family, self.escaping),
            Format::OpenMetrics => {
                if let Err(err) = openmetrics::write_snapshot(&mut self.out, family, self.escaping, self.openmetrics_2)
                {
                    self.error.get_or_insert(err);
                }
            }
            Format::Protobuf if has_classic_names(family) => protobuf::write_snapshot(&mut self.out, family),
            Format::Protobuf => protobuf::write_snapshot(&mut self.out, &classic_names(family)),
        }
    }
}

/// Whether every name of a family given as samples is in the classic charset.
fn has_classic_names(family: &MetricFamily) -> bool {
    is_classic_metric_name(&family.name)
        && family
            .samples
            .iter()
            .all(|s| is_classic_metric_name(&s.name) && s.labels.iter().all(|(label, _)| is_classic_label_name(label)))
}

/// `family` with its names escaped with `underscores`: protobuf has no quoting, and a scraper
/// asking for it (Prometheus 2) refuses the whole scrape for one name outside the charset.
fn classic_names(family: &MetricFamily) -> MetricFamily {
    let escaped = |name: &str, label: bool| -> Text {
        let mut out = Vec::with_capacity(name.len());
        if label {
            escape::label_name(&mut out, name, Escaping::Underscores);
        } else {
            escape::metric_name(&mut out, name, Escaping::Underscores);
        }
        String::from_utf8(out).expect("escaping keeps UTF-8").into()
    };
    let mut classic = family.clone();
    classic.name = escaped(&family.name, false);
    for sample in &mut classic.samples {
        sample.name = escaped(&sample.name, false);
        for (label, _) in &mut sample.labels {
            *label = escaped(label, true);
        }
    }
    classic
}

/// How a native family's names are written: copied (classic names under a scheme that keeps
/// them, nearly always), or each escaped.
#[derive(Clone, Copy)]
pub enum Naming<'a> {
    /// Names written as they are.
    Classic,
    /// Names written through the escaping, the family's label names to read series labels by.
    Escaped(Escaping, &'a [String]),
}

impl<'a> Naming<'a> {
    /// How `family`'s names are written in `escaping`.
    pub fn for_family(family: &'a Family, escaping: Escaping) -> Naming<'a> {
        let meta = family.meta();
        let classic = is_classic_metric_name(&meta.name) && meta.label_names.iter().all(|n| is_classic_label_name(n));
        if classic && escaping.keeps_classic_names() {
            Naming::Classic
        } else {
            Naming::Escaped(escaping, &meta.label_names)
        }
    }

    /// How a family named `name` is written, when only its name is known.
    fn for_name(name: &str, escaping: Escaping) -> Naming<'static> {
        if is_classic_metric_name(name) && escaping.keeps_classic_names() {
            Naming::Classic
        } else {
            Naming::Escaped(escaping, &[])
        }
    }
}

/// Appends a metadata line's name (`# HELP <name>`): the family name and `suffix`, escaped.
fn write_meta_name(out: &mut Vec<u8>, name: &str, suffix: &str, escaping: Escaping) {
    match Naming::for_name(name, escaping) {
        Naming::Classic => {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(suffix.as_bytes());
        }
        Naming::Escaped(..) => escape::metric_name(out, &[name, suffix].concat(), escaping),
    }
}

/// Appends `<name>{<labels>}` of a sample whose name or label names need `escaping`: under
/// `allow-utf-8` a name outside the charset goes quoted inside the braces, `{"my.metric",a="x"}`.
/// `labels` are `(name, escaped value)` pairs.
fn write_escaped_series_name<'v>(
    out: &mut Vec<u8>,
    name: &str,
    escaping: Escaping,
    labels: impl IntoIterator<Item = (&'v str, &'v [u8])>,
) {
    let quoted = escaping == Escaping::AllowUtf8 && !is_classic_metric_name(name);
    let mut any = quoted;
    if quoted {
        out.push(b'{');
    }
    escape::metric_name(out, name, escaping);
    for (label, value) in labels {
        out.push(if any { b',' } else { b'{' });
        any = true;
        escape::label_name(out, label, escaping);
        out.extend_from_slice(b"=\"");
        out.extend_from_slice(value);
        out.push(b'"');
    }
    if any {
        out.push(b'}');
    }
}

/// A rendered label set's `(name, escaped value)` pairs, read by the names it was rendered with.
fn rendered_pairs<'v>(rendered: &'v str, names: &'v [String]) -> impl Iterator<Item = (&'v str, &'v [u8])> {
    let mut rest = rendered.as_bytes();
    names.iter().map_while(move |name| {
        rest = rest.strip_prefix(b",").unwrap_or(rest).strip_prefix(name.as_bytes())?.strip_prefix(b"=\"")?;
        let len = escape::escaped_value_len(rest);
        let value = &rest[..len];
        rest = rest.get(len + 1..).unwrap_or_default();
        Some((name.as_str(), value))
    })
}

/// An extra label block's `(name, escaped value)` pairs.
fn extra_pairs<'v>(extra: &Extra<'v>) -> Vec<(&'v str, &'v [u8])> {
    match *extra {
        Extra::None => Vec::new(),
        Extra::Label(name, value) => vec![(name, value.as_bytes())],
        Extra::Rendered(pairs) => {
            let mut out = Vec::new();
            let mut rest = pairs;
            while let Some(eq) = rest.find("=\"") {
                let name = rest[..eq].trim_start_matches(',');
                let len = escape::escaped_value_len(&rest.as_bytes()[eq + 2..]);
                out.push((name, &rest.as_bytes()[eq + 2..eq + 2 + len]));
                rest = rest.get(eq + 3 + len..).unwrap_or_default();
            }
            out
        }
    }
}

/// Appends a sample given as samples (a collector's), its name and label names escaped when they
/// need to be.
fn write_sample_series(out: &mut Vec<u8>, name: &str, labels: &[(Text, Text)], escaping: Escaping) {
    let classic = escaping.keeps_classic_names()
        && is_classic_metric_name(name)
        && labels.iter().all(|(label, _)| is_classic_label_name(label));
    if classic {
        out.extend_from_slice(name.as_bytes());
        write_sample_labels(out, labels);
        return;
    }
    let values: Vec<String> = labels.iter().map(|(_, value)| escape::label_value_owned(value)).collect();
    let pairs = labels.iter().zip(&values).map(|((label, _), value)| (&**label, value.as_bytes()));
    write_escaped_series_name(out, name, escaping, pairs);
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

/// Appends a sample line up to its value, its names escaped.
fn write_escaped_line_start(
    out: &mut Vec<u8>,
    (escaping, names): (Escaping, &[String]),
    name: &str,
    suffix: &str,
    labels: &str,
    extra: Extra<'_>,
) {
    let pairs = rendered_pairs(labels, names).chain(extra_pairs(&extra));
    write_escaped_series_name(out, &[name, suffix].concat(), escaping, pairs);
    out.push(b' ');
}

/// Appends every sample line of one native series (`_created` aside), names as rendered: the
/// scrape's hot loop, compiled once per kind ([`Kind::visit`](crate::metric::Kind::visit)).
#[inline(always)]
fn write_series(out: &mut Vec<u8>, family: &Family, series: &Series, style: &Style, cumulative: &mut Vec<u64>) {
    let meta = family.meta();
    let exemplar = style.exemplar.filter(|_| family.has_exemplars());
    let mut writer = SeriesWriter { out, name: &meta.name, labels: series.labels(), style, exemplar, family, series };
    meta.kind.visit(&meta.name, series.cells(), cumulative, |scratch| family.read(series, scratch), &mut writer);
}

/// Writes one series' lines as [`Kind::visit`](crate::metric::Kind::visit) hands them over.
struct SeriesWriter<'w> {
    out: &'w mut Vec<u8>,
    name: &'w str,
    labels: &'w str,
    style: &'w Style,
    /// How to write an exemplar, when the format shows them and the family has some.
    exemplar: Option<fn(&mut Vec<u8>, &crate::metric::exemplar::Exemplar)>,
    family: &'w Family,
    series: &'w Series,
}

impl LinesVisitor for SeriesWriter<'_> {
    #[inline(always)]
    fn visit<L: SampleLines>(&mut self, lines: &L) {
        let out = &mut *self.out;
        let mut index = 0;
        while let Some(Line { suffix, extra, value }) = lines.line(index) {
            write_line_start(out, self.name, suffix, self.labels, extra);
            match value {
                Value::Count(count) => number::write_count(out, count),
                Value::Float(value) => (self.style.float)(out, value),
            }
            if let Some(write_exemplar) = self.exemplar {
                let slot = self.family.meta().kind.exemplar_slot(index);
                if let Some(exemplar) = slot.and_then(|slot| self.family.exemplar(self.series, slot)) {
                    write_exemplar(out, &exemplar);
                }
            }
            out.push(b'\n');
            index += 1;
        }
    }
}

/// [`write_series`] for names that need escaping, kept out of the hot loop.
#[inline(never)]
fn write_escaped_series(
    out: &mut Vec<u8>,
    family: &Family,
    series: &Series,
    style: &Style,
    cumulative: &mut Vec<u64>,
    escaped: (Escaping, &[String]),
) {
    let (name, labels) = (family.meta().name.as_str(), series.labels());
    for Line { suffix, extra, value } in family.read(series, cumulative).lines() {
        write_escaped_line_start(out, escaped, name, suffix, labels, extra);
        match value {
            Value::Count(count) => number::write_count(out, count),
            Value::Float(value) => (style.float)(out, value),
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

/// [`write_created`] with names escaped.
fn write_escaped_created(
    out: &mut Vec<u8>,
    name: &str,
    series: &Series,
    style: &Style,
    escaped: (Escaping, &[String]),
) {
    write_escaped_line_start(out, escaped, name, "_created", series.labels(), Extra::None);
    (style.float)(out, series.created());
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chosen(accept: &str) -> (Format, Escaping, &'static str) {
        let exposition = negotiate(Some(accept));
        (exposition.format, exposition.escaping, exposition.content_type)
    }

    #[test]
    fn negotiation_follows_q() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(prometheus)).format, Format::OpenMetrics);
        assert_eq!(
            negotiate(Some("text/plain;version=1.0.0;q=0.9, application/openmetrics-text;q=0.5")).format,
            Format::Text
        );
        assert_eq!(
            negotiate(Some("text/plain;version=1.0.0;q=0.4, application/openmetrics-text;q=0.5")).format,
            Format::OpenMetrics
        );
        assert_eq!(negotiate(Some("application/openmetrics-text; version=0.0.1")), Exposition::plain(Format::Text));
        assert_eq!(negotiate(Some("application/openmetrics-text;q=0")), Exposition::plain(Format::Text));
        assert_eq!(negotiate(None), Exposition::plain(Format::Text));
        assert_eq!(negotiate(Some("application/json")), Exposition::plain(Format::Text));
    }

    #[test]
    fn negotiation_reads_versions_and_escaping_as_prometheus_client() {
        let om = "application/openmetrics-text";
        assert_eq!(
            chosen("text/plain; version=0.0.4; charset=utf-8"),
            (Format::Text, Escaping::Underscores, Format::Text.content_type())
        );
        assert_eq!(
            chosen("text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8"),
            (Format::Text, Escaping::AllowUtf8, "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8")
        );
        assert_eq!(chosen("text/plain; charset=utf-8; escaping=allow-utf-8"), chosen(""));
        assert_eq!(
            chosen(&format!("{om}; version=1.0.0; charset=utf-8")),
            (
                Format::OpenMetrics,
                Escaping::Underscores,
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
            )
        );
        assert_eq!(
            chosen(&format!("{om}; charset=utf-8; escaping=allow-utf-8")),
            (Format::OpenMetrics, Escaping::Underscores, Format::OpenMetrics.content_type())
        );
        assert_eq!(
            chosen(&format!("{om}; version=2.0.0; escaping=dots")).2,
            "application/openmetrics-text; version=2.0.0; charset=utf-8; escaping=dots"
        );
        assert!(negotiate(Some(&format!("{om}; version=2.0.0"))).openmetrics_2);
        assert_eq!(chosen(&format!("{om}; version=1.0.0; escaping=bogus")).1, Escaping::Underscores);
    }

    #[test]
    fn negotiation_offers_protobuf_to_prometheus() {
        // Prometheus 2.42 with --enable-feature=native-histograms.
        let prometheus = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(prometheus)), Exposition::plain(Format::Protobuf));
        assert_eq!(
            negotiate(Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"))
                .format,
            Format::Text
        );
    }

    fn utf8_registry() -> Registry {
        use crate::metric::{counter, Kind};
        let registry = Registry::new();
        let family = Family::new("my.requests", "Help.", "", Kind::Counter, vec!["a.b".into(), "c".into()]).unwrap();
        counter::inc_integer(family.labels(&["x\"y", "z"]).unwrap().cells(), 3);
        registry.register_family(family).unwrap();
        let classic = Family::new("classic", "C.", "", Kind::Counter, vec!["k_k".into()]).unwrap();
        counter::inc_integer(classic.labels(&["v"]).unwrap().cells(), 1);
        registry.register_family(classic).unwrap();
        registry
    }

    fn encoded(format: Format, escaping: Escaping) -> String {
        let options = Options { created: false, ..Options::default() };
        String::from_utf8_lossy(&encode_escaped(&utf8_registry(), format, escaping, &options).unwrap()).into_owned()
    }

    #[test]
    fn names_outside_the_charset_are_written_in_the_escaping_asked_for() {
        let text = encoded(Format::Text, Escaping::AllowUtf8);
        assert!(
            text.starts_with("# HELP \"my.requests_total\" Help.\n# TYPE \"my.requests_total\" counter\n"),
            "{text}"
        );
        assert!(text.contains("\n{\"my.requests_total\",\"a.b\"=\"x\\\"y\",c=\"z\"} 3.0\n"), "{text}");
        assert!(text.contains("\nclassic_total{k_k=\"v\"} 1.0\n"), "{text}");
        let text = encoded(Format::Text, Escaping::Underscores);
        assert!(text.contains("\nmy_requests_total{a_b=\"x\\\"y\",c=\"z\"} 3.0\n"), "{text}");
        let text = encoded(Format::Text, Escaping::Dots);
        assert!(text.contains("\nmy_dot_requests__total{a_dot_b=\"x\\\"y\",c=\"z\"} 3.0\n"), "{text}");
        assert!(text.contains("\nclassic__total{k__k=\"v\"} 1.0\n"), "dots rewrites classic names too: {text}");
        let text = encoded(Format::Text, Escaping::Values);
        assert!(text.contains("\nU__my_2e_requests__total{U__a_2e_b=\"x\\\"y\",c=\"z\"} 3.0\n"), "{text}");
        let om = encoded(Format::OpenMetrics, Escaping::AllowUtf8);
        assert!(om.starts_with("# HELP \"my.requests\" Help.\n# TYPE \"my.requests\" counter\n"), "{om}");
        assert!(om.contains("\n{\"my.requests_total\",\"a.b\"=\"x\\\"y\",c=\"z\"} 3.0\n"), "{om}");
    }

    #[test]
    fn protobuf_names_are_written_with_underscores() {
        let body = encoded(Format::Protobuf, Escaping::AllowUtf8);
        assert!(body.contains("my_requests_total") && body.contains("a_b") && !body.contains("my.requests"));
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
