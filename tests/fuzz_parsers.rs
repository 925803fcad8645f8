//! Property tests of what reads untrusted input: the textfile parser (any text: an error or
//! families, never a panic; what it accepts survives encoding and parsing again), the web
//! configuration parser, and the HTTP server (whatever bytes a client sends, it answers HTTP or
//! closes, and serves the next client). `make fuzz` runs many more cases (PROPTEST_CASES).

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

/// Web configuration text: the real keys with arbitrary values, typos and garbage.
fn web_config() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "tls_server_config",
        "  cert_file",
        "  key_file",
        "  client_auth_type",
        "  client_ca_file",
        "  min_version",
        "  max_version",
        "  cipher_suites",
        "basic_auth_users",
        "  alice",
        "http_server_config",
        "  headers",
        "    X-Frame-Options",
        "  http2",
        "typo_field",
    ]);
    let line = prop_oneof![
        4 => (key, "[ -~]{0,16}").prop_map(|(k, v)| format!("{k}: {v}")),
        1 => any::<String>(),
    ];
    prop::collection::vec(line, 0..8).prop_map(|lines| lines.join("\n"))
}

/// Bytes a client might send: request lines with odd paths, queries and headers, or noise.
fn request() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec!["GET", "HEAD", "POST", "DELETE", "get", "BREW", ""]);
    let path = prop_oneof![Just("/metrics".to_owned()), "/[ -~]{0,24}", any::<String>()];
    let query = prop_oneof![Just(String::new()), "\\?[ -~]{0,30}"];
    let headers = prop::collection::vec(("[A-Za-z-]{1,12}", "[ -~]{0,30}"), 0..5);
    let structured = (method, path, query, headers).prop_map(|(m, p, q, h)| {
        let headers: String = h.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
        format!("{m} {p}{q} HTTP/1.1\r\nHost: fuzz\r\n{headers}\r\n").into_bytes()
    });
    prop_oneof![3 => structured, 1 => prop::collection::vec(any::<u8>(), 0..512)]
}

/// One server for every case: what a client sends must never stop it serving others.
fn server() -> &'static obsagent::serve::ServerHandle {
    static SERVER: std::sync::OnceLock<obsagent::serve::ServerHandle> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| {
        let registry = std::sync::Arc::new(obsagent::registry::Registry::new());
        let limits = obsagent::serve::Limits {
            header_read_timeout: std::time::Duration::from_millis(300),
            ..Default::default()
        };
        obsagent::serve::start("127.0.0.1:0".parse().unwrap(), registry, Default::default(), limits, None).unwrap()
    })
}

fn health(address: std::net::SocketAddr) -> bool {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

proptest! {
    #[test]
    fn the_web_config_parser_gives_a_config_or_an_error(text in web_config()) {
        let _ = obsagent::serve::WebConfig::parse(&text, std::path::Path::new("/nonexistent"));
    }

    #[test]
    fn whatever_a_client_sends_the_server_serves_on(bytes in request()) {
        use std::io::{Read, Write};
        let address = server().address();
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let _ = stream.write_all(&bytes);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        if !answer.is_empty() {
            prop_assert!(answer.starts_with(b"HTTP/1.1 "), "{}", String::from_utf8_lossy(&answer));
        }
        prop_assert!(health(address));
    }
}
