//! Metric and label names, and the rendered label set that identifies a series.
//!
//! A series is stored only as its *rendered* label pairs, `a="x",b="y"`, escaped once when the
//! series is born. Both wire formats escape label values the same way, so a scrape copies these
//! bytes as they are, and a lookup compares incoming values against them without unescaping
//! (see [`rendered_matches`]). Keeping one string per series instead of values plus a rendered
//! copy is what keeps a labeled series well under 200 bytes.
//!
//! Names a client registers follow prometheus_client 0.26's scheme: any UTF-8 name by default,
//! the classic charset only under legacy validation ([`set_legacy_validation`], process-wide
//! as in prometheus_client). What the daemon reads from elsewhere (textfiles, remote-write
//! labels) is held to the classic charset always ([`validate_metric_name`]).

use crate::error::{Error, Result};
use crate::escape;
use std::sync::atomic::{AtomicBool, Ordering};

static LEGACY_VALIDATION: AtomicBool = AtomicBool::new(false);

/// Turns legacy validation on (client names must be classic) or off (any UTF-8 name).
pub fn set_legacy_validation(legacy: bool) {
    LEGACY_VALIDATION.store(legacy, Ordering::Relaxed);
}

/// Whether client names must be in the classic charset.
pub fn legacy_validation() -> bool {
    LEGACY_VALIDATION.load(Ordering::Relaxed)
}

/// Checks a metric name against the legacy Prometheus set `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn validate_metric_name(name: &str) -> Result<()> {
    if escape::is_classic_metric_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidMetricName(name.to_owned()))
    }
}

/// Checks a label name against `[a-zA-Z_][a-zA-Z0-9_]*`; names starting with `__` are reserved.
pub fn validate_label_name(name: &str) -> Result<()> {
    if escape::is_classic_label_name(name) && !name.starts_with("__") {
        Ok(())
    } else {
        Err(Error::InvalidLabelName(name.to_owned()))
    }
}

/// Checks a metric name a client registers: not empty, and classic under legacy validation.
pub fn check_metric_name(name: &str) -> Result<()> {
    check_metric_name_under(name, legacy_validation())
}

/// Checks a label name a client registers: not empty, not reserved (`__`), and classic under
/// legacy validation.
pub fn check_label_name(name: &str) -> Result<()> {
    check_label_name_under(name, legacy_validation())
}

fn check_metric_name_under(name: &str, legacy: bool) -> Result<()> {
    if legacy || name.is_empty() {
        validate_metric_name(name)
    } else {
        Ok(())
    }
}

fn check_label_name_under(name: &str, legacy: bool) -> Result<()> {
    if legacy || name.is_empty() || name.starts_with("__") {
        validate_label_name(name)
    } else {
        Ok(())
    }
}

/// Joins `namespace_subsystem_name` and appends `_unit` unless the name already ends with it,
/// as prometheus_client does.
pub fn full_name(namespace: &str, subsystem: &str, name: &str, unit: &str) -> String {
    let mut full = String::with_capacity(namespace.len() + subsystem.len() + name.len() + unit.len() + 3);
    for part in [namespace, subsystem] {
        if !part.is_empty() {
            full.push_str(part);
            full.push('_');
        }
    }
    full.push_str(name);
    if !unit.is_empty() && !full.ends_with(&format!("_{unit}")) {
        full.push('_');
        full.push_str(unit);
    }
    full
}

/// Renders `a="x",b="y"` from parallel name and value lists.
pub fn render_labels<N: AsRef<str>, V: AsRef<str>>(names: &[N], values: &[V]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in names.iter().zip(values).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name.as_ref());
        out.push_str("=\"");
        escape::label_value_string(&mut out, value.as_ref());
        out.push('"');
    }
    out
}

/// Whether `rendered` (from [`render_labels`]) holds exactly `values` under `names`, compared
/// without allocating: each value byte must match its escaped form.
pub fn rendered_matches<N: AsRef<str>, V: AsRef<str>>(rendered: &str, names: &[N], values: &[V]) -> bool {
    let mut rest = rendered.as_bytes();
    for (i, (name, value)) in names.iter().zip(values).enumerate() {
        if i > 0 {
            let Some(tail) = rest.strip_prefix(b",") else { return false };
            rest = tail;
        }
        let name = name.as_ref().as_bytes();
        if rest.len() < name.len() + 2 || &rest[..name.len()] != name || &rest[name.len()..name.len() + 2] != b"=\"" {
            return false;
        }
        let Some(tail) = escape::strip_escaped(&rest[name.len() + 2..], value.as_ref()) else { return false };
        let Some(tail) = tail.strip_prefix(b"\"") else { return false };
        rest = tail;
    }
    rest.is_empty()
}

