//! Escaping and unescaping of the text exposition formats, in one place for every writer and
//! reader: label values (`\\`, `\"`, `\n`), which OpenMetrics also uses for HELP, and text
//! 0.0.4's HELP (`\\` and `\n` only); and metric and label names outside the classic charset,
//! written in one of the four [`Escaping`] schemes a scraper asks for (prometheus_client 0.26's
//! `escape_metric_name` / `escape_label_name`, which follow Prometheus' own).
//!
//! A classic name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) is written as it is by `underscores`,
//! `allow-utf-8` and `values`; only `dots` rewrites it (`_` doubles). The encoders check that once
//! per family and copy classic names untouched, so names never cost a scrape anything.
//!
//! A series' labels are escaped once, when the series is born (`key::render_labels`); the
//! encoders copy those bytes. The readers (the textfile collector, a rendered label set read
//! back) unescape with the same rules, which the property tests below hold to.

/// Appends `value` escaped as a label value (or OpenMetrics HELP): `\` `"` and newline.
pub fn label_value(out: &mut Vec<u8>, value: &str) {
    let mut rest = value.as_bytes();
    while let Some(pos) = memchr::memchr3(b'\\', b'"', b'\n', rest) {
        out.extend_from_slice(&rest[..pos]);
        out.extend_from_slice(match rest[pos] {
            b'\\' => b"\\\\",
            b'"' => b"\\\"",
            _ => b"\\n",
        });
        rest = &rest[pos + 1..];
    }
    out.extend_from_slice(rest);
}

/// [`label_value`] into a `String`.
pub fn label_value_string(out: &mut String, value: &str) {
    // SAFETY: only whole UTF-8 sequences of `value` and ASCII escapes are appended.
    label_value(unsafe { out.as_mut_vec() }, value);
}

/// [`label_value`] as a new string.
pub fn label_value_owned(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    label_value_string(&mut out, value);
    out
}

/// Whether `value` matches its escaped form at the start of `escaped`; returns the rest.
pub fn strip_escaped<'a>(escaped: &'a [u8], value: &str) -> Option<&'a [u8]> {
    let mut rest = escaped;
    for &b in value.as_bytes() {
        let form: &[u8] = match b {
            b'\\' => b"\\\\",
            b'"' => b"\\\"",
            b'\n' => b"\\n",
            _ => std::slice::from_ref(&b),
        };
        rest = rest.strip_prefix(form)?;
    }
    Some(rest)
}

/// Reads an escaped label value up to its closing quote (the opening one already consumed):
/// the value and the bytes taken, closing quote included. Only `\\`, `\"` and `\n` are
/// escapes, as the formats define them.
pub fn read_label_value(text: &str) -> Result<(String, usize), &'static str> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    loop {
        match chars.next() {
            Some((_, '\\')) => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, c @ ('\\' | '"'))) => value.push(c),
                _ => return Err("invalid escape in label value"),
            },
            Some((i, '"')) => return Ok((value, i + 1)),
            Some((_, c)) => value.push(c),
            None => return Err("unterminated label value"),
        }
    }
}

/// Appends text 0.0.4 HELP: only `\` and newline are escaped.
pub fn help(out: &mut Vec<u8>, help: &str) {
    for &b in help.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// Reads text 0.0.4 HELP: `\n` is a newline, `\x` is `x`, a trailing `\` stays.
pub fn unescape_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// How a name outside the classic charset is written: prometheus_client's `escaping=` values,
/// also the `escaping` parameter of an `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Escaping {
    /// Quoted and backslash-escaped: `{"my.metric",label="x"}`.
    AllowUtf8,
    /// Every character outside the charset becomes `_` (the default).
    #[default]
    Underscores,
    /// `.` becomes `_dot_`, `_` becomes `__`, any other outsider `__`; classic names too.
    Dots,
    /// `U__` then the name, `_` as `__` and any outsider as `_<hex code point>_`.
    Values,
}

