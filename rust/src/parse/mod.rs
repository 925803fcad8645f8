//! Parsers of the two text wire formats back into metric families: `text` (Prometheus 0.0.4)
//! and `openmetrics` (1.0, with exemplars, nanosecond timestamps, quoted UTF-8 names and the
//! native histogram text prometheus_client 0.26 reads).
//!
//! They are ports of the behaviour of prometheus_client 0.26's `parser` and
//! `openmetrics.parser`, quirks included: what that parser accepts is accepted, what it refuses
//! is refused with the same condition (a `ValueError` in Python). The whole text is parsed
//! without the interpreter (so the binding can release the GIL) into plain Rust values; the
//! binding turns them into `Metric`/`Sample` objects afterwards. A parse returns the families
//! read before the first error together with that error, so Python can yield those first and
//! raise where prometheus_client's generator would.
//!
//! This module holds what both formats share: finding unquoted characters, splitting on them,
//! unquoting, label sets and numbers as Python's `int()`/`float()` read them.

pub mod openmetrics;
pub mod text;

use std::borrow::Cow;
use std::fmt;

/// Why a text was refused, as the Python exception prometheus_client raises for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Malformed text (`ValueError`): nearly every refusal.
    Value(String),
    /// A native histogram without one of its fields (`KeyError`, the field's name).
    Key(String),
    /// A native histogram sample where a counter-like value was expected (`TypeError`).
    Type(String),
    /// Timestamps of both forms (`1` and `1.5`... compared within a group (`AttributeError`).
    Attribute(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Value(message)
            | ParseError::Key(message)
            | ParseError::Type(message)
            | ParseError::Attribute(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ParseError {}

/// Result of the parsing helpers.
pub type ParseResult<T> = Result<T, ParseError>;

fn invalid(message: impl Into<String>) -> ParseError {
    ParseError::Value(message.into())
}

/// A number as Python's `int()` (tried first) or `float()` reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Number {
    /// An integer that fits 64 bits.
    Int(i64),
    /// A larger integer: its digits (for Python's `int()`) and the nearest float.
    BigInt(String, f64),
    /// Anything else `float()` accepts.
    Float(f64),
}

impl Number {
    /// The value as a float (what comparisons with it use).
    pub fn as_f64(&self) -> f64 {
        match self {
            Number::Int(value) => *value as f64,
            Number::BigInt(_, value) | Number::Float(value) => *value,
        }
    }

    /// `isinstance(v, int) or v.is_integer()`.
    pub fn is_integer(&self) -> bool {
        match self {
            Number::Int(_) | Number::BigInt(..) => true,
            Number::Float(value) => value.is_finite() && value.fract() == 0.0,
        }
    }
}

/// A sample's or exemplar's timestamp.
#[derive(Debug, Clone, PartialEq)]
pub enum Stamp {
    /// Seconds as a float (the text format's milliseconds / 1000, or an OpenMetrics float).
    Float(f64),
    /// OpenMetrics' exact `sec[.nsec]` (Python's `Timestamp(sec, nsec)`).
    Exact {
        /// Whole seconds.
        sec: i128,
        /// Nanoseconds, 0..1e9.
        nsec: i64,
    },
}

/// Label pairs in the order written, borrowed from the text unless unescaped.
pub type Labels<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// An exemplar: its labels, value and maybe a timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar<'a> {
    /// Label pairs in the order written.
    pub labels: Labels<'a>,
    /// The exemplar's value.
    pub value: Number,
    /// Its timestamp, if written.
    pub timestamp: Option<Stamp>,
}

/// A native histogram's value, as the OpenMetrics text writes it (`{count:..,sum:..,..}`).
#[derive(Debug, Clone, PartialEq)]
pub struct NativeHistogram {
    /// Observations.
    pub count: Number,
    /// Their sum.
    pub sum: f64,
    /// Bucket schema.
    pub schema: Number,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: Number,
    /// Positive spans (offset, length), if written.
    pub positive_spans: Option<Vec<(i64, i64)>>,
    /// Negative spans, if written.
    pub negative_spans: Option<Vec<(i64, i64)>>,
    /// Positive bucket deltas, if written.
    pub positive_deltas: Option<Vec<i64>>,
    /// Negative bucket deltas, if written.
    pub negative_deltas: Option<Vec<i64>>,
}

