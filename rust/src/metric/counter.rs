//! Counter: an integer cell for whole increments (one wait-free `fetch_add`) and a float cell
//! for fractional ones (CAS), the split client_golang uses. Value = integer + fraction.
//! Exposed as `<name>_total`; across processes the cells add up.

use super::{add_f64, load_f64, Line, Value};
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};

const INTEGER: usize = 0;
const FRACTION: usize = 1;
/// Cells per series.
pub const CELLS: usize = 2;

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

/// Adds `amount` after checking it is not negative (nor NaN), naming `metric` if it is.
#[inline]
pub fn inc_checked(cells: &[AtomicU64], amount: f64, metric: &str) -> Result<()> {
    if amount.is_nan() || amount < 0.0 {
        return Err(Error::NegativeIncrement { metric: metric.to_owned(), amount });
    }
    inc(cells, amount);
    Ok(())
}

/// The current total.
pub fn get(cells: &[AtomicU64]) -> f64 {
    cells[INTEGER].load(Ordering::Relaxed) as f64 + load_f64(&cells[FRACTION])
}

/// Back to zero (prometheus_client's `Counter.reset`).
pub fn reset(cells: &[AtomicU64]) {
    cells.iter().for_each(|cell| cell.store(0, Ordering::Relaxed));
}

/// A counter at a scrape: its two cells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    integer: u64,
    fraction: f64,
}

impl Reading {
    /// The total as a count when it has no fraction (encoders print it without a float).
    #[inline(always)]
    pub fn value(&self) -> Value {
        if self.fraction == 0.0 {
            Value::Count(self.integer)
        } else {
            Value::Float(self.total())
        }
    }

    /// The total.
    pub fn total(&self) -> f64 {
        self.integer as f64 + self.fraction
    }
}

/// Reads the cells.
#[inline(always)]
pub fn read(cells: &[AtomicU64]) -> Reading {
    Reading { integer: cells[INTEGER].load(Ordering::Relaxed), fraction: load_f64(&cells[FRACTION]) }
}

/// Sample line `index`: its one sample, `_total`.
#[inline(always)]
pub fn line(reading: &Reading, index: usize) -> Option<Line<'static>> {
    (index == 0).then(|| Line::plain("_total", reading.value()))
}

/// Adds one process' cells into the merged ones (also for `counter`-like summaries).
pub fn merge(into: &[AtomicU64], from: &[AtomicU64]) {
    into[INTEGER].fetch_add(from[INTEGER].load(Ordering::Relaxed), Ordering::Relaxed);
    add_f64(&into[FRACTION], load_f64(&from[FRACTION]));
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
        assert_eq!((read(&cells).value(), read(&cells).total()), (Value::Float(6.5), 6.5));
        reset(&cells);
        inc(&cells, 4.0);
        assert_eq!(read(&cells).value(), Value::Count(4));
        let err = inc_checked(&cells, -1.0, "jobs").unwrap_err().to_string();
        assert!(err.contains("non-negative amounts: \"jobs\" got -1"), "{err}");
        assert!(inc_checked(&cells, f64::NAN, "jobs").is_err());
        assert_eq!(get(&cells), 4.0, "a refused increment changes nothing");
    }

    #[test]
    fn merging_adds_both_cells() {
        let (into, from) = ([AtomicU64::new(0), AtomicU64::new(0)], [AtomicU64::new(0), AtomicU64::new(0)]);
        inc(&from, 2.5);
        inc(&from, 1.0);
        merge(&into, &from);
        merge(&into, &from);
        assert_eq!(get(&into), 7.0);
    }
}