impl Escaping {
    /// Every scheme, in the order prometheus_client lists them.
    pub const ALL: [Escaping; 4] = [Escaping::AllowUtf8, Escaping::Underscores, Escaping::Dots, Escaping::Values];

    /// The scheme's name (`allow-utf-8`, `underscores`, `dots`, `values`).
    pub fn name(self) -> &'static str {
        match self {
            Escaping::AllowUtf8 => "allow-utf-8",
            Escaping::Underscores => "underscores",
            Escaping::Dots => "dots",
            Escaping::Values => "values",
        }
    }

    /// The scheme called `name`, if there is one.
    pub fn parse(name: &str) -> Option<Escaping> {
        Escaping::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Whether classic names come out of this scheme as they went in.
    pub fn keeps_classic_names(self) -> bool {
        self != Escaping::Dots
    }
}

fn is_label_char(c: char, index: usize) -> bool {
    c.is_ascii_alphabetic() || c == '_' || (index > 0 && c.is_ascii_digit())
}

fn is_metric_char(c: char, index: usize) -> bool {
    is_label_char(c, index) || c == ':'
}

/// Whether `name` is a classic metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_classic_metric_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().enumerate().all(|(i, b)| b.is_ascii() && is_metric_char(b as char, i))
}

/// Whether `name` is a classic label name, `[a-zA-Z_][a-zA-Z0-9_]*` (reserved `__` aside).
pub fn is_classic_label_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().enumerate().all(|(i, b)| b.is_ascii() && is_label_char(b as char, i))
}

/// Appends a metric name (a sample's full name, suffix included) as `escaping` writes it; under
/// `allow-utf-8` a name outside the charset comes quoted.
pub fn metric_name(out: &mut Vec<u8>, name: &str, escaping: Escaping) {
    write_name(out, name, escaping, is_classic_metric_name(name), is_metric_char);
}

/// Appends a label name as `escaping` writes it (quoted under `allow-utf-8` when needed).
pub fn label_name(out: &mut Vec<u8>, name: &str, escaping: Escaping) {
    write_name(out, name, escaping, is_classic_label_name(name), is_label_char);
}

fn write_name(out: &mut Vec<u8>, name: &str, escaping: Escaping, classic: bool, valid: fn(char, usize) -> bool) {
    if classic && escaping.keeps_classic_names() || name.is_empty() {
        out.extend_from_slice(name.as_bytes());
        return;
    }
    let mut utf8 = [0u8; 4];
    match escaping {
        Escaping::AllowUtf8 => {
            out.push(b'"');
            label_value(out, name);
            out.push(b'"');
        }
        Escaping::Underscores => {
            for (i, c) in name.chars().enumerate() {
                out.extend_from_slice(if valid(c, i) { c.encode_utf8(&mut utf8).as_bytes() } else { b"_" });
            }
        }
        Escaping::Dots => {
            for (i, c) in name.chars().enumerate() {
                out.extend_from_slice(match c {
                    '_' => b"__",
                    '.' => b"_dot_",
                    c if valid(c, i) => c.encode_utf8(&mut utf8).as_bytes(),
                    _ => b"__",
                });
            }
        }
        Escaping::Values => {
            out.extend_from_slice(b"U__");
            for (i, c) in name.chars().enumerate() {
                match c {
                    '_' => out.extend_from_slice(b"__"),
                    c if valid(c, i) => out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes()),
                    c => {
                        use std::io::Write;
                        let _ = write!(out, "_{:x}_", c as u32);
                    }
                }
            }
        }
    }
}

