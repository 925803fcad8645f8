//! The crate's one logger: one JSON object per line on stderr, in the shape the Python side
//! writes (`json.dumps` of `{"ts": ..., "level": ..., "msg": ..., <fields>}`: the same keys in the
//! same order, `", "` and `": "` separators, non-ASCII as `\uXXXX`), so that a log pipeline
//! reads the daemon's lines alike whichever half wrote them.
//!
//! Each line goes out in one write, so lines from the core's threads and from Python never
//! interleave.
//!
//! node_exporter's `--log.level` (debug, info, warn, error) and `--log.format` (logfmt, json)
//! reach both halves through the environment (`OBSAGENT_LOG_LEVEL`, `OBSAGENT_LOG_FORMAT`,
//! set by the Python side's `configure`), read at each line: logging is rare, and so no
//! order of start-up can leave the core with stale settings. Lines below the level are
//! dropped; `logfmt` writes `time=... level=INFO msg=... key=value` as node_exporter 1.9 does.

use std::fmt::Write;

/// The levels in order; a line is written when its level is at least the configured one.
const LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];

/// The rank of a level name (unknown names rank as info).
fn rank(level: &str) -> usize {
    LEVELS.iter().position(|l| *l == level).unwrap_or(1)
}

/// Logs `msg` at `level` ("debug", "info", "warn", "error") with string fields, in one write,
/// if the configured level lets it through.
pub fn line(level: &str, msg: &str, fields: &[(&str, &str)]) {
    use std::io::Write as _;
    let configured = std::env::var("OBSAGENT_LOG_LEVEL").unwrap_or_default();
    if rank(level) < rank(&configured) {
        return;
    }
    let now = crate::clock::now();
    let line = if std::env::var("OBSAGENT_LOG_FORMAT").is_ok_and(|f| f == "logfmt") {
        render_logfmt(&timestamp_millis(now), level, msg, fields)
    } else {
        render(&timestamp(now), level, msg, fields)
    };
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Detail only wanted when looking for trouble (`--log.level=debug`).
pub fn debug(msg: &str, fields: &[(&str, &str)]) {
    line("debug", msg, fields);
}

/// A warning.
pub fn warn(msg: &str, fields: &[(&str, &str)]) {
    line("warn", msg, fields);
}

/// An error the process carries on after.
pub fn error(msg: &str, fields: &[(&str, &str)]) {
    line("error", msg, fields);
}

/// An event worth a line.
pub fn info(msg: &str, fields: &[(&str, &str)]) {
    line("info", msg, fields);
}

fn render(ts: &str, level: &str, msg: &str, fields: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(96);
    out.push('{');
    let pairs = [("ts", ts), ("level", level), ("msg", msg)];
    for (i, (key, value)) in pairs.iter().chain(fields).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        quote(&mut out, key);
        out.push_str(": ");
        quote(&mut out, value);
    }
    out.push_str("}\n");
    out
}

/// A logfmt line: `time=... level=INFO msg=... key=value`, values quoted when they must be.
fn render_logfmt(ts: &str, level: &str, msg: &str, fields: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(96);
    let level = level.to_ascii_uppercase();
    let pairs = [("time", ts), ("level", level.as_str()), ("msg", msg)];
    for (i, (key, value)) in pairs.iter().chain(fields).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(key);
        out.push('=');
        if value.is_empty() || value.chars().any(|c| c <= ' ' || c == '=' || c == '"' || c == '\\') {
            out.push('"');
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        } else {
            out.push_str(value);
        }
    }
    out.push('\n');
    out
}

/// A JSON string as Python's `json.dumps` writes it (`ensure_ascii`).
fn quote(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC, as node_exporter's logfmt writes it.
fn timestamp_millis(seconds: f64) -> String {
    let millis = ((seconds.max(0.0).fract()) * 1000.0) as u32;
    let whole = timestamp(seconds);
    format!("{}.{millis:03}Z", whole.trim_end_matches('Z'))
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC, as the Python side's `time.strftime` writes it.
fn timestamp(seconds: f64) -> String {
    let seconds = seconds.max(0.0) as i64;
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_python_json_dumps_shape() {
        let line = render("2026-12-01T08:45:01Z", "warn", "skipping \"x\"\n", &[("file", "/tmp/é"), ("n", "1")]);
        assert_eq!(
            line,
            "{\"ts\": \"2026-12-01T08:45:01Z\", \"level\": \"warn\", \"msg\": \"skipping \\\"x\\\"\\n\", \
             \"file\": \"/tmp/\\u00e9\", \"n\": \"1\"}\n"
        );
        assert!(render("t", "info", "\u{1f600}", &[]).contains("\\ud83d\\ude00"));
    }

    #[test]
    fn logfmt_lines_quote_what_must_be_quoted() {
        let line = render_logfmt(
            "2026-12-01T08:45:01.250Z",
            "error",
            "collector failed",
            &[("collector", "nfs"), ("error", "bad \"x\"")],
        );
        assert_eq!(
            line,
            "time=2026-12-01T08:45:01.250Z level=ERROR msg=\"collector failed\" collector=nfs error=\"bad \\\"x\\\"\"\n"
        );
        assert_eq!(timestamp_millis(1_796_114_701.25), "2026-12-01T08:45:01.250Z");
        assert_eq!(render_logfmt("t", "info", "", &[]), "time=t level=INFO msg=\"\"\n");
    }

    #[test]
    fn levels_rank_as_node_exporters() {
        assert!(rank("debug") < rank("info") && rank("info") < rank("warn") && rank("warn") < rank("error"));
        assert_eq!(rank(""), rank("info"), "unset is info");
    }

    #[test]
    fn timestamps_are_utc_civil_time() {
        assert_eq!(timestamp(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(timestamp(1_796_114_701.9), "2026-12-01T08:45:01Z");
    }
}
