//! Summary as prometheus_client keeps it: a count and a sum, no quantiles (they cannot be
//! aggregated across processes or series anyway).

use super::{add_f64, load_f64};
use std::sync::atomic::{AtomicU64, Ordering};

/// Records one observation.
#[inline]
pub fn observe(cells: &[AtomicU64], value: f64) {
    cells[0].fetch_add(1, Ordering::Relaxed);
    add_f64(&cells[1], value);
}

/// `(count, sum)`.
pub fn get(cells: &[AtomicU64]) -> (u64, f64) {
    (cells[0].load(Ordering::Relaxed), load_f64(&cells[1]))
}