/// The length of an escaped label value up to (not including) its closing quote.
pub fn escaped_value_len(escaped: &[u8]) -> usize {
    let mut i = 0;
    while i < escaped.len() {
        match escaped[i] {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    escaped.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn escaped(write: fn(&mut Vec<u8>, &str, Escaping), name: &str, escaping: Escaping) -> String {
        let mut out = Vec::new();
        write(&mut out, name, escaping);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn names_escape_as_prometheus_client_does() {
        // prometheus_client 0.26's test_escape_metric_name / test_escape_label_name scenarios.
        let cases = [
            (
                "no_escaping_needed",
                "no_escaping_needed",
                "no_escaping_needed",
                "no__escaping__needed",
                "no_escaping_needed",
            ),
            (
                "mysystem.prod.west.cpu.load",
                "\"mysystem.prod.west.cpu.load\"",
                "mysystem_prod_west_cpu_load",
                "mysystem_dot_prod_dot_west_dot_cpu_dot_load",
                "U__mysystem_2e_prod_2e_west_2e_cpu_2e_load",
            ),
            (
                "http.status:sum",
                "\"http.status:sum\"",
                "http_status:sum",
                "http_dot_status:sum",
                "U__http_2e_status:sum",
            ),
            ("label with 😱", "\"label with 😱\"", "label_with__", "label__with____", "U__label_20_with_20__1f631_"),
            ("1label", "\"1label\"", "_label", "__label", "U___31_label"),
            ("", "", "", "", ""),
        ];
        for (name, utf8, underscores, dots, values) in cases {
            let got: Vec<String> = Escaping::ALL.iter().map(|&e| escaped(metric_name, name, e)).collect();
            assert_eq!(got, [utf8, underscores, dots, values], "{name}");
        }
        assert_eq!(escaped(label_name, "a:b", Escaping::Underscores), "a_b");
        assert_eq!(escaped(label_name, "a:b", Escaping::AllowUtf8), "\"a:b\"");
        assert_eq!(escaped(metric_name, "a:b", Escaping::AllowUtf8), "a:b");
        assert_eq!(escaped(metric_name, "q\"uote", Escaping::AllowUtf8), r#""q\"uote""#);
        assert_eq!(Escaping::parse("dots"), Some(Escaping::Dots));
        assert_eq!(Escaping::parse("Dots"), None);
    }

    #[test]
    fn escaped_values_end_at_the_unescaped_quote() {
        assert_eq!(escaped_value_len(br#"a\"b\\" rest"#), 6);
        assert_eq!(escaped_value_len(br#"" rest"#), 0);
        assert_eq!(escaped_value_len(b"open"), 4);
    }

    #[test]
    fn label_values_escape_three_characters() {
        assert_eq!(label_value_owned("a\"b\\c\nd ü"), r#"a\"b\\c\nd ü"#);
        assert_eq!(read_label_value(r#"a\"b\\c\nd ü" rest"#), Ok(("a\"b\\c\nd ü".to_owned(), 14)));
        assert_eq!(read_label_value(r#"a\qb""#), Err("invalid escape in label value"));
        assert_eq!(read_label_value("open"), Err("unterminated label value"));
    }

    #[test]
    fn help_escapes_backslash_and_newline_only() {
        let mut out = Vec::new();
        help(&mut out, "a \"quoted\" \\ help\nline");
        assert_eq!(out, b"a \"quoted\" \\\\ help\\nline");
        assert_eq!(unescape_help(r"a \\ b\nc\"), "a \\ b\nc\\");
    }

    proptest! {
        #[test]
        fn label_values_round_trip(value in any::<String>()) {
            let mut escaped = label_value_owned(&value);
            prop_assert!(!escaped.contains('\n'));
            prop_assert_eq!(strip_escaped(escaped.as_bytes(), &value), Some(&b""[..]));
            escaped.push('"');
            prop_assert_eq!(read_label_value(&escaped), Ok((value, escaped.len())));
        }

        #[test]
        fn help_round_trips(text in any::<String>()) {
            let mut out = Vec::new();
            help(&mut out, &text);
            let escaped = String::from_utf8(out).unwrap();
            prop_assert!(!escaped.contains('\n'));
            prop_assert_eq!(unescape_help(&escaped), text);
        }
    }
}