/// One sample line; its strings borrow from the text parsed where they can.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The series name.
    pub name: Cow<'a, str>,
    /// Label pairs in the order written; `None` only for a native histogram without labels
    /// (prometheus_client's `labels=None` there).
    pub labels: Option<Labels<'a>>,
    /// The value; `None` for a native histogram.
    pub value: Option<Number>,
    /// The timestamp, if written.
    pub timestamp: Option<Stamp>,
    /// The exemplar, if written (OpenMetrics); boxed, as the native histogram, to keep the
    /// samples of the common case small.
    pub exemplar: Option<Box<Exemplar<'a>>>,
    /// A native histogram's value (OpenMetrics).
    pub native_histogram: Option<Box<NativeHistogram>>,
}

/// Label pairs no longer borrowing the text.
fn owned_labels(labels: Labels<'_>) -> Labels<'static> {
    labels.into_iter().map(|(name, value)| (Cow::Owned(name.into_owned()), Cow::Owned(value.into_owned()))).collect()
}

impl Sample<'_> {
    /// The same sample, no longer borrowing the text (a family kept between the pieces of a
    /// stream).
    pub fn into_owned(self) -> Sample<'static> {
        Sample {
            name: Cow::Owned(self.name.into_owned()),
            labels: self.labels.map(owned_labels),
            value: self.value,
            timestamp: self.timestamp,
            exemplar: self.exemplar.map(|exemplar| {
                let Exemplar { labels, value, timestamp } = *exemplar;
                Box::new(Exemplar { labels: owned_labels(labels), value, timestamp })
            }),
            native_histogram: self.native_histogram,
        }
    }

    fn label(&self, name: &str) -> Option<&str> {
        self.labels.as_ref()?.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_ref())
    }

    fn value_f64(&self) -> f64 {
        self.value.as_ref().map_or(f64::NAN, Number::as_f64)
    }
}

/// A family as prometheus_client's `Metric(name, documentation, typ, unit)` with its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family<'a> {
    /// The family name (a counter's without `_total`).
    pub name: String,
    /// HELP text, unescaped.
    pub documentation: String,
    /// The type word as written (`untyped` and unknown words included; `Metric` judges them).
    pub typ: String,
    /// UNIT (OpenMetrics), or empty.
    pub unit: String,
    /// The samples in the order read.
    pub samples: Vec<Sample<'a>>,
}

/// What a parse read: every family up to the first error, then that error (if any).
#[derive(Debug, Default)]
pub struct Parsed<'a> {
    /// The families, in order.
    pub families: Vec<Family<'a>>,
    /// The error that stopped the parse, raised after the families are yielded.
    pub error: Option<ParseError>,
}

