//! The Prometheus text format (0.0.4) read back into families, as prometheus_client 0.26's
//! `parser.text_fd_to_metric_families` reads it: lax (comments, blank lines, tabs and extra
//! spaces allowed, timestamps in milliseconds), a sample whose name the current TYPE does not
//! allow becoming an untyped family of its own, a counter's family named without `_total`.

use std::borrow::Cow;

use super::{
    invalid, is_legacy_metric_name, lines, name_from_labels, next_unquoted, parse_labels, parse_value,
    plain_sample_start, py_repr, py_strip, split_quoted, unquote_unescape, Family, Number, ParseError, ParseResult,
    Parsed, Sample, Stamp, ASCII_WHITESPACE,
};

/// Parses a whole exposition: the families read up to the first error, and that error.
pub fn parse(text: &str) -> Parsed<'_> {
    Stream::default().end(text)
}

/// An exposition read in pieces (`text_fd_to_metric_families`): each `read` gives the families
/// its lines complete (a family is complete when the next one starts), and keeps the family
/// still being read, made independent of the text, for the next. Lines are whole: split the
/// input with `LineBuffer`.
#[derive(Default)]
pub struct Stream {
    current: Current<'static>,
}

impl Stream {
    /// Reads whole lines, the families they complete returned; after an error, the stream is
    /// not to be read further.
    pub fn read<'a>(&mut self, lines: &'a str) -> Parsed<'a> {
        let mut current: Current<'a> = std::mem::take(&mut self.current);
        let mut parsed = Parsed::default();
        match parse_lines(lines, &mut current, &mut parsed.families) {
            Ok(()) => self.current = current.into_owned(),
            Err(error) => parsed.error = Some(error),
        }
        parsed
    }

    /// Reads the last lines, then ends the family being read.
    pub fn end<'a>(&mut self, lines: &'a str) -> Parsed<'a> {
        let mut current: Current<'a> = std::mem::take(&mut self.current);
        let mut parsed = Parsed::default();
        match parse_lines(lines, &mut current, &mut parsed.families) {
            Ok(()) => current.finish(&mut parsed.families),
            Err(error) => parsed.error = Some(error),
        }
        parsed
    }
}

/// HELP's escapes: `\\` and `\n` only.
fn unescape_help(text: &str) -> String {
    if !text.contains('\\') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.clone().next() {
                Some('\\') => {
                    out.push('\\');
                    chars.next();
                    continue;
                }
                Some('n') => {
                    out.push('\n');
                    chars.next();
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

struct Current<'a> {
    name: String,
    documentation: String,
    typ: String,
    samples: Vec<Sample<'a>>,
    allowed_names: Vec<String>,
}

impl Default for Current<'_> {
    fn default() -> Self {
        Current {
            name: String::new(),
            documentation: String::new(),
            typ: "untyped".to_owned(),
            samples: Vec::new(),
            allowed_names: Vec::new(),
        }
    }
}

impl<'a> Current<'a> {
    /// The family as it stands, if it has a name (as at the end of the text).
    fn finish(self, families: &mut Vec<Family<'a>>) {
        if !self.name.is_empty() {
            families.push(build(self.name, self.documentation, self.typ, self.samples));
        }
    }

    /// The same family, its samples no longer borrowing the text.
    fn into_owned(self) -> Current<'static> {
        Current {
            name: self.name,
            documentation: self.documentation,
            typ: self.typ,
            samples: self.samples.into_iter().map(Sample::into_owned).collect(),
            allowed_names: self.allowed_names,
        }
    }
}

/// A family as `build_metric` makes it: a counter's name loses `_total`, or its samples gain it.
fn build(name: String, documentation: String, typ: String, mut samples: Vec<Sample>) -> Family {
    let mut name = name;
    if typ == "counter" {
        if let Some(stripped) = name.strip_suffix("_total") {
            name = stripped.to_owned();
        } else {
            for sample in &mut samples {
                sample.name.to_mut().push_str("_total");
            }
        }
    }
    Family { name, documentation, typ, unit: String::new(), samples }
}

