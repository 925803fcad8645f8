//! OpenMetrics text (1.0) read back into families, as prometheus_client 0.26's
//! `openmetrics.parser.text_fd_to_metric_families` reads it: strict where it is strict (`# EOF`
//! last, no blank lines, one HELP/TYPE/UNIT each before the samples, groups not interleaved,
//! timestamps not going back, histogram buckets in order and ending in `+Inf`, counter-like
//! values neither negative nor NaN), with exemplars (`# {labels} value [timestamp]`), exact
//! `sec.nsec` timestamps, quoted UTF-8 names and the native histogram text
//! (`name {count:..,sum:..,schema:..,zero_threshold:..,zero_count:..,positive_spans:[o:l],..}`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::LazyLock;

use regex::Regex;
use smallvec::SmallVec;

use super::{
    invalid, is_legacy_metric_name, last_unquoted, lines, name_from_labels, next_unquoted, parse_labels, parse_value,
    plain_sample_start, py_repr, py_strip, python_float, python_int, split_quoted, unquote_unescape, Exemplar, Family,
    NativeHistogram, Number, ParseError, ParseResult, Parsed, Sample, Stamp,
};

/// Parses a whole exposition: the families read up to the first error, and that error.
pub fn parse(text: &str) -> Parsed<'_> {
    Stream::default().end(text)
}

/// An exposition read in pieces (`text_fd_to_metric_families`): each `read` gives the families
/// its lines complete, and keeps the family still being read (made independent of the text),
/// the names seen and whether `# EOF` came, for the next. Lines are whole: split the input with
/// `LineBuffer`.
#[derive(Default)]
pub struct Stream {
    parser: Parser,
    current: Option<Current<'static>>,
    eof: bool,
}

impl Stream {
    /// Reads whole lines, the families they complete returned; after an error, the stream is
    /// not to be read further.
    pub fn read<'a>(&mut self, lines: &'a str) -> Parsed<'a> {
        let mut current: Option<Current<'a>> = self.current.take();
        let mut parsed = Parsed::default();
        match self.parser.lines(lines, &mut current, &mut self.eof, &mut parsed.families) {
            Ok(()) => self.current = current.map(Current::into_owned),
            Err(error) => parsed.error = Some(error),
        }
        parsed
    }

    /// Reads the last lines, then ends the family being read; `# EOF` must have come.
    pub fn end<'a>(&mut self, lines: &'a str) -> Parsed<'a> {
        let mut current: Option<Current<'a>> = self.current.take();
        let mut parsed = Parsed::default();
        let read = self.parser.lines(lines, &mut current, &mut self.eof, &mut parsed.families);
        if let Err(error) = read.and_then(|()| self.parser.end(current, self.eof, &mut parsed.families)) {
            parsed.error = Some(error);
        }
        parsed
    }
}

/// The names a type's samples may have, after the family name.
fn type_suffixes(typ: &str) -> &'static [&'static str] {
    match typ {
        "counter" => &["_total", "_created"],
        "summary" => &["", "_count", "_sum", "_created"],
        "histogram" => &["_count", "_sum", "_bucket", "_created"],
        "gaugehistogram" => &["_gcount", "_gsum", "_bucket"],
        "info" => &["_info"],
        _ => &[""],
    }
}

const HISTOGRAM_SUFFIXES: &[&str] = &["_count", "_sum", "_bucket", "_created"];

/// HELP's escapes in OpenMetrics: `\\`, `\"`, `\n`; any other backslash is kept.
fn unescape_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut slash = false;
    for c in text.chars() {
        if slash {
            match c {
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
            slash = false;
        } else if c == '\\' {
            slash = true;
        } else {
            out.push(c);
        }
    }
    if slash {
        out.push('\\');
    }
    out
}

/// Only `+Inf` must be written canonically (as `+Inf`) in `le` and `quantile`.
fn is_uncanonical_number(text: &str) -> ParseResult<bool> {
    let value =
        python_float(text).ok_or_else(|| invalid(format!("could not convert string to float: {}", py_repr(text))))?;
    Ok(value == f64::INFINITY && text != "+Inf")
}

/// `_parse_timestamp`: an integer, `sec.fraction` (to the nanosecond), or another finite float.
fn parse_timestamp(text: &str) -> ParseResult<Option<Stamp>> {
    if text.is_empty() {
        return Ok(None);
    }
    if text != py_strip(text) || text.contains('_') {
        return Err(invalid(format!("Invalid timestamp: {}", py_repr(text))));
    }
    if let Some(sec) = python_int(text) {
        return Ok(Some(Stamp::Exact { sec: whole_seconds(sec)?, nsec: 0 }));
    }
    if let Some((whole, fraction)) = text.split_once('.') {
        let mut padded: String = fraction.chars().take(9).collect();
        while padded.chars().count() < 9 {
            padded.push('0');
        }
        // A negative fraction makes `Timestamp()` raise, which sends upstream to `float()` too.
        if let (Some(sec), Some(Number::Int(nsec @ 0..1_000_000_000))) = (python_int(whole), python_int(&padded)) {
            return Ok(Some(Stamp::Exact { sec: whole_seconds(sec)?, nsec }));
        }
    }
    match python_float(text) {
        Some(value) if value.is_finite() => Ok(Some(Stamp::Float(value))),
        Some(_) => Err(invalid(format!("Invalid timestamp: {}", py_repr(text)))),
        None => Err(invalid(format!("could not convert string to float: {}", py_repr(text)))),
    }
}

