//! Counter: an integer cell for whole increments (one wait-free `fetch_add`) and a float cell
//! for fractional ones (CAS), the split client_golang uses. Value = integer + fraction.

use super::{add_f64, load_f64};
use std::sync::atomic::{AtomicU64, Ordering};

const INTEGER: usize = 0;
const FRACTION: usize = 1;

/// Adds a whole number.
#[inline]
pub fn inc_integer(cells: &[AtomicU64], amount: u64) {
    cells[INTEGER].fetch_add(amount, Ordering::Relaxed);
}

/// Adds any non-negative amount; the caller has checked the sign.
#[inline]
pub fn inc(cells: &[AtomicU64], amount: f64) {
    if amount.fract() == 0.0 && amount < 9.0e15 {
        inc_integer(cells, amount as u64);
    } else {
        add_f64(&cells[FRACTION], amount);
    }
}

/// The integer part alone when there is no fraction, which encoders print without a float.
#[inline]
pub fn integer_only(cells: &[AtomicU64]) -> Option<u64> {
    (cells[FRACTION].load(Ordering::Relaxed) == 0).then(|| cells[INTEGER].load(Ordering::Relaxed))
}

/// The current total.
#[inline]
pub fn get(cells: &[AtomicU64]) -> f64 {
    cells[INTEGER].load(Ordering::Relaxed) as f64 + load_f64(&cells[FRACTION])
}

/// Back to zero (prometheus_client's `Counter.reset`).
pub fn reset(cells: &[AtomicU64]) {
    cells.iter().for_each(|cell| cell.store(0, Ordering::Relaxed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_and_fractional_increments_add_up() {
        let cells = [AtomicU64::new(0), AtomicU64::new(0)];
        inc(&cells, 1.0);
        inc(&cells, 2.5);
        inc_integer(&cells, 3);
        assert_eq!(get(&cells), 6.5);
        assert_eq!(integer_only(&cells), None);
        reset(&cells);
        inc(&cells, 4.0);
        assert_eq!(integer_only(&cells), Some(4));
    }
}
