//! The blocking HTTP client that pushes and remote writes go through: `ureq` (rustls with ring,
//! no OpenSSL) on the caller's thread. Pushes are rare and the remote-write sender has a thread
//! of its own, so a blocking client is all either needs; it keeps the async runtime to the server.
//!
//! Every answer comes back as a [`Reply`], whatever its status: the callers decide what a 4xx
//! or 5xx means (the Pushgateway client raises, the remote-write sender retries or drops).

use crate::error::{Error, Result};
use std::io::Read;
use std::time::{Duration, SystemTime};

/// What the sender identifies as, in every request.
pub const USER_AGENT: &str = concat!("obsagent/", env!("CARGO_PKG_VERSION"));

/// How many bytes of an error answer's body are kept for a log line or an exception.
const REASON_BYTES: u64 = 1024;

/// An HTTP method the push code uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Pushgateway: replace the group.
    Put,
    /// Pushgateway: replace the families pushed; remote write: send samples.
    Post,
    /// Pushgateway: remove the group.
    Delete,
}

impl Method {
    /// Parses `PUT`, `POST` or `DELETE` (any case).
    pub fn parse(name: &str) -> Result<Method> {
        match name.to_ascii_uppercase().as_str() {
            "PUT" => Ok(Method::Put),
            "POST" => Ok(Method::Post),
            "DELETE" => Ok(Method::Delete),
            _ => Err(Error::InvalidValue(format!("unsupported method {name:?}"))),
        }
    }
}

/// Credentials sent with every request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// Nothing.
    #[default]
    None,
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

impl Auth {
    /// Basic auth (a user, with a password or none), a bearer token, or neither; not both.
    pub fn new(username: Option<String>, password: Option<String>, bearer_token: Option<String>) -> Result<Auth> {
        match (username, password, bearer_token) {
            (None, None, None) => Ok(Auth::None),
            (Some(username), password, None) => Ok(Auth::Basic { username, password: password.unwrap_or_default() }),
            (None, None, Some(token)) => Ok(Auth::Bearer(token)),
            _ => Err(Error::InvalidValue("give basic auth (username, password) or a bearer token, not both".into())),
        }
    }

    /// The `Authorization` header value, if any.
    pub fn header(&self) -> Option<String> {
        use base64::Engine;
        match self {
            Auth::None => None,
            Auth::Basic { username, password } => {
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
                Some(format!("Basic {token}"))
            }
            Auth::Bearer(token) => Some(format!("Bearer {token}")),
        }
    }
}

/// An answer from the server.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The `Retry-After` header, as a delay from now.
    pub retry_after: Option<Duration>,
    /// The start of the body (lossy UTF-8), for error messages.
    pub reason: String,
}

/// A connection pool; each request has a timeout of its own.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    /// A client with its own connection pool.
    pub fn new() -> Client {
        let config =
            ureq::Agent::config_builder().http_status_as_error(false).user_agent(USER_AGENT).max_redirects(0).build();
        Client { agent: config.new_agent() }
    }

    /// Sends one request that gives up after `timeout` (None: never); `Err` only when no
    /// answer came (connection refused, timeout, bad URL).
    pub fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Reply, String> {
        let result = match method {
            Method::Put => prepare(self.agent.put(url), headers, timeout).send(body),
            Method::Post => prepare(self.agent.post(url), headers, timeout).send(body),
            Method::Delete => prepare(self.agent.delete(url), headers, timeout).call(),
        };
        let mut response = result.map_err(|err| err.to_string())?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, SystemTime::now()));
        let mut reason = Vec::new();
        if status >= 300 {
            let _ = response.body_mut().as_reader().take(REASON_BYTES).read_to_end(&mut reason);
        }
        Ok(Reply { status, retry_after, reason: String::from_utf8_lossy(&reason).trim().to_owned() })
    }
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

fn prepare<B>(
    mut request: ureq::RequestBuilder<B>,
    headers: &[(&str, &str)],
    timeout: Option<Duration>,
) -> ureq::RequestBuilder<B> {
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.config().timeout_global(timeout).build()
}

/// `Retry-After` as a delay: delay-seconds, or an HTTP date (RFC 9110 IMF-fixdate) from `now`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let mut parts = value.split_ascii_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| *m == month_name)? as u64 + 1;
    let year: i64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':').map(|n| n.parse::<u64>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(days * 86_400 + hour * 3600 + minute * 60 + second))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u64, day: u64) -> Option<u64> {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12; // March is 0
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era as u64 * 365 + year_of_era as u64 / 4 - year_of_era as u64 / 100 + day_of_year;
    u64::try_from(era * 146_097 + day_of_era as i64 - 719_468).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", now), Some(Duration::ZERO)); // past
        assert_eq!(
            parse_retry_after("Tue, 29 Feb 2028 00:00:00 GMT", SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_835_395_200
        );
        for bad in ["", "-5", "1.5", "soon", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 32 Nov 1994 08:49:37 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn basic_and_bearer_headers() {
        let basic = Auth::Basic { username: "user".into(), password: "pass:word".into() };
        assert_eq!(basic.header().unwrap(), "Basic dXNlcjpwYXNzOndvcmQ=");
        assert_eq!(Auth::Bearer("t0k".into()).header().unwrap(), "Bearer t0k");
        assert_eq!(Auth::None.header(), None);
    }
}