/// Whole seconds of a timestamp; Python's are unbounded, these reach 10^38 years.
fn whole_seconds(number: Number) -> ParseResult<i128> {
    match number {
        Number::Int(sec) => Ok(i128::from(sec)),
        Number::BigInt(digits, _) => {
            digits.parse::<i128>().map_err(|_| invalid(format!("Timestamp out of range: {digits}")))
        }
        Number::Float(_) => unreachable!("python_int makes integers"),
    }
}

/// Compares two timestamps as Python does: `Timestamp` with `Timestamp`, float with float;
/// a mix has no order (prometheus_client fails there with an `AttributeError`).
fn stamp_greater(left: &Stamp, right: &Stamp) -> ParseResult<bool> {
    match (left, right) {
        (Stamp::Float(a), Stamp::Float(b)) => Ok(a > b),
        (Stamp::Exact { sec: a, nsec: an }, Stamp::Exact { sec: b, nsec: bn }) => {
            // Timestamp stores a negative time's nanoseconds negated.
            let an = if *a < 0 { -an } else { *an };
            let bn = if *b < 0 { -bn } else { *bn };
            Ok(if a == b { an > bn } else { a > b })
        }
        _ => Err(ParseError::Attribute("'float' object has no attribute 'sec'".to_owned())),
    }
}

/// `_parse_remaining_text`: value, then maybe a timestamp, then maybe `# {labels} value [ts]`.
fn parse_remaining(text: &str) -> ParseResult<(Number, Option<Stamp>, Option<Box<Exemplar<'_>>>)> {
    let (value_text, rest) = match text.split_once(' ') {
        None => return Ok((parse_value(text)?, None, None)),
        Some(split) => split,
    };
    let value = parse_value(value_text)?;

    #[derive(PartialEq, Clone, Copy)]
    enum State {
        Timestamp,
        Hash,
        Space,
        StartOfLabels,
        ParsedLabels,
        ValueSpace,
        Value,
        ExemplarTimestamp,
    }
    let line_error = || invalid(format!("Invalid line: {rest}"));
    let mut state = State::Timestamp;
    let mut timestamp = String::new();
    let mut exemplar_value = String::new();
    let mut exemplar_timestamp = String::new();
    let mut exemplar_labels = None;
    let mut in_quotes = false;
    for c in rest.chars() {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        if in_quotes {
            continue;
        }
        match state {
            State::Timestamp => {
                if c == '#' && timestamp.is_empty() {
                    state = State::Space;
                } else if c == ' ' {
                    state = State::Hash;
                } else {
                    timestamp.push(c);
                }
            }
            State::Hash => {
                if c != '#' {
                    return Err(line_error());
                }
                state = State::Space;
            }
            State::Space => {
                if c != ' ' {
                    return Err(line_error());
                }
                state = State::StartOfLabels;
            }
            State::StartOfLabels => {
                if c != '{' {
                    return Err(line_error());
                }
                let start = next_unquoted(rest, b"{", 0);
                let end = last_unquoted(rest, b"}");
                exemplar_labels = Some(parse_labels(python_slice(rest, start.map(|s| s + 1), end), true)?);
                state = State::ParsedLabels;
            }
            State::ParsedLabels => {
                if c == '}' {
                    state = State::ValueSpace;
                }
            }
            State::ValueSpace => {
                if c != ' ' {
                    return Err(line_error());
                }
                state = State::Value;
            }
            State::Value => {
                if c == ' ' && exemplar_value.is_empty() {
                    return Err(line_error());
                } else if c == ' ' {
                    state = State::ExemplarTimestamp;
                } else {
                    exemplar_value.push(c);
                }
            }
            State::ExemplarTimestamp => exemplar_timestamp.push(c),
        }
    }
    if state == State::Timestamp && timestamp.is_empty() {
        return Err(line_error());
    }
    if state == State::ExemplarTimestamp && exemplar_timestamp.is_empty() {
        return Err(line_error());
    }
    if matches!(state, State::Hash | State::Space | State::StartOfLabels | State::ParsedLabels) {
        return Err(line_error());
    }
    let timestamp = parse_timestamp(&timestamp)?;
    let exemplar = match exemplar_labels {
        None => None,
        Some(labels) => {
            let length: usize = labels.iter().map(|(k, v)| k.chars().count() + v.chars().count()).sum();
            if length > 128 {
                return Err(invalid(format!("Exemplar labels are too long: {rest}")));
            }
            Some(Box::new(Exemplar {
                labels,
                value: parse_value(&exemplar_value)?,
                timestamp: parse_timestamp(&exemplar_timestamp)?,
            }))
        }
    };
    Ok((value, timestamp, exemplar))
}

/// Python's `text[start:end]` with positions that may be missing (Python's -1).
fn python_slice(text: &str, start: Option<usize>, end: Option<usize>) -> &str {
    let end = end.unwrap_or_else(|| text.char_indices().next_back().map_or(0, |(i, _)| i));
    let start = start.unwrap_or(end).min(text.len());
    if start >= end {
        ""
    } else {
        &text[start..end]
    }
}