/// Python's `repr()` of a string, as its error messages quote values: single quotes unless
/// the text holds one and no double quote; backslash, quote, `\t`, `\n`, `\r` escaped, other
/// control characters as `\xNN`.
pub(crate) fn py_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `str.isspace()` for one character (Unicode White_Space plus the ASCII separators
/// 0x1c..0x1f, which Python counts too).
pub(crate) fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `str.strip()`.
pub(crate) fn py_strip(text: &str) -> &str {
    let bytes = text.as_bytes();
    // Most text has neither end in whitespace: an ASCII printable byte at each end says so.
    let printable = |b: u8| b > b' ' && b < 0x7f;
    match (bytes.first(), bytes.last()) {
        (None, _) => text,
        (Some(&first), Some(&last)) if printable(first) && printable(last) => text,
        _ => text.trim_matches(is_python_space),
    }
}

/// `string.whitespace`, the set prometheus_client splits on when given none.
pub(crate) const ASCII_WHITESPACE: &[u8] = b" \t\n\r\x0b\x0c";

/// Whether the character at byte `pos` is preceded by an odd number of backslashes.
pub(crate) fn is_escaped(text: &[u8], pos: usize) -> bool {
    let mut backslashes = 0;
    while pos > backslashes && text[pos - 1 - backslashes] == b'\\' {
        backslashes += 1;
    }
    backslashes % 2 == 1
}

/// Byte position of the first of `chars` at or after `start` outside double quotes. The text
/// between is skipped with `memchr` (up to two `chars`), not looked at byte by byte.
pub(crate) fn next_unquoted(text: &str, chars: &[u8], start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut at = start;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let found = at
            + match *chars {
                [only] => memchr::memchr2(only, b'"', rest),
                [first, second] => memchr::memchr3(first, second, b'"', rest),
                _ => rest.iter().position(|byte| *byte == b'"' || chars.contains(byte)),
            }?;
        if bytes[found] != b'"' {
            return Some(found);
        }
        at = found + 1;
        if is_escaped(bytes, found) {
            continue;
        }
        // An opening quote: on past its closing quote, the first one not escaped.
        loop {
            let quote = at + memchr::memchr(b'"', &bytes[at..])?;
            at = quote + 1;
            if !is_escaped(bytes, quote) {
                break;
            }
        }
    }
    None
}

/// `text.contains(" # ")`, looked for only where the text has a `#`.
pub(crate) fn contains_exemplar_marker(text: &str) -> bool {
    memchr::memchr(b'#', text.as_bytes()).is_some() && text.contains(" # ")
}

/// Byte position of the last of `chars` outside double quotes, never position 0 (as upstream).
pub(crate) fn last_unquoted(text: &str, chars: &[u8]) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut in_quotes = false;
    let mut i = bytes.len().checked_sub(1)?;
    while i > 0 {
        if bytes[i] == b'"' && !is_escaped(bytes, i) {
            in_quotes = !in_quotes;
        }
        if !in_quotes && chars.contains(&bytes[i]) {
            return Some(i);
        }
        i -= 1;
    }
    None
}

/// Splits on `separators` outside quotes, runs of them counting as one, into at most
/// `maxsplit + 1` parts (prometheus_client's `_split_quoted`).
pub(crate) fn split_quoted<'a>(text: &'a str, separators: &[u8], maxsplit: usize) -> Vec<&'a str> {
    let mut tokens: Vec<&'a str> = vec![""];
    let mut x = 0;
    while x < text.len() {
        let Some(split) = next_unquoted(text, separators, x) else {
            *tokens.last_mut().expect("never empty") = &text[x..];
            break;
        };
        if split == x {
            x += 1;
            continue;
        }
        if maxsplit > 0 && tokens.len() > maxsplit {
            *tokens.last_mut().expect("never empty") = &text[x..];
            break;
        }
        *tokens.last_mut().expect("never empty") = &text[x..split];
        x = split + 1;
        tokens.push("");
    }
    tokens
}

/// Replaces `\\`, `\n` and `\"` (and only those) in a label value or quoted name.
pub(crate) fn unescape(text: &str) -> Cow<'_, str> {
    if memchr::memchr(b'\\', text.as_bytes()).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') => out.push('"'),
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars.next();
    }
    Cow::Owned(out)
}

/// Strips a term; if quoted, drops the quotes. Returns the unescaped text and whether it was
/// quoted (`_unquote_unescape`).
pub(crate) fn unquote_unescape(text: &str) -> ParseResult<(Cow<'_, str>, bool)> {
    if text.is_empty() {
        return Ok((Cow::Borrowed(""), false));
    }
    let mut text = py_strip(text);
    let mut quoted = false;
    if text.starts_with('"') {
        if text.len() == 1 || !text.ends_with('"') {
            return Err(invalid("missing close quote"));
        }
        text = &text[1..text.len() - 1];
        quoted = true;
    }
    Ok((unescape(text), quoted))
}