/// Reads lines into `current`, ending it (into `families`) where another family starts.
fn parse_lines<'a>(text: &'a str, current: &mut Current<'a>, families: &mut Vec<Family<'a>>) -> ParseResult<()> {
    for (line, _) in lines(text) {
        let line = py_strip(line);
        if line.starts_with('#') {
            let parts = split_quoted(line, ASCII_WHITESPACE, 3);
            if parts.len() < 2 {
                continue;
            }
            let mut candidate_name = String::new();
            if parts.len() > 2 {
                if parts[1] != "TYPE" && parts[1] != "HELP" {
                    continue;
                }
                let (unquoted, quoted) = unquote_unescape(parts[2])?;
                if !quoted && !is_legacy_metric_name(&unquoted) {
                    return Err(invalid(format!("Invalid metric name in line: {line}")));
                }
                candidate_name = unquoted.into_owned();
            }
            if parts[1] == "HELP" {
                if candidate_name != current.name {
                    std::mem::take(current).finish(families);
                    current.allowed_names = vec![candidate_name.clone()];
                    current.name = candidate_name;
                }
                current.documentation = if parts.len() == 4 { unescape_help(parts[3]) } else { String::new() };
            } else if parts[1] == "TYPE" {
                if parts.len() < 4 {
                    return Err(invalid(format!("Invalid TYPE line: {line}")));
                }
                if candidate_name != current.name {
                    std::mem::take(current).finish(families);
                    current.name = candidate_name;
                }
                current.typ = parts[3].to_owned();
                let suffixes: &[&str] = match parts[3] {
                    "summary" => &["_count", "_sum", ""],
                    "histogram" => &["_count", "_sum", "_bucket"],
                    _ => &[""],
                };
                current.allowed_names = suffixes.iter().map(|suffix| format!("{}{suffix}", current.name)).collect();
            }
        } else if line.is_empty() {
            continue;
        } else {
            let sample = parse_sample(line)?;
            if current.allowed_names.iter().any(|allowed| *allowed == *sample.name) {
                current.samples.push(sample);
            } else {
                std::mem::take(current).finish(families);
                families.push(build(sample.name.to_string(), String::new(), "untyped".to_owned(), vec![sample]));
            }
        }
    }
    Ok(())
}

/// `text[..pos]` where `pos` may be Python's -1 (everything but the last character).
fn before(text: &str, pos: Option<usize>) -> &str {
    match pos {
        Some(pos) => &text[..pos],
        None => {
            let mut chars = text.chars();
            chars.next_back();
            chars.as_str()
        }
    }
}

/// One sample line: name (or `{"name"}`), labels, value and an optional timestamp in ms.
fn parse_sample(text: &str) -> ParseResult<Sample<'_>> {
    if let Some(sample) = plain_sample(text) {
        return sample;
    }
    let label_start = next_unquoted(text, b"{", 0);
    if label_start.is_none_or(|start| super::contains_exemplar_marker(&text[..start])) {
        let name_end = next_unquoted(text, b" \t", 0);
        let name = py_strip(before(text, name_end));
        if !is_legacy_metric_name(name) {
            return Err(invalid(format!("invalid metric name:{text}")));
        }
        let remaining = &text[name_end.map_or(0, |end| end + 1)..];
        let (value, timestamp) = parse_value_and_timestamp(remaining)?;
        return Ok(Sample {
            name: Cow::Borrowed(name),
            labels: Some(Vec::new()),
            value: Some(value),
            timestamp,
            exemplar: None,
            native_histogram: None,
        });
    }
    let label_start = label_start.expect("checked above");
    let name = py_strip(&text[..label_start]);
    let Some(label_end) = next_unquoted(&text[label_start..], b"}", 0).map(|end| end + label_start) else {
        return Err(invalid(format!("missing closing brace: {text}")));
    };
    let mut labels = parse_labels(&text[label_start + 1..label_end], false)?;
    let name = name_from_labels(name, &mut labels)?;
    let (value, timestamp) = parse_value_and_timestamp(&text[label_end + 1..])?;
    Ok(Sample { name, labels: Some(labels), value: Some(value), timestamp, exemplar: None, native_histogram: None })
}