/// `text[..pos]`, `pos` maybe Python's -1.
fn before(text: &str, pos: Option<usize>) -> &str {
    python_slice(text, Some(0), pos)
}

/// The line nearly every sample has (a legacy name, then `plain_label_list`'s labels or a
/// space, and no other `{`: no exemplar), read in one pass as `parse_sample` reads it; `None`
/// for any other, which that reading takes.
fn plain_sample(text: &str) -> Option<ParseResult<Sample<'_>>> {
    let (name, labels, braces, rest) = plain_sample_start(text, b" ")?;
    if memchr::memchr(b'{', rest.as_bytes()).is_some() {
        return None;
    }
    let rest = if braces {
        // Python skips the one character after `}` (meant to be a space), whatever it is.
        let mut after = rest.chars();
        after.next();
        after.as_str()
    } else {
        rest
    };
    Some(parse_remaining(rest).map(|(value, timestamp, exemplar)| Sample {
        name,
        labels: Some(labels),
        value: Some(value),
        timestamp,
        exemplar,
        native_histogram: None,
    }))
}

fn parse_sample(text: &str) -> ParseResult<Sample<'_>> {
    let label_start = next_unquoted(text, b"{", 0);
    if label_start.is_none_or(|start| super::contains_exemplar_marker(&text[..start])) {
        let name_end = next_unquoted(text, b" ", 0);
        let name = before(text, name_end);
        if !is_legacy_metric_name(name) {
            return Err(invalid(format!("invalid metric name:{text}")));
        }
        let remaining = &text[name_end.map_or(0, |end| end + 1)..];
        let (value, timestamp, exemplar) = parse_remaining(remaining)?;
        return Ok(Sample {
            name: Cow::Borrowed(name),
            labels: Some(Vec::new()),
            value: Some(value),
            timestamp,
            exemplar,
            native_histogram: None,
        });
    }
    let label_start = label_start.expect("checked above");
    let Some(label_end) = next_unquoted(text, b"}", 0).filter(|&end| end > label_start) else {
        return Err(invalid(format!("Invalid line: {text}")));
    };
    let mut labels = parse_labels(&text[label_start + 1..label_end], true)?;
    let name = name_from_labels(&text[..label_start], &mut labels)?;
    // Python skips the one character after `}` (meant to be a space), whatever it is.
    let mut after = text[label_end + 1..].chars();
    after.next();
    let remaining = after.as_str();
    let (value, timestamp, exemplar) = parse_remaining(remaining)?;
    Ok(Sample { name, labels: Some(labels), value: Some(value), timestamp, exemplar, native_histogram: None })
}

/// `_parse_nh_sample`: the sample if the line is a native histogram's, `None` if it is not one.
fn parse_native_histogram_sample(text: &str) -> ParseResult<Option<Sample<'_>>> {
    let labels_start = next_unquoted(text, b"{", 0);
    let Some(mut i) = next_unquoted(text, b" {", 0) else {
        return Ok(None);
    };
    let mut labels_end = None;
    if text.as_bytes()[i] == b'{' {
        let Some(end) = next_unquoted(text, b"}", i) else {
            return Err(invalid(format!("Invalid line: {text}")));
        };
        labels_end = Some(end);
        i = end;
    }
    let Some(value_start) = next_unquoted(text, b"{", i + 1) else {
        return Ok(None);
    };
    if next_unquoted(text, b"#", i + 1).is_some_and(|hash| hash < value_start) {
        return Ok(None); // an exemplar's labels, not a native histogram
    }
    if next_unquoted(text, b"}", value_start).is_none() {
        return Err(invalid(format!("Invalid line: {text}")));
    }
    let value_text = &text[value_start..];
    let ends_with_suffix = |name: &str| HISTOGRAM_SUFFIXES.iter().any(|suffix| name.ends_with(suffix));
    if let (Some(labels_start), Some(labels_end)) = (labels_start, labels_end) {
        let mut labels = parse_labels(&text[labels_start + 1..labels_end], true)?;
        let mut name = Cow::Borrowed(&text[..labels_start]);
        if ends_with_suffix(&name) {
            return Err(invalid(format!(
                "('the sample name of a native histogram with labels should have no suffixes', {})",
                py_repr(&name)
            )));
        }
        let mut labels_or_none = Some(());
        if name.is_empty() {
            let Some(position) = labels.iter().position(|(key, _)| key == "__name__") else {
                return Err(invalid(format!("Invalid line: {text}")));
            };
            name = labels.remove(position).1;
            if labels.is_empty() {
                labels_or_none = None;
            }
        }
        return Ok(Some(Sample {
            name,
            labels: labels_or_none.map(|()| labels),
            value: None,
            timestamp: None,
            exemplar: None,
            native_histogram: Some(Box::new(parse_native_histogram(value_text)?)),
        }));
    }
    // Python's `text[:start - 1]`: the character before the `{` dropped, whatever its width.
    let mut before_value = text[..value_start].chars();
    before_value.next_back();
    let name = Cow::Borrowed(before_value.as_str());
    if ends_with_suffix(&name) {
        return Err(invalid(format!(
            "('the sample name of a native histogram should have no suffixes', {})",
            py_repr(&name)
        )));
    }
    let histogram = parse_native_histogram(value_text)?;
    Ok(Some(Sample {
        name,
        labels: None,
        value: None,
        timestamp: None,
        exemplar: None,
        native_histogram: Some(Box::new(histogram)),
    }))
}

