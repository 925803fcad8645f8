//! Escaping and unescaping of the text exposition formats, in one place for every writer and
//! reader: label values (`\\`, `\"`, `\n`), which OpenMetrics also uses for HELP, and text
//! 0.0.4's HELP (`\\` and `\n` only).
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
