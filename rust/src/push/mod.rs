//! Push: for batch jobs, a Pushgateway client ([`pushgateway`]); for fleets that outgrow one
//! Prometheus, a remote write 1.0 sender ([`sender::RemoteWriter`]) that Prometheus,
//! VictoriaMetrics, Mimir and Thanos receive.
//!
//! Both run on the caller's or their own threads with a blocking HTTP client ([`http`]): a push
//! is one request, and the sender needs nothing an async runtime would add. Threads start only
//! when a writer is created, never at import, so a process can still fork safely before that.

pub mod http;
pub mod pushgateway;
pub mod queue;
pub mod remote_write;
pub mod sender;

/// One JSON line on stderr with any number of string fields, in one write so that it never
/// interleaves with what other threads (or Python) write.
pub(crate) fn log(level: &str, msg: &str, fields: &[(&str, &str)]) {
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
