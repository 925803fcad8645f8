//! Property tests of what reads untrusted input: the textfile parser (any text: an error or
//! families, never a panic; what it accepts survives encoding and parsing again) and the
//! server's query-string decoding. `make fuzz` runs many more cases (PROPTEST_CASES).

use obsagent::collect::textfile::parse;
use obsagent::encode::text::write_snapshot;
use obsagent::registry::MetricFamily;
use proptest::prelude::*;

/// A sample as compared: name, label pairs, value bits.
type Compared = (String, Vec<(String, String)>, u64);

/// Lines of a textfile: mostly well-formed samples, HELP and TYPE lines, with garbage mixed in.
fn textfile() -> impl Strategy<Value = String> {
    let name = "[a-zA-Z_:][a-zA-Z0-9_:]{0,12}";
    let label = "[a-zA-Z_][a-zA-Z0-9_]{0,6}";
    let value = prop_oneof![
        any::<f64>().prop_map(|v| format!("{v:?}")),
        Just("+Inf".to_owned()),
        Just("-Inf".to_owned()),
        Just("NaN".to_owned()),
        "[0-9.eE+-]{1,8}",
    ];
    let label_value = r#"([^"\\\n]|\\\\|\\"|\\n){0,8}"#;
    let sample = (name, prop::collection::vec((label, label_value), 0..3), value).prop_map(|(n, labels, v)| {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        if labels.is_empty() {
            format!("{n} {v}")
        } else {
            format!("{n}{{{}}} {v}", labels.join(","))
        }
    });
    let line = prop_oneof![
        6 => sample,
        1 => (name, "[ -~]{0,20}").prop_map(|(n, h)| format!("# HELP {n} {h}")),
        1 => (name, prop::sample::select(vec!["counter", "gauge", "untyped", "histogram", "summary", "bogus"]))
            .prop_map(|(n, t)| format!("# TYPE {n} {t}")),
        1 => any::<String>(),
    ];
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n") + "\n")
}

proptest! {
    #[test]
    fn the_textfile_parser_never_panics_and_what_it_accepts_round_trips(text in textfile()) {
        if let Ok(families) = parse(&text) {
            let mut encoded = Vec::new();
            for family in &families {
                write_snapshot(&mut encoded, family);
            }
            let again = parse(std::str::from_utf8(&encoded).unwrap())
                .map_err(|err| TestCaseError::fail(format!("{err}\n{}", String::from_utf8_lossy(&encoded))))?;
            let samples = |families: &[MetricFamily]| -> Vec<Compared> {
                families.iter().flat_map(|f| f.samples.iter()).map(|s| {
                    let labels = s.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                    // Values compare as Prometheus does: every NaN alike, -0 equal to 0.
                    let value = if s.value.is_nan() { f64::NAN } else if s.value == 0.0 { 0.0 } else { s.value };
                    (s.name.to_string(), labels, value.to_bits())
                }).collect()
            };
            prop_assert_eq!(samples(&families), samples(&again));
        }
    }

    #[test]
    fn arbitrary_bytes_are_an_error_or_families(text in any::<String>()) {
        let _ = parse(&text);
    }
}
