//! The text parsers (`obsagent::parse`) on malformed input: any text, or text built from the
//! formats' own pieces in any order, gives families or an error, never a panic (a panic in the
//! binding would reach Python as `PanicException`, not prometheus_client's `ValueError`).
//! Well-formed text is compared with prometheus_client in `tests/test_parser.py`; this only
//! looks for panics, fast and without Python. `make fuzz` runs many more cases (PROPTEST_CASES).

use obsagent::parse::{openmetrics, text};
use proptest::prelude::*;

/// Lines made of the formats' tokens (quotes, escapes, braces, exemplar and native histogram
/// syntax, multi-byte characters), joined in any order.
fn token_soup() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "a",
        "a_total",
        "a x\u{e9}{",
        "\u{e9} {",
        "\u{e9}}",
        "{\u{e9}",
        "a_bucket",
        "_count",
        "{",
        "}",
        "\"",
        "\\",
        "\\\"",
        "\\n",
        "=",
        ",",
        " ",
        "  ",
        "\t",
        "#",
        " # ",
        "1",
        "-1",
        "1.5",
        ".",
        "e",
        "NaN",
        "+Inf",
        "_",
        "le",
        "quantile",
        "é",
        "日本",
        "\u{1c}",
        "\r",
        "{count:1,sum:1,schema:0,zero_threshold:0,zero_count:0}",
        "positive_spans:[0:1]",
        "positive_deltas:[-1]",
        "# TYPE ",
        "# HELP ",
        "# UNIT ",
        "counter",
        "gauge",
        "histogram",
        "gaugehistogram",
        "summary",
        "info",
        "stateset",
        "\n",
        "# EOF",
    ]);
    prop::collection::vec(prop::collection::vec(token, 0..12).prop_map(|t| t.concat()), 0..10)
        .prop_map(|lines| lines.join("\n"))
}

proptest! {
    #[test]
    fn any_text_parses_or_is_refused(input in any::<String>()) {
        let _ = text::parse(&input);
        let _ = openmetrics::parse(&input);
    }

    #[test]
    fn token_soup_under_each_type_parses_or_is_refused(
        typ in prop::sample::select(vec!["counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset"]),
        input in token_soup(),
    ) {
        let text = format!("# TYPE a {typ}\n{input}\n# EOF\n");
        let _ = text::parse(&text);
        let _ = openmetrics::parse(&text);
    }

    #[test]
    fn token_soup_parses_or_is_refused(input in token_soup()) {
        let _ = text::parse(&input);
        let _ = openmetrics::parse(&input);
        let _ = openmetrics::parse(&format!("{input}\n# EOF\n"));
    }
}
