//! Wall-clock time for `_created` and `set_to_current_time`, with a process-wide override so
//! golden tests render the same bytes every run; and durations given in seconds, checked once here.

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

static FROZEN: AtomicU64 = AtomicU64::new(0);

/// Seconds since the Unix epoch, or the frozen time when one is set.
pub fn now() -> f64 {
    match FROZEN.load(Ordering::Relaxed) {
        0 => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
        bits => f64::from_bits(bits),
    }
}

/// `value` seconds as a duration, which must be more than 0; `what` names it in the error.
pub fn seconds(value: f64, what: &str) -> Result<Duration> {
    if value > 0.0 && value.is_finite() {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(Error::InvalidValue(format!("{what} must be more than 0 seconds, not {value}")))
    }
}

/// `value` seconds as a duration, which may be 0 (a deadline that is already due).
pub fn seconds_or_zero(value: f64, what: &str) -> Result<Duration> {
    if value == 0.0 {
        return Ok(Duration::ZERO);
    }
    seconds(value, what).map_err(|_| Error::InvalidValue(format!("{what} must be 0 seconds or more, not {value}")))
}

/// Freezes [`now`] at `seconds` (`None` thaws it). For tests.
pub fn freeze(seconds: Option<f64>) {
    FROZEN.store(seconds.map_or(0, f64::to_bits), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_must_be_positive_and_finite() {
        assert_eq!(super::seconds(1.5, "interval").unwrap(), std::time::Duration::from_millis(1500));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = super::seconds(bad, "interval").unwrap_err().to_string();
            assert!(err.starts_with("interval must be more than 0 seconds, not "), "{err}");
        }
    }
}
