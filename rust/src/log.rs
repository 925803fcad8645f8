//! The daemon's log: one JSON object per line on stderr, as the Python side writes them.
//!
//! Each line goes out in one write, so lines from the core's threads and from Python never
//! interleave.

/// One JSON line on stderr with any number of string fields, in one write so that it never
/// interleaves with what other threads (or Python) write.
pub fn line(level: &str, msg: &str, fields: &[(&str, &str)]) {
    use std::io::Write;
    let escape = |text: &str| {
        let mut out = String::with_capacity(text.len() + 2);
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out
    };
    let mut line = format!("{{\"level\": \"{}\", \"msg\": \"{}\"", escape(level), escape(msg));
    for (key, value) in fields {
        line.push_str(&format!(", \"{}\": \"{}\"", escape(key), escape(value)));
    }
    line.push_str("}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