/// Splits a rendered label set back into `(name, value)` pairs, unescaping the values.
pub fn parse_rendered(rendered: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = rendered;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim_start_matches(',').to_owned();
        // A rendered set is ours, so well formed; a bad one ends the pairs rather than panicking.
        let Ok((value, taken)) = escape::read_label_value(&rest[eq + 2..]) else { break };
        pairs.push((name, value));
        rest = &rest[eq + 2 + taken..];
    }
    pairs
}

/// Splits a rendered label set back into `(name, value)` pairs by the names it was rendered
/// with, unescaping the values: unlike [`parse_rendered`], right for any UTF-8 name (one holding
/// `="` or `,` too).
pub fn parse_rendered_with<N: AsRef<str>>(rendered: &str, names: &[N]) -> Vec<(String, String)> {
    let mut pairs = Vec::with_capacity(names.len());
    let mut rest = rendered;
    for name in names {
        let name = name.as_ref();
        let Some(tail) = rest.strip_prefix(',').unwrap_or(rest).strip_prefix(name).and_then(|t| t.strip_prefix("=\""))
        else {
            break;
        };
        let Ok((value, taken)) = escape::read_label_value(tail) else { break };
        pairs.push((name.to_owned(), value));
        rest = &tail[taken..];
    }
    pairs
}

/// A stable hash of a label-value list, the same whatever the process (never Python's hash,
/// which is randomized per process). Values are separated by a byte UTF-8 can't contain.
pub fn hash_values<V: AsRef<str>>(values: &[V]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = foldhash::fast::FixedState::with_seed(0x6f62_7361_6765_6e74).build_hasher();
    for value in values {
        hasher.write(value.as_ref().as_bytes());
        hasher.write_u8(0xff);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        for ok in ["a", "_x", "a:b_c9", "http_requests_total"] {
            assert!(validate_metric_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a b", "é"] {
            let err = validate_metric_name(bad).unwrap_err().to_string();
            assert!(err.contains("Invalid metric name"), "{err}");
        }
    }

    #[test]
    fn client_names_follow_the_validation_scheme() {
        // The schemes are checked directly: flipping the process-wide flag here would race the
        // tests that make families in parallel.
        assert!(check_metric_name_under("my.metric 😱", false).is_ok());
        assert!(check_label_name_under("label.with:colon", false).is_ok());
        assert!(check_metric_name_under("", false).is_err());
        assert!(check_label_name_under("__reserved", false).is_err());
        assert!(check_label_name_under("", false).is_err());
        assert!(check_metric_name_under("my.metric", true).is_err());
        assert!(check_label_name_under("a:b", true).is_err());
        assert!(check_metric_name_under("a:b", true).is_ok());
        assert!(!legacy_validation(), "UTF-8 names by default, as prometheus_client 0.26");
        assert!(check_metric_name("my.metric").is_ok());
        assert!(validate_metric_name("my.metric").is_err(), "the daemon's own check stays classic");
    }

    #[test]
    fn label_names() {
        assert!(validate_label_name("method").is_ok());
        for bad in ["", "__reserved", "a:b", "1a"] {
            assert!(validate_label_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn full_name_adds_unit_once() {
        assert_eq!(full_name("ns", "sub", "latency", "seconds"), "ns_sub_latency_seconds");
        assert_eq!(full_name("", "", "latency_seconds", "seconds"), "latency_seconds");
    }

    #[test]
    fn render_match_and_parse_round_trip() {
        let names = ["a", "b"];
        let values = ["x\"y\\z\nw", "ü"];
        let rendered = render_labels(&names, &values);
        assert_eq!(rendered, r#"a="x\"y\\z\nw",b="ü""#);
        assert!(rendered_matches(&rendered, &names, &values));
        assert!(!rendered_matches(&rendered, &names, &["x\"y\\z\nw", "u"]));
        assert!(!rendered_matches(&rendered, &names, &["x", "ü"]));
        let parsed = parse_rendered(&rendered);
        assert_eq!(parsed, vec![("a".into(), values[0].into()), ("b".into(), "ü".into())]);
        assert_eq!(parse_rendered_with(&rendered, &names), parsed);
        let odd = ["a=\"b", "c,d"];
        let rendered = render_labels(&odd, &["v=\"w", "z"]);
        assert_eq!(
            parse_rendered_with(&rendered, &odd),
            vec![("a=\"b".into(), "v=\"w".into()), ("c,d".into(), "z".into())]
        );
    }

    #[test]
    fn hash_separates_values() {
        assert_ne!(hash_values(&["ab", "c"]), hash_values(&["a", "bc"]));
        assert_eq!(hash_values(&["a", "b"]), hash_values(&[String::from("a"), String::from("b")]));
    }
}
