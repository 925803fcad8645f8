//! Numbers as prometheus_client prints them (its `utils.floatToGoString`), so that the default
//! exposition is byte for byte what users migrating from it see and diff in their tests. Shared
//! by the wire formats and by the metric kinds, which render their bucket bounds (`le`) once,
//! when a family is made.
//!
//! prometheus_client prints every value as a Python float: `repr(float)`, the shortest digits
//! that round trip, always with a point (`1.0`, `0.25`), in exponent form (`1e-05`, `1e+16`,
//! two exponent digits at least) below 1e-4 or from 1e16 on. It then moves a positive value of
//! seven or more integer digits to an exponent, as Go does (`1e+06`, `1.5e+07`), while a
//! negative one stays positional (`-1000000.0`). Specials are `NaN`, `+Inf`, `-Inf`. Integer
//! counts print the same way (`3.0`).
//! Every form parses with Go's `ParseFloat`, Prometheus' and prometheus_client's parsers.

/// Appends `value` as prometheus_client prints it.
pub fn write_python(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if value.fract() == 0.0 && value.abs() < 1e6 {
        // The common case (counts, integral gauges): no float formatting at all.
        if value == 0.0 && value.is_sign_negative() {
            out.push(b'-');
        }
        out.extend_from_slice(itoa::Buffer::new().format(value as i64).as_bytes());
        out.extend_from_slice(b".0");
    } else {
        write_shortest(out, value, true);
    }
}

/// Appends an integer count as prometheus_client prints it (`3.0`; it keeps counts as floats).
#[inline]
pub fn write_count(out: &mut Vec<u8>, value: u64) {
    if value < 1_000_000 {
        out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        out.extend_from_slice(b".0");
    } else {
        write_python(out, value as f64);
    }
}

/// Appends a timestamp in seconds as a plain decimal (`1700000001.25`): exponent forms such as
/// `1.70000000125e+09` are valid numbers but not every OpenMetrics parser reads them as times.
pub fn write_timestamp(out: &mut Vec<u8>, seconds: f64) {
    if seconds.is_finite() && seconds.abs() < 1e16 {
        out.extend_from_slice(ryu::Buffer::new().format_finite(seconds).as_bytes());
    } else {
        write_python(out, seconds);
    }
}

/// Appends a float as Python's `repr` prints it (`nan`, `inf`, no Go-style exponent for large
/// values): how prometheus_client writes a native histogram's fields, with `str()`.
pub fn write_repr(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        out.extend_from_slice(b"nan");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"inf" } else { b"-inf" });
    } else {
        write_shortest(out, value, false);
    }
}

/// [`write_python`] as a string, for `le` and `quantile` label values.
pub fn python_float(value: f64) -> String {
    let mut out = Vec::with_capacity(24);
    write_python(&mut out, value);
    String::from_utf8(out).expect("numbers are ASCII")
}

/// The shortest round-trip digits of a finite `value`, in Python's forms; `go_exponent` moves a
/// positive value of seven or more integer digits to an exponent, as prometheus_client does.
fn write_shortest(out: &mut Vec<u8>, value: f64, go_exponent: bool) {
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(value.abs()).as_bytes();
    let (mantissa, exp10) = match text.iter().position(|&b| b == b'e') {
        Some(e) => {
            (&text[..e], std::str::from_utf8(&text[e + 1..]).ok().and_then(|s| s.parse::<i32>().ok()).unwrap_or(0))
        }
        None => (text, 0),
    };
    // Digits without the point; `point` is how many of them stand before it.
    let mut digits = [0u8; 32];
    let mut len = 0;
    let mut point = None;
    for &b in mantissa {
        if b == b'.' {
            point = Some(len as i32);
        } else {
            digits[len] = b;
            len += 1;
        }
    }
    let mut point = point.unwrap_or(len as i32);
    let mut start = 0;
    while start < len - 1 && digits[start] == b'0' {
        start += 1;
        point -= 1;
    }
    while len > start + 1 && digits[len - 1] == b'0' {
        len -= 1;
    }
    let digits = &digits[start..len];
    let decimal_point = point + exp10;
    let exponent = decimal_point - 1;
    if value.is_sign_negative() {
        out.push(b'-');
    }
    if !(-4..16).contains(&exponent) || (go_exponent && value > 0.0 && exponent >= 6) {
        // Python's exponent form, and prometheus_client's Go-style one for large positive
        // values: a sign and at least two digits.
        write_mantissa(out, digits);
        out.extend_from_slice(if exponent < 0 { b"e-" } else { b"e+" });
        if exponent.abs() < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(itoa::Buffer::new().format(exponent.unsigned_abs()).as_bytes());
    } else if decimal_point <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-decimal_point) as usize));
        out.extend_from_slice(digits);
    } else if decimal_point as usize >= digits.len() {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', decimal_point as usize - digits.len()));
        out.extend_from_slice(b".0");
    } else {
        out.extend_from_slice(&digits[..decimal_point as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[decimal_point as usize..]);
    }
}

/// `d` or `d.ddd`: the digits with the point after the first.
fn write_mantissa(out: &mut Vec<u8>, digits: &[u8]) {
    out.push(digits[0]);
    if digits.len() > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits[1..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_as_python_repr_writes_them() {
        // Expected strings are Python 3's `repr(float)`.
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (100.0, "100.0"),
            (0.001, "0.001"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1234567.0, "1234567.0"),
            (1e16, "1e+16"),
            (123456789012345.6, "123456789012345.6"),
            (2.938735877055719e-39, "2.938735877055719e-39"),
            (-1.5e300, "-1.5e+300"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (value, expected) in cases {
            let mut out = Vec::new();
            write_repr(&mut out, value);
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{value:e}");
        }
    }

    fn python(value: f64) -> String {
        let mut out = Vec::new();
        write_python(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn matches_prometheus_client_float_to_go_string() {
        // Expected strings are what prometheus_client 0.26's utils.floatToGoString returns.
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (-1.0, "-1.0"),
            (1.5, "1.5"),
            (-2.5, "-2.5"),
            (100000.0, "100000.0"),
            (999999.0, "999999.0"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (1234567.5, "1.2345675e+06"),
            (1e10, "1e+10"),
            (-1e6, "-1000000.0"),
            (-1.5e7, "-15000000.0"),
            (123456.7, "123456.7"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (1e16, "1e+16"),
            (1e21, "1e+21"),
            (-1e21, "-1e+21"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (value, expected) in cases {
            assert_eq!(python(value), expected, "{value:e}");
        }
    }

    #[test]
    fn counts_print_as_floats() {
        for (value, expected) in [(0, "0.0"), (3, "3.0"), (999_999, "999999.0"), (1_000_000, "1e+06")] {
            let mut out = Vec::new();
            write_count(&mut out, value);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn timestamps_are_plain_decimals() {
        for (value, expected) in [(1700000001.25, "1700000001.25"), (1700000000.0, "1700000000.0"), (0.5, "0.5")] {
            let mut out = Vec::new();
            write_timestamp(&mut out, value);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn bucket_bounds() {
        for (value, expected) in [(0.005, "0.005"), (10.0, "10.0"), (f64::INFINITY, "+Inf")] {
            assert_eq!(python_float(value), expected);
        }
    }
}