/// `^[a-zA-Z_:][a-zA-Z0-9_:]*$` as Python's `re.match` reads it: `$` also matches before one
/// final newline, so `"a\n"` passes.
pub(crate) fn is_legacy_metric_name(name: &str) -> bool {
    let name = name.strip_suffix('\n').unwrap_or(name);
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' || first == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// prometheus_client's `_validate_labelname` with UTF-8 names allowed (its default): only names
/// starting with `__` (other than `__name__`, handled by the caller) fail.
fn validate_label_name(name: &str) -> ParseResult<()> {
    if name.starts_with("__") {
        return Err(invalid(format!("Reserved label metric name: {name}")));
    }
    Ok(())
}

/// The next comma-separated term: its label name (`__name__` when it has no `=`), its value
/// term, and the rest from the `,` or `}` on (`_next_term`), all slices of `text`.
fn next_term(text: &str, openmetrics: bool) -> ParseResult<(&str, &str, &str)> {
    let mut text = text;
    if let Some(after_comma) = text.strip_prefix(',') {
        text = after_comma;
        if text.is_empty() {
            return Ok(("", "", ""));
        }
        if text.starts_with(',') {
            return Err(invalid("multiple commas"));
        }
    }
    let mut split = next_unquoted(text, b"=,}", 0);
    let label_name;
    if let Some(pos) = split.filter(|&pos| text.as_bytes()[pos] == b'=') {
        label_name = &text[..pos];
        text = &text[pos + 1..];
        split = next_unquoted(text, b",}", 0);
    } else {
        label_name = "__name__";
    }
    let split = split.unwrap_or(text.len());
    let term = &text[..split];
    if term.is_empty() && openmetrics {
        return Err(invalid("empty term:"));
    }
    Ok((label_name, py_strip(term), py_strip(&text[split..])))
}

/// A label set's inside (between the braces), as `parse_labels(labels_string, openmetrics)`:
/// pairs in order, a bare quoted term standing for `__name__`.
pub fn parse_labels(labels_string: &str, openmetrics: bool) -> ParseResult<Labels<'_>> {
    if let Some(labels) = plain_labels(labels_string) {
        return Ok(labels);
    }
    if openmetrics && py_strip(labels_string).starts_with(',') {
        return Err(invalid(format!("leading comma: {labels_string}")));
    }
    parse_labels_inner(labels_string, openmetrics).map_err(|_| invalid(format!("Invalid labels: {labels_string}")))
}

/// The label set nearly every line has (`name="value",...`: legacy names not starting with
/// `__`, values without a backslash, nothing between the terms, no name twice, no comma last)
/// read in one pass, as `parse_labels_inner` reads it; `None` for any other text, which that
/// reading takes (and refuses where it must).
fn plain_labels(text: &str) -> Option<Labels<'_>> {
    plain_label_list(text, None).map(|(labels, _)| labels)
}

/// The start of the sample line nearly every sample has: a legacy name, then either
/// `plain_label_list`'s labels in braces or one of `separators`. The name, the labels, whether
/// there were braces, and the rest of the line after them (or after the separator); `None` for
/// any other line.
#[inline]
pub(crate) fn plain_sample_start<'t>(
    text: &'t str,
    separators: &[u8],
) -> Option<(Cow<'t, str>, Labels<'t>, bool, &'t str)> {
    let bytes = text.as_bytes();
    let name_end = bytes.iter().position(|&byte| !is_name_byte(byte))?;
    if !bytes.first().is_some_and(|&first| is_name_start(first)) {
        return None;
    }
    let name = Cow::Borrowed(&text[..name_end]);
    if bytes[name_end] == b'{' {
        let (labels, end) = plain_label_list(&text[name_end + 1..], Some(b'}'))?;
        Some((name, labels, true, &text[name_end + 1 + end + 1..]))
    } else if separators.contains(&bytes[name_end]) {
        Some((name, Labels::new(), false, &text[name_end + 1..]))
    } else {
        None
    }
}