static FIELD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\w+):\s*([^,}]+)").expect("valid regex"));
/// A span's offset may be negative (the first span of buckets below 1 starts below key 0),
/// which prometheus_client's pattern (`\d+:\d+`) leaves out, dropping the spans.
static SPANS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(positive_spans|negative_spans):\[(-?\d+:\d+(,-?\d+:\d+)*)\]").expect("valid regex"));
static DELTAS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(positive_deltas|negative_deltas):\[(-?\d+(?:,-?\d+)*)\]").expect("valid regex"));

fn int_field(text: &str) -> ParseResult<Number> {
    python_int(text).ok_or_else(|| invalid(format!("invalid literal for int() with base 10: {}", py_repr(text))))
}

fn float_field(text: &str) -> ParseResult<f64> {
    python_float(text).ok_or_else(|| invalid(format!("could not convert string to float: {}", py_repr(text))))
}

fn small_int(text: &str) -> ParseResult<i64> {
    text.parse::<i64>().map_err(|_| invalid(format!("invalid literal for int() with base 10: {}", py_repr(text))))
}

/// `_parse_nh_struct`: the fields found anywhere in the text (the last of a name wins).
fn parse_native_histogram(text: &str) -> ParseResult<NativeHistogram> {
    let field = |name: &str| -> ParseResult<&str> {
        FIELD
            .captures_iter(text)
            .filter(|captures| &captures[1] == name)
            .last()
            .map(|captures| captures.get(2).expect("group 2").as_str())
            .ok_or_else(|| ParseError::Key(name.to_owned()))
    };
    let count = int_field(field("count")?)?;
    let sum = float_field(field("sum")?)?;
    let schema = int_field(field("schema")?)?;
    let zero_threshold = float_field(field("zero_threshold")?)?;
    let zero_count = int_field(field("zero_count")?)?;
    let spans = |name: &str| -> ParseResult<Option<Vec<(i64, i64)>>> {
        let Some(captures) = SPANS.captures_iter(text).filter(|captures| &captures[1] == name).last() else {
            return Ok(None);
        };
        captures[2]
            .split(',')
            .map(|pair| {
                let (offset, length) = pair.split_once(':').expect("the regex matched a:b");
                Ok((small_int(offset)?, small_int(length)?))
            })
            .collect::<ParseResult<Vec<_>>>()
            .map(Some)
    };
    let deltas = |name: &str| -> ParseResult<Option<Vec<i64>>> {
        let Some(captures) = DELTAS.captures_iter(text).filter(|captures| &captures[1] == name).last() else {
            return Ok(None);
        };
        captures[2].split(',').map(|delta| small_int(py_strip(delta))).collect::<ParseResult<Vec<_>>>().map(Some)
    };
    Ok(NativeHistogram {
        count,
        sum,
        schema,
        zero_threshold,
        zero_count,
        positive_spans: spans("positive_spans")?,
        negative_spans: spans("negative_spans")?,
        positive_deltas: deltas("positive_deltas")?,
        negative_deltas: deltas("negative_deltas")?,
    })
}

/// A group's labels, sorted, borrowed from its sample.
type GroupLabels<'a> = SmallVec<[(&'a str, &'a str); 4]>;

/// The labels that make a sample's group (`_group_for_sample`), sorted.
fn group_of<'s>(sample: &'s Sample<'_>, name: &str, typ: &str) -> GroupLabels<'s> {
    if typ == "info" {
        return SmallVec::new();
    }
    let dropped = if typ == "summary" && sample.name == name {
        Some("quantile")
    } else if typ == "stateset" {
        Some(name)
    } else if (typ == "histogram" || typ == "gaugehistogram") && sample.name.strip_prefix(name) == Some("_bucket") {
        Some("le")
    } else {
        None
    };
    let mut group: GroupLabels<'s> = sample
        .labels
        .iter()
        .flatten()
        .filter(|(key, _)| Some(&**key) != dropped)
        .map(|(key, value)| (&**key, &**value))
        .collect();
    group.sort_unstable();
    group
}

fn hash_of(value: &impl Hash) -> u64 {
    foldhash::fast::FixedState::with_seed(0).hash_one(value)
}

/// The groups a family has had, each kept once, found by hash (then compared whole). Their
/// labels are kept one after another in one string (a family has as many groups as series:
/// no allocation per group).
#[derive(Default)]
struct SeenGroups {
    by_hash: HashMap<u64, SmallVec<[usize; 1]>, foldhash::fast::RandomState>,
    /// Every group's label names and values, one after another.
    text: String,
    /// Per label: where its name starts, its value starts and its value ends in `text`.
    labels: Vec<(usize, usize, usize)>,
    /// Per group: its labels' range in `labels`.
    groups: Vec<std::ops::Range<usize>>,
}

