//! Wall-clock time for `_created` and `set_to_current_time`, with a process-wide override so
//! golden tests render the same bytes every run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static FROZEN: AtomicU64 = AtomicU64::new(0);

/// Seconds since the Unix epoch, or the frozen time when one is set.
pub fn now() -> f64 {
    match FROZEN.load(Ordering::Relaxed) {
        0 => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
        bits => f64::from_bits(bits),
    }
}

/// Freezes [`now`] at `seconds` (`None` thaws it). For tests.
pub fn freeze(seconds: Option<f64>) {
    FROZEN.store(seconds.map_or(0, f64::to_bits), Ordering::Relaxed);
}