/// `plain_labels` of the text up to `closing` (the set's `}`, which no term can hold then) or
/// to its end: the labels and where they end.
pub(crate) fn plain_label_list(text: &str, closing: Option<u8>) -> Option<(Labels<'_>, usize)> {
    let bytes = text.as_bytes();
    if (closing.is_none() && bytes.is_empty()) || (closing.is_some() && bytes.first().copied() == closing) {
        return Some((Labels::new(), 0));
    }
    let mut labels = Labels::with_capacity(4);
    let mut at = 0;
    loop {
        let name_start = at;
        if !is_name_start(*bytes.get(at)?) {
            return None;
        }
        at += 1 + bytes[at + 1..].iter().position(|&byte| !is_name_byte(byte))?;
        let name = &text[name_start..at];
        if name.starts_with("__") || bytes[at] != b'=' || bytes.get(at + 1) != Some(&b'"') {
            return None;
        }
        let value_start = at + 2;
        // Values are short: a plain loop finds their end sooner than `memchr2` would.
        let value_end = value_start + bytes[value_start..].iter().position(|&byte| byte == b'"' || byte == b'\\')?;
        if bytes[value_end] != b'"' || labels.iter().any(|(seen, _)| seen == name) {
            return None;
        }
        labels.push((Cow::Borrowed(name), Cow::Borrowed(&text[value_start..value_end])));
        at = value_end + 1;
        let next = bytes.get(at).copied();
        if next == closing {
            return Some((labels, at));
        }
        match next {
            Some(b',') if bytes.get(at + 1).is_some_and(|&byte| is_name_start(byte)) => at += 1,
            _ => return None,
        }
    }
}

/// For each byte: 2 if a legacy name may start with it (`[a-zA-Z_:]`), 1 if it may follow
/// (`[0-9]`), 0 if neither; one lookup per byte of the names on every line.
static NAME_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = if b.is_ascii_alphabetic() || b == b'_' || b == b':' {
            2
        } else if b.is_ascii_digit() {
            1
        } else {
            0
        };
        byte += 1;
    }
    table
};

/// A legacy name's first byte (`[a-zA-Z_:]`).
pub(crate) fn is_name_start(byte: u8) -> bool {
    NAME_BYTES[usize::from(byte)] == 2
}

/// A legacy name's other bytes (`[a-zA-Z0-9_:]`).
pub(crate) fn is_name_byte(byte: u8) -> bool {
    NAME_BYTES[usize::from(byte)] != 0
}

fn parse_labels_inner(labels_string: &str, openmetrics: bool) -> ParseResult<Labels<'_>> {
    let mut labels: Labels<'_> = Vec::new();
    let mut rest = py_strip(labels_string);
    if openmetrics && rest.starts_with(',') {
        return Err(invalid(format!("leading comma: {labels_string}")));
    }
    while !rest.is_empty() {
        let (name_term, value_term, remainder) = next_term(rest, openmetrics)?;
        rest = remainder;
        if value_term.is_empty() {
            if openmetrics {
                return Err(invalid(format!("empty term in line: {labels_string}")));
            }
            continue;
        }
        let (label_name, quoted_name) = unquote_unescape(name_term)?;
        if !quoted_name && !is_legacy_metric_name(&label_name) {
            return Err(invalid("unquoted UTF-8 metric name"));
        }
        if !value_term.starts_with('"') {
            return Err(invalid("missing quote"));
        }
        // The next unescaped quote after the first must be the term's last character.
        let bytes = value_term.as_bytes();
        let mut i = 1;
        while i < bytes.len() {
            match value_term[i..].find('"') {
                Some(offset) => i += offset,
                None => return Err(invalid("substring not found")),
            }
            if !is_escaped(bytes, i) {
                break;
            }
            i += 1;
        }
        if i + 1 != bytes.len() {
            return Err(invalid(format!("unexpected text after quote: {labels_string}")));
        }
        let (label_value, _) = unquote_unescape(value_term)?;
        if label_name != "__name__" {
            validate_label_name(&label_name)?;
        }
        if labels.iter().any(|(name, _)| *name == label_name) {
            return Err(invalid(format!("invalid line, duplicate label name: {labels_string}")));
        }
        labels.push((label_name, label_value));
    }
    Ok(labels)
}