impl SeenGroups {
    /// Whether the group at `index` is `group`.
    fn is(&self, index: usize, group: &GroupLabels<'_>) -> bool {
        let labels = &self.labels[self.groups[index].clone()];
        labels.len() == group.len()
            && labels.iter().zip(group).all(|(&(name, value, end), (group_name, group_value))| {
                &self.text[name..value] == *group_name && &self.text[value..end] == *group_value
            })
    }

    fn find(&self, hash: u64, group: &GroupLabels<'_>) -> Option<usize> {
        let candidates = self.by_hash.get(&hash)?;
        candidates.iter().copied().find(|&index| self.is(index, group))
    }

    fn add(&mut self, hash: u64, group: &GroupLabels<'_>) -> usize {
        let index = self.groups.len();
        let first = self.labels.len();
        for (name, value) in group {
            let name_start = self.text.len();
            self.text.push_str(name);
            let value_start = self.text.len();
            self.text.push_str(value);
            self.labels.push((name_start, value_start, self.text.len()));
        }
        self.groups.push(first..self.labels.len());
        self.by_hash.entry(hash).or_default().push(index);
        index
    }
}

fn sorted_labels<'s>(sample: &'s Sample<'_>) -> SmallVec<[(&'s str, &'s str); 4]> {
    let mut labels: SmallVec<[(&str, &str); 4]> = sample.labels.iter().flatten().map(|(k, v)| (&**k, &**v)).collect();
    labels.sort_unstable();
    labels
}

/// A sample's identity within a group: its name and sorted labels.
fn same_series(a: &Sample, b: &Sample) -> bool {
    a.name == b.name && sorted_labels(a) == sorted_labels(b)
}

fn series_hash(sample: &Sample) -> u64 {
    hash_of(&(&*sample.name, sorted_labels(sample).as_slice()))
}

/// `sample.name[len(name):]`: what follows the family name's length in characters.
fn suffix_after<'a>(sample_name: &'a str, name: &str) -> &'a str {
    if let Some(suffix) = sample_name.strip_prefix(name) {
        return suffix;
    }
    let skip = name.chars().count();
    match sample_name.char_indices().nth(skip) {
        Some((pos, _)) => &sample_name[pos..],
        None => "",
    }
}

/// `_check_histogram`: per group and timestamp, buckets ascending to `+Inf`, counts matching.
fn check_histogram(samples: &[Sample], name: &str) -> ParseResult<()> {
    #[derive(Default)]
    struct GroupState {
        count: Option<f64>,
        bucket: Option<f64>,
        has_negative_buckets: bool,
        has_sum: bool,
        has_gsum: bool,
        has_negative_gsum: bool,
        value: f64,
    }
    let checks = |state: &GroupState| -> ParseResult<()> {
        if state.bucket != Some(f64::INFINITY) {
            return Err(invalid(format!("+Inf bucket missing: {name}")));
        }
        if state.count.is_some_and(|count| state.value != count) {
            return Err(invalid(format!("Count does not match +Inf value: {name}")));
        }
        if state.has_sum && state.count.is_none() {
            return Err(invalid(format!("_count must be present if _sum is present: {name}")));
        }
        if state.has_gsum && state.count.is_none() {
            return Err(invalid(format!("_gcount must be present if _gsum is present: {name}")));
        }
        if !(state.has_sum || state.has_gsum) && state.count.is_some() {
            return Err(invalid(format!("_sum/_gsum must be present if _count is present: {name}")));
        }
        if state.has_negative_buckets && state.has_sum {
            return Err(invalid(format!("Cannot have _sum with negative buckets: {name}")));
        }
        if !state.has_negative_buckets && state.has_negative_gsum {
            return Err(invalid(format!("Cannot have negative _gsum with non-negative buckets: {name}")));
        }
        Ok(())
    };
    let mut group: Option<GroupLabels<'_>> = None;
    let mut timestamp: Option<Stamp> = None;
    let mut state = GroupState::default();
    for sample in samples {
        let suffix = suffix_after(&sample.name, name);
        if suffix.is_empty() {
            continue;
        }
        // A native histogram without labels has `labels=None`, a group of None, as at the start.
        let g = sample.labels.as_ref().map(|_| group_of(sample, name, "histogram"));
        if group != g || sample.timestamp != timestamp {
            if group.is_some() {
                checks(&state)?;
            }
            state = GroupState::default();
        }
        group = g;
        timestamp = sample.timestamp.clone();
        let value = sample.value_f64();
        match suffix {
            "_bucket" => {
                let bound = float_field(sample.label("le").unwrap_or(""))?;
                if bound < 0.0 {
                    state.has_negative_buckets = true;
                }
                if state.bucket.is_some_and(|previous| bound <= previous) {
                    return Err(invalid(format!("Buckets out of order: {name}")));
                }
                if value < state.value {
                    return Err(invalid(format!("Bucket values out of order: {name}")));
                }
                state.bucket = Some(bound);
                state.value = value;
            }
            "_count" | "_gcount" => state.count = Some(value),
            "_sum" => state.has_sum = true,
            "_gsum" => {
                state.has_gsum = true;
                if value < 0.0 {
                    state.has_negative_gsum = true;
                }
            }
            _ => {}
        }
    }
    if group.is_some() {
        checks(&state)?;
    }
    Ok(())
}

