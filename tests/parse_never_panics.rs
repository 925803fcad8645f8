//! The text parsers (`obsagent::parse`) on malformed input: any text, or text built from the
//! formats' own pieces in any order, gives families or an error, never a panic (a panic in the
//! binding would reach Python as `PanicException`, not prometheus_client's `ValueError`).
//! Well-formed text is compared with prometheus_client in `tests/test_parser.py`; this only
//! looks for panics, fast and without Python. `make fuzz` runs many more cases (PROPTEST_CASES).

use obsagent::parse::{openmetrics, text, Family, LineBuffer, ParseError, Parsed};
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

/// What a parse read, independent of the text.
fn owned(parsed: Parsed<'_>) -> (Vec<Family<'static>>, Option<ParseError>) {
    let families = parsed
        .families
        .into_iter()
        .map(|family| Family {
            name: family.name,
            documentation: family.documentation,
            typ: family.typ,
            unit: family.unit,
            samples: family.samples.into_iter().map(|sample| sample.into_owned()).collect(),
        })
        .collect();
    (families, parsed.error)
}

/// The text cut at the given character positions (any order, repeats allowed).
fn pieces(input: &str, cuts: &[usize]) -> Vec<String> {
    let chars: Vec<char> = input.chars().collect();
    let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % (chars.len() + 1)).collect();
    cuts.sort_unstable();
    let mut start = 0;
    let mut pieces = Vec::new();
    for cut in cuts.into_iter().chain(std::iter::once(chars.len())) {
        pieces.push(chars[start..cut].iter().collect());
        start = cut;
    }
    pieces
}

/// The text read piece by piece as `text_fd_to_metric_families` reads it: every family and
/// the error, as the whole text gives them.
fn streamed(input: &str, cuts: &[usize], openmetrics: bool) -> (Vec<Family<'static>>, Option<ParseError>) {
    let mut lines = LineBuffer::default();
    let mut families = Vec::new();
    let mut text_stream = text::Stream::default();
    let mut openmetrics_stream = openmetrics::Stream::default();
    for piece in pieces(input, cuts) {
        let whole = lines.lines(&piece);
        let parsed = if openmetrics { openmetrics_stream.read(&whole) } else { text_stream.read(&whole) };
        let (read, error) = owned(parsed);
        families.extend(read);
        if error.is_some() {
            return (families, error);
        }
    }
    let rest = lines.rest();
    let parsed = if openmetrics { openmetrics_stream.end(&rest) } else { text_stream.end(&rest) };
    let (read, error) = owned(parsed);
    families.extend(read);
    (families, error)
}

proptest! {
    #[test]
    fn text_read_in_pieces_parses_as_whole(input in token_soup(), cuts in prop::collection::vec(any::<usize>(), 0..8)) {
        // Compared as printed, where NaN equals NaN.
        let same = |a: (Vec<Family>, Option<ParseError>), b: (Vec<Family>, Option<ParseError>)| format!("{a:?}") == format!("{b:?}");
        prop_assert!(same(streamed(&input, &cuts, false), owned(text::parse(&input))));
        let input = format!("# TYPE a histogram\n{input}\n# EOF\n");
        prop_assert!(same(streamed(&input, &cuts, true), owned(openmetrics::parse(&input))));
        prop_assert!(same(streamed(&input, &cuts, false), owned(text::parse(&input))));
    }

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
