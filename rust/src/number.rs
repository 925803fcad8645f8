//! Numbers as Prometheus' own Go clients print them, so every value parses with Go's
//! `ParseFloat` and reads the same as client_golang's output. Shared by the wire formats and by
//! the metric kinds, which render their bucket bounds (`le`) once, when a family is made.
//!
//! Go prints floats with `strconv.AppendFloat(f, 'g', -1, 64)`: the shortest digits that round
//! trip, switching to an exponent (at least two digits) when the decimal exponent is below -4
//! or at least 6: `100000`, `1e+06`, `1.234567e+06`, `1e-05`. Specials are `NaN`, `+Inf`,
//! `-Inf`. OpenMetrics wants the canonical form for floats: the same plus `.0` when there is
//! neither a point nor an exponent (`1.0`, `10.0`), which is also how prometheus_client writes
//! `le` values, so bucket series keep their identity for users migrating from it.

/// Appends `value` in Go's `%g` shortest form.
pub fn write_go(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if value.fract() == 0.0 && value.abs() < 1e6 {
        out.extend_from_slice(itoa::Buffer::new().format(value as i64).as_bytes());
    } else {
        write_shortest(out, value);
    }
}

/// Appends `value` in OpenMetrics' canonical float form.
pub fn write_openmetrics(out: &mut Vec<u8>, value: f64) {
    let start = out.len();
    write_go(out, value);
    if value.is_finite() && !out[start..].iter().any(|&b| b == b'.' || b == b'e') {
        out.extend_from_slice(b".0");
    }
}

/// Appends a timestamp in seconds as a plain decimal (`1700000001.25`): exponent forms such as
/// `1.70000000125e+09` are valid numbers but not every OpenMetrics parser reads them as times.
pub fn write_timestamp(out: &mut Vec<u8>, seconds: f64) {
    if seconds.is_finite() && seconds.abs() < 1e16 {
        out.extend_from_slice(ryu::Buffer::new().format_finite(seconds).as_bytes());
    } else {
        write_go(out, seconds);
    }
}

/// [`write_openmetrics`] as a string, for `le` and `quantile` label values.
pub fn openmetrics_float(value: f64) -> String {
    let mut out = Vec::with_capacity(24);
    write_openmetrics(&mut out, value);
    String::from_utf8(out).expect("numbers are ASCII")
}

/// Appends an unsigned integer.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

fn write_shortest(out: &mut Vec<u8>, value: f64) {
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
    if !(-4..6).contains(&exponent) {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
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
    } else {
        out.extend_from_slice(&digits[..decimal_point as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[decimal_point as usize..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(value: f64) -> String {
        let mut out = Vec::new();
        write_go(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn matches_go_strconv_g_shortest() {
        // Expected strings are what Go's strconv.FormatFloat(v, 'g', -1, 64) prints.
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (1.5, "1.5"),
            (-2.5, "-2.5"),
            (100000.0, "100000"),
            (999999.0, "999999"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (123456.7, "123456.7"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (value, expected) in cases {
            assert_eq!(go(value), expected, "{value:e}");
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
    fn openmetrics_canonical_floats() {
        for (value, expected) in
            [(1.0, "1.0"), (0.005, "0.005"), (10.0, "10.0"), (1e6, "1e+06"), (f64::INFINITY, "+Inf")]
        {
            assert_eq!(openmetrics_float(value), expected);
        }
    }
}