#[derive(Default)]
struct Parser {
    seen_names: std::collections::HashSet<String>,
}

/// The family being read and the grouping state of its samples.
#[derive(Default)]
struct Current<'a> {
    name: String,
    documentation: Option<String>,
    typ: Option<String>,
    unit: Option<String>,
    samples: Vec<Sample<'a>>,
    allowed_names: Vec<String>,
    /// The current group, an index into `seen_groups`.
    group: Option<usize>,
    seen_groups: SeenGroups,
    group_timestamp: Option<Stamp>,
    /// The series kept since the group or its timestamp last changed: by hash, indices into
    /// `samples` (prometheus_client's `group_timestamp_samples`).
    group_timestamp_samples: HashMap<u64, SmallVec<[usize; 1]>, foldhash::fast::RandomState>,
}

impl Current<'_> {
    /// The same family, its samples no longer borrowing the text.
    fn into_owned(self) -> Current<'static> {
        Current {
            name: self.name,
            documentation: self.documentation,
            typ: self.typ,
            unit: self.unit,
            samples: self.samples.into_iter().map(Sample::into_owned).collect(),
            allowed_names: self.allowed_names,
            group: self.group,
            seen_groups: self.seen_groups,
            group_timestamp: self.group_timestamp,
            group_timestamp_samples: self.group_timestamp_samples,
        }
    }
}