/// Takes `__name__` out of `labels` as the sample's name when `name` is empty; refuses a name
/// given twice.
fn name_from_labels<'a>(name: &'a str, labels: &mut Labels<'a>) -> ParseResult<Cow<'a, str>> {
    let position = labels.iter().position(|(key, _)| key == "__name__");
    if name.is_empty() {
        match position {
            Some(position) => Ok(labels.remove(position).1),
            None => Err(invalid("metric name missing")),
        }
    } else if position.is_some() {
        Err(invalid("metric name specified more than once"))
    } else {
        Ok(Cow::Borrowed(name))
    }
}

/// Python's `int()` of a string (sign, digits, surrounding whitespace; underscores are refused
/// by the callers before).
pub(crate) fn python_int(text: &str) -> Option<Number> {
    let text = py_strip(text);
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match text.parse::<i64>() {
        Ok(value) => Some(Number::Int(value)),
        Err(_) => {
            let float = text.parse::<f64>().unwrap_or(f64::NAN);
            let negative = text.starts_with('-');
            let magnitude = digits.trim_start_matches('0');
            let canonical = match (negative, magnitude.is_empty()) {
                (_, true) => "0".to_owned(),
                (true, false) => format!("-{magnitude}"),
                (false, false) => magnitude.to_owned(),
            };
            Some(Number::BigInt(canonical, float))
        }
    }
}

/// Python's `float()` of a string: decimal and exponent forms, `inf`/`infinity`/`nan` in any
/// case with an optional sign.
pub(crate) fn python_float(text: &str) -> Option<f64> {
    let text = py_strip(text);
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let special = if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        Some(f64::INFINITY)
    } else if body.eq_ignore_ascii_case("nan") {
        Some(f64::NAN)
    } else {
        None
    };
    if let Some(value) = special {
        return Some(if text.starts_with('-') { -value } else { value });
    }
    // Rust also reads "inf"/"nan" spellings Python refuses ("infinit" no, but e.g. "+nan" yes,
    // handled above): only digits, one dot and one exponent get here.
    if !body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return None;
    }
    text.parse::<f64>().ok()
}

/// `_parse_value`: `int()` first, then `float()`; whitespace or `_` inside is refused.
pub(crate) fn parse_value(value: &str) -> ParseResult<Number> {
    // Digits with at most one dot (nearly every value): what `int()` or `float()` makes of
    // them, without the checks other text needs.
    let bytes = value.as_bytes();
    let dots = bytes.iter().filter(|&&byte| byte == b'.').count();
    if dots <= 1 && bytes.len() > dots && bytes.iter().all(|&byte| byte.is_ascii_digit() || byte == b'.') {
        if dots == 0 {
            if let Ok(int) = value.parse::<i64>() {
                return Ok(Number::Int(int));
            }
        } else if let Ok(float) = value.parse::<f64>() {
            return Ok(Number::Float(float));
        }
    }
    if value != py_strip(value) || value.contains('_') {
        return Err(invalid(format!("Invalid value: {}", py_repr(value))));
    }
    if let Some(number) = python_int(value) {
        return Ok(number);
    }
    match python_float(value) {
        Some(float) => Ok(Number::Float(float)),
        None => Err(invalid(format!("could not convert string to float: {}", py_repr(value)))),
    }
}

/// Lines as Python iterates a `StringIO`: split after each `\n`, the newline kept off, no empty
/// line after a final `\n`. The flag says whether the line ended with `\n`.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = (&str, bool)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(pos) => {
                let line = &rest[..pos];
                rest = &rest[pos + 1..];
                Some((line, true))
            }
            None => {
                let line = rest;
                rest = "";
                Some((line, false))
            }
        }
    })
}

/// Splits text read in pieces of any size into whole lines: what a piece leaves after its last
/// `\n` waits for the next.
#[derive(Debug, Default)]
pub struct LineBuffer {
    partial: String,
}