/// The line nearly every sample has (a legacy name, then `plain_label_list`'s labels or a space
/// or tab and no `{` at all), read in one pass as `parse_sample` reads it; `None` for any other,
/// which that reading takes.
fn plain_sample(text: &str) -> Option<ParseResult<Sample<'_>>> {
    let (name, labels, braces, rest) = plain_sample_start(text, b" \t")?;
    if !braces && memchr::memchr(b'{', rest.as_bytes()).is_some() {
        return None;
    }
    Some(parse_value_and_timestamp(rest).map(|(value, timestamp)| Sample {
        name,
        labels: Some(labels),
        value: Some(value),
        timestamp,
        exemplar: None,
        native_histogram: None,
    }))
}

/// The value and the last of any further fields as a timestamp (ms, made seconds).
fn parse_value_and_timestamp(text: &str) -> ParseResult<(Number, Option<Stamp>)> {
    // Printable ASCII fields between spaces (nearly every line): the first and last field
    // found in one pass, as the splitting below would find them.
    if let Some((first, last)) = first_and_last_field(text) {
        let value = parse_value(&text[first.0..first.1])?;
        let timestamp = if last.0 > first.0 {
            Some(Stamp::Float(milliseconds_to_seconds(&parse_value(&text[last.0..last.1])?)))
        } else {
            None
        };
        return Ok((value, timestamp));
    }
    let text = text.trim_start_matches(super::is_python_space);
    let separator = if text.contains(' ') { ' ' } else { '\t' };
    let mut values = text.split(separator).map(py_strip).filter(|value| !value.is_empty());
    let Some(first) = values.next() else {
        return Err(ParseError::Value(format!("could not convert string to float: {}", py_repr(text))));
    };
    let value = parse_value(first)?;
    let timestamp = match values.next_back() {
        Some(last) => Some(Stamp::Float(milliseconds_to_seconds(&parse_value(last)?))),
        None => None,
    };
    Ok((value, timestamp))
}

/// The byte ranges of the first and last space-separated field of text made only of printable
/// ASCII and spaces, with at least one field; `None` for other text.
fn first_and_last_field(text: &str) -> Option<((usize, usize), (usize, usize))> {
    let bytes = text.as_bytes();
    let mut first = None;
    let mut last = (0, 0);
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b' ' {
            at += 1;
            continue;
        }
        let start = at;
        while at < bytes.len() && bytes[at] != b' ' {
            if !bytes[at].is_ascii_graphic() {
                return None;
            }
            at += 1;
        }
        first.get_or_insert((start, at));
        last = (start, at);
    }
    first.map(|first| (first, last))
}

/// Python's `n / 1000` (true division).
fn milliseconds_to_seconds(number: &Number) -> f64 {
    match number {
        Number::Int(ms) if ms.unsigned_abs() < (1 << 53) => *ms as f64 / 1000.0,
        other => other.as_f64() / 1000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(text: &str) -> Vec<Family<'_>> {
        let parsed = parse(text);
        assert_eq!(parsed.error, None);
        parsed.families
    }

    #[test]
    fn counter_loses_total_and_samples_keep_it() {
        let families = only("# HELP a_total help\n# TYPE a_total counter\na_total 1\n");
        assert_eq!(families.len(), 1);
        assert_eq!(families[0].name, "a");
        assert_eq!(families[0].samples[0].name, "a_total");
        let families = only("# TYPE a counter\na 1\n");
        assert_eq!(families[0].samples[0].name, "a_total");
    }

    #[test]
    fn unknown_names_become_their_own_families() {
        let families = only("# TYPE a gauge\na 1\nb{x=\"y\"} 2 1000\n");
        assert_eq!(families.len(), 2);
        assert_eq!(families[1].typ, "untyped");
        assert_eq!(families[1].samples[0].timestamp, Some(Stamp::Float(1.0)));
    }

    #[test]
    fn malformed_lines_stop_the_parse_after_what_was_read() {
        let parsed = parse("a 1\nb{x=1} 2\n");
        assert_eq!(parsed.families.len(), 1);
        assert!(matches!(parsed.error, Some(ParseError::Value(_))));
        for bad in ["a", "a{", "a{x=\"1\",,} 1", "a 1_0", "1a 1", "a{x=\"1\"} ", "a{x=\"1\"}}"] {
            assert!(parse(bad).error.is_some(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn help_keeps_unknown_escapes() {
        assert_eq!(unescape_help(r"a\\b\nc\td"), "a\\b\nc\\td");
    }
}