impl Parser {
    /// `build_metric`: names not clashing with earlier families, unit matching, histograms sound.
    fn build<'a>(&mut self, current: Current<'a>) -> ParseResult<Family<'a>> {
        let typ = current.typ.unwrap_or_else(|| "unknown".to_owned());
        let name = current.name;
        for suffix in std::iter::once("").chain(type_suffixes(&typ).iter().copied().filter(|s| !s.is_empty())) {
            let full = format!("{name}{suffix}");
            if !self.seen_names.insert(full.clone()) {
                return Err(invalid(format!("Clashing name: {full}")));
            }
        }
        let unit = current.unit.unwrap_or_default();
        if !unit.is_empty() && !name.ends_with(&format!("_{unit}")) {
            return Err(invalid(format!("Unit does not match metric name: {name}")));
        }
        if !unit.is_empty() && (typ == "info" || typ == "stateset") {
            return Err(invalid(format!("Units not allowed for this metric type: {name}")));
        }
        if typ == "histogram" || typ == "gaugehistogram" {
            check_histogram(&current.samples, &name)?;
        }
        if name.is_empty() {
            return Err(invalid("metric name cannot be empty"));
        }
        Ok(Family {
            name,
            documentation: current.documentation.unwrap_or_default(),
            typ,
            unit,
            samples: current.samples,
        })
    }

    /// Reads lines into `current`, ending it (into `families`) where another family starts.
    fn lines<'a>(
        &mut self,
        text: &'a str,
        current: &mut Option<Current<'a>>,
        eof: &mut bool,
        families: &mut Vec<Family<'a>>,
    ) -> ParseResult<()> {
        for (line, _) in lines(text) {
            if *eof {
                return Err(invalid(format!("Received line after # EOF: {line}")));
            }
            if line.is_empty() {
                return Err(invalid("Received blank line"));
            }
            if line == "# EOF" {
                *eof = true;
            } else if line.starts_with('#') {
                let parts = split_quoted(line, b" ", 3);
                if parts.len() < 4 {
                    return Err(invalid(format!("Invalid line: {line}")));
                }
                let (candidate_name, quoted) = unquote_unescape(parts[2])?;
                if !quoted && !is_legacy_metric_name(&candidate_name) {
                    return Err(invalid(format!("Invalid metric name in line: {line}")));
                }
                let same = current.as_ref().is_some_and(|c| c.name == candidate_name);
                if same && !current.as_ref().expect("same").samples.is_empty() {
                    return Err(invalid(format!("Received metadata after samples: {line}")));
                }
                if !same {
                    if let Some(previous) = current.take() {
                        families.push(self.build(previous)?);
                    }
                    *current = Some(Current {
                        allowed_names: vec![candidate_name.to_string()],
                        name: candidate_name.into_owned(),
                        ..Current::default()
                    });
                }
                let family = current.as_mut().expect("set above");
                match parts[1] {
                    "HELP" => {
                        if family.documentation.is_some() {
                            return Err(invalid(format!("More than one HELP for metric: {line}")));
                        }
                        family.documentation = Some(unescape_help(parts[3]));
                    }
                    "TYPE" => {
                        if family.typ.is_some() {
                            return Err(invalid(format!("More than one TYPE for metric: {line}")));
                        }
                        if parts[3] == "untyped" {
                            return Err(invalid(format!("Invalid TYPE for metric: {line}")));
                        }
                        family.typ = Some(parts[3].to_owned());
                        family.allowed_names =
                            type_suffixes(parts[3]).iter().map(|suffix| format!("{}{suffix}", family.name)).collect();
                    }
                    "UNIT" => {
                        if family.unit.is_some() {
                            return Err(invalid(format!("More than one UNIT for metric: {line}")));
                        }
                        family.unit = Some(parts[3].to_owned());
                    }
                    _ => return Err(invalid(format!("Invalid line: {line}"))),
                }
            } else {
                self.sample_line(line, current, families)?;
            }
        }
        Ok(())
    }

    /// The end of the text: the family being read is complete, and `# EOF` must have come.
    fn end<'a>(&mut self, current: Option<Current<'a>>, eof: bool, families: &mut Vec<Family<'a>>) -> ParseResult<()> {
        if let Some(previous) = current {
            families.push(self.build(previous)?);
        }
        if !eof {
            return Err(invalid("Missing # EOF at end"));
        }
        Ok(())
    }

    fn sample_line<'a>(
        &mut self,
        line: &'a str,
        current: &mut Option<Current<'a>>,
        families: &mut Vec<Family<'a>>,
    ) -> ParseResult<()> {
        // A plain line has no `{` after its labels: never a native histogram's.
        let (sample, is_native) = match plain_sample(line) {
            Some(sample) => (sample?, false),
            None => {
                let is_histogram = current.as_ref().is_some_and(|c| c.typ.as_deref() == Some("histogram"));
                match if is_histogram { parse_native_histogram_sample(line)? } else { None } {
                    Some(sample) => (sample, true),
                    None => (parse_sample(line)?, false),
                }
            }
        };
        let allowed = current.as_ref().is_some_and(|c| c.allowed_names.iter().any(|allowed| *allowed == *sample.name));
        if !allowed && !is_native {
            if let Some(previous) = current.take() {
                families.push(self.build(previous)?);
            }
            let (candidate_name, quoted) = unquote_unescape(&sample.name)?;
            if !quoted && !is_legacy_metric_name(&candidate_name) {
                return Err(invalid(format!("Invalid metric name in line: {line}")));
            }
            *current = Some(Current {
                name: candidate_name.into_owned(),
                typ: Some("unknown".to_owned()),
                allowed_names: vec![sample.name.to_string()],
                ..Current::default()
            });
        }
        let family = current.as_mut().expect("a family is always current here");
        let name = family.name.as_str();
        let typ = family.typ.as_deref().unwrap_or("");
        let bucket = sample.name.strip_prefix(name) == Some("_bucket");
        let value = sample.value.as_ref();
        if typ == "stateset" && sample.label(name).is_none() {
            return Err(invalid(format!("Stateset missing label: {line}")));
        }
        if bucket {
            match sample.label("le") {
                None | Some("NaN") => return Err(invalid(format!("Invalid le label: {line}"))),
                Some(le) if is_uncanonical_number(le)? => return Err(invalid(format!("Invalid le label: {line}"))),
                Some(_) => {}
            }
            if value.is_some_and(|value| !value.is_integer()) {
                return Err(invalid(format!("Bucket value must be an integer: {line}")));
            }
        }
        let counted = matches!(sample.name.strip_prefix(name), Some("_count" | "_gcount"));
        if counted && value.is_some_and(|value| !value.is_integer()) {
            return Err(invalid(format!("Count value must be an integer: {line}")));
        }
        let quantile_line = typ == "summary" && sample.name == name;
        if quantile_line {
            let quantile = match sample.label("quantile") {
                None => -1.0,
                Some(text) => float_field(text)?,
            };
            if !(0.0..=1.0).contains(&quantile) || is_uncanonical_number(sample.label("quantile").unwrap_or(""))? {
                return Err(invalid(format!("Invalid quantile label: {line}")));
            }
        }

        let later_error = Self::value_checks(&sample, name, typ, line, quantile_line);
        if is_native {
            family.samples.push(sample);
        } else {
            let g = group_of(&sample, name, typ);
            let same_group = family.group.is_some_and(|index| family.seen_groups.is(index, &g));
            // Only another group is hashed, to be looked for among those seen (or added).
            let g_hash = (!same_group).then(|| hash_of(&g.as_slice()));
            let seen = match g_hash {
                None => family.group,
                Some(hash) => family.seen_groups.find(hash, &g),
            };
            if family.group.is_some() && !same_group && seen.is_some() {
                return Err(invalid(format!("Invalid metric grouping: {line}")));
            }
            if same_group {
                if sample.timestamp.is_none() != family.group_timestamp.is_none() {
                    return Err(invalid(format!("Mix of timestamp presence within a group: {line}")));
                }
                if let (Some(previous), Some(now)) = (&family.group_timestamp, &sample.timestamp) {
                    if stamp_greater(previous, now)? && typ != "info" {
                        return Err(invalid(format!("Timestamps went backwards within a group: {line}")));
                    }
                }
            } else {
                family.group_timestamp_samples.clear();
            }
            let group_index = match seen {
                Some(index) => index,
                None => family.seen_groups.add(g_hash.unwrap_or_else(|| hash_of(&g.as_slice())), &g),
            };
            drop(g);
            let series = series_hash(&sample);
            let already = family
                .group_timestamp_samples
                .get(&series)
                .is_some_and(|indices| indices.iter().any(|&index| same_series(&family.samples[index], &sample)));
            let timestamp = sample.timestamp.clone();
            if timestamp != family.group_timestamp || !already {
                if !already {
                    family.group_timestamp_samples.entry(series).or_default().push(family.samples.len());
                }
                family.samples.push(sample);
            }
            family.group_timestamp = timestamp;
            family.group = Some(group_index);
        }

        match later_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// The checks prometheus_client makes on a sample after keeping it.
    fn value_checks(sample: &Sample, name: &str, typ: &str, line: &str, quantile_line: bool) -> Option<ParseError> {
        let value = sample.value.as_ref();
        let value_f64 = sample.value_f64();
        if typ == "stateset" && value_f64 != 0.0 && value_f64 != 1.0 {
            return Some(invalid(format!("Stateset samples can only have values zero and one: {line}")));
        }
        if typ == "info" && value_f64 != 1.0 {
            return Some(invalid(format!("Info samples can only have value one: {line}")));
        }
        if quantile_line && value_f64 < 0.0 {
            return Some(invalid(format!("Quantile values cannot be negative: {line}")));
        }
        let suffix = suffix_after(&sample.name, name);
        let counter_like = ["_total", "_sum", "_count", "_bucket", "_gcount", "_gsum"].contains(&suffix);
        if counter_like && value.is_none() {
            return Some(ParseError::Type("must be real number, not NoneType".to_owned()));
        }
        if counter_like && value_f64.is_nan() {
            return Some(invalid(format!("Counter-like samples cannot be NaN: {line}")));
        }
        if counter_like && suffix != "_gsum" && value_f64 < 0.0 {
            return Some(invalid(format!("Counter-like samples cannot be negative: {line}")));
        }
        let may_have_exemplar = ((typ == "histogram" || typ == "gaugehistogram") && sample.name.ends_with("_bucket"))
            || (typ == "counter" && sample.name.ends_with("_total"));
        if sample.exemplar.is_some() && !may_have_exemplar {
            return Some(invalid(format!(
                "Invalid line only histogram/gaugehistogram buckets and counters can have exemplars: {line}"
            )));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(text: &str) -> Vec<Family<'_>> {
        let parsed = parse(text);
        assert_eq!(parsed.error, None, "{text}");
        parsed.families
    }

    fn refused(text: &str) -> ParseError {
        parse(text).error.unwrap_or_else(|| panic!("accepted: {text:?}"))
    }

    #[test]
    fn counter_with_exemplar_and_timestamps() {
        let families =
            only("# TYPE a counter\n# HELP a help\na_total{x=\"1\"} 1 123.456 # {trace=\"abc\"} 0.5 1.25\n# EOF\n");
        let sample = &families[0].samples[0];
        assert_eq!(sample.timestamp, Some(Stamp::Exact { sec: 123, nsec: 456_000_000 }));
        let exemplar = sample.exemplar.as_ref().unwrap();
        assert_eq!(exemplar.labels, vec![("trace".into(), "abc".into())]);
        assert_eq!(exemplar.value, Number::Float(0.5));
        assert_eq!(exemplar.timestamp, Some(Stamp::Exact { sec: 1, nsec: 250_000_000 }));
    }

    #[test]
    fn native_histogram_text() {
        let families = only(
            "# TYPE nh histogram\nnh {count:24,sum:100,schema:0,zero_threshold:0.001,zero_count:4,\
             positive_spans:[0:2,1:2],negative_spans:[0:2],positive_deltas:[2,1,-2,3],negative_deltas:[3,1]}\n# EOF\n",
        );
        let histogram = families[0].samples[0].native_histogram.as_ref().unwrap();
        assert_eq!(histogram.count, Number::Int(24));
        assert_eq!(histogram.positive_spans, Some(vec![(0, 2), (1, 2)]));
        assert_eq!(histogram.negative_deltas, Some(vec![3, 1]));
        assert_eq!(families[0].samples[0].labels, None);
    }

    #[test]
    fn strictness_of_openmetrics() {
        refused("a 1\n");
        refused("a 1\n\n# EOF\n");
        refused("# EOF\na 1\n");
        refused("# TYPE a counter\na_total -1\n# EOF\n");
        refused("# TYPE a histogram\na_bucket{le=\"1\"} 1\n# EOF\n");
        refused("# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_bucket{le=\"1\"} 0\n# EOF\n");
        refused("# TYPE a gauge\na 1 # {x=\"1\"} 1\n# EOF\n");
        refused("# TYPE a gauge\na{x=\"1\"} 1\na{x=\"2\"} 1\na{x=\"1\"} 1\n# EOF\n");
        assert_eq!(only("a 1 1e3\n# EOF\n")[0].samples[0].timestamp, Some(Stamp::Float(1000.0)));
        assert!(matches!(refused("# TYPE a histogram\na {count:1}\n# EOF\n"), ParseError::Key(_)));
    }

    #[test]
    fn native_histogram_name_drops_a_wide_character_before_the_brace() {
        let families =
            only("# TYPE a histogram\na x\u{e9}{count:1,sum:1,schema:0,zero_threshold:0,zero_count:0}\n# EOF\n");
        assert_eq!(families[0].samples[0].name, "a x");
    }

    #[test]
    fn duplicate_points_after_truncation_are_dropped() {
        let families = only("# TYPE a gauge\na 1 1\na 2 1\n# EOF\n");
        assert_eq!(families[0].samples.len(), 1);
    }
}