impl LineBuffer {
    /// The whole lines `piece` completes, each ending in `\n` (empty if it completes none).
    pub fn lines(&mut self, piece: &str) -> String {
        match memchr::memrchr(b'\n', piece.as_bytes()) {
            None => {
                self.partial.push_str(piece);
                String::new()
            }
            Some(last) => {
                let mut lines = std::mem::take(&mut self.partial);
                lines.push_str(&piece[..=last]);
                self.partial.push_str(&piece[last + 1..]);
                lines
            }
        }
    }

    /// What is left at the end: a last line without `\n`, or nothing.
    pub fn rest(&mut self) -> String {
        std::mem::take(&mut self.partial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_buffer_gives_whole_lines() {
        let mut buffer = LineBuffer::default();
        assert_eq!(buffer.lines("a 1\nb"), "a 1\n");
        assert_eq!(buffer.lines(" 2"), "");
        assert_eq!(buffer.lines("\nc 3\nd"), "b 2\nc 3\n");
        assert_eq!(buffer.rest(), "d");
        assert_eq!(buffer.rest(), "");
    }

    #[test]
    fn split_quoted_keeps_quoted_separators() {
        assert_eq!(split_quoted(r#"# HELP "a b" c d"#, b" ", 3), vec!["#", "HELP", "\"a b\"", "c d"]);
        assert_eq!(split_quoted("#  TYPE   a", ASCII_WHITESPACE, 3), vec!["#", "TYPE", "a"]);
        assert_eq!(split_quoted("#", ASCII_WHITESPACE, 3), vec!["#"]);
    }

    #[test]
    fn labels_as_prometheus_client_reads_them() {
        let labels = parse_labels(r#"a="1",b="x\"y\\n",c="\n""#, false).unwrap();
        assert_eq!(labels[1], ("b".into(), "x\"y\\n".into()));
        assert_eq!(labels[2], ("c".into(), "\n".into()));
        assert_eq!(parse_labels(r#""my.name",x="1""#, true).unwrap()[0], ("__name__".into(), "my.name".into()));
        assert!(parse_labels(r#"a="1",a="2""#, false).is_err());
        assert!(parse_labels(r#"a=1"#, false).is_err());
        assert!(parse_labels(r#",a="1""#, true).is_err());
        assert!(parse_labels(r#"a="1",,"#, false).is_err());
        assert!(parse_labels(r#"__x="1""#, false).is_err());
    }

    #[test]
    fn legacy_names_as_pythons_regex_matches_them() {
        assert!(is_legacy_metric_name("a:b_1"));
        assert!(is_legacy_metric_name("a\n"));
        assert!(!is_legacy_metric_name("a\n\n"));
        assert!(!is_legacy_metric_name("\n"));
        assert!(!is_legacy_metric_name("1a"));
    }

    #[test]
    fn numbers_as_python_reads_them() {
        assert_eq!(parse_value("12").unwrap(), Number::Int(12));
        assert_eq!(parse_value("-0012").unwrap(), Number::Int(-12));
        assert_eq!(parse_value("1.5e3").unwrap(), Number::Float(1500.0));
        assert_eq!(parse_value("+Inf").unwrap(), Number::Float(f64::INFINITY));
        assert!(
            matches!(parse_value("9223372036854775808").unwrap(), Number::BigInt(digits, _) if digits == "9223372036854775808")
        );
        assert!(parse_value("1_0").is_err());
        assert!(parse_value("infinit").is_err());
        assert!(parse_value("0x10").is_err());
        assert!(parse_value("").is_err());
    }

    #[test]
    fn repr_as_python_quotes() {
        assert_eq!(py_repr("1_0"), "'1_0'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'\"\\\n\r\u{1}é"), "'a\\'\"\\\\\\n\\r\\x01é'");
    }

    #[test]
    fn lines_as_stringio_iterates() {
        let got: Vec<_> = lines("a\n\nb").collect();
        assert_eq!(got, vec![("a", true), ("", true), ("b", false)]);
        assert_eq!(lines("a\n").count(), 1);
    }
}
