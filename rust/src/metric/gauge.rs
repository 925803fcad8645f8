//! Gauge: one cell holding `f64` bits. `set` is a store, `inc`/`dec` a CAS loop. A gauge whose
//! multiprocess mode keeps the most recent value has a second cell: the time of the last update.

use super::{add_f64, load_f64};
use std::sync::atomic::{AtomicU64, Ordering};

/// Sets the value.
#[inline]
pub fn set(cells: &[AtomicU64], value: f64) {
    cells[0].store(value.to_bits(), Ordering::Relaxed);
    stamp(cells);
}

#[inline]
fn stamp(cells: &[AtomicU64]) {
    if let Some(updated) = cells.get(1) {
        updated.store(crate::clock::now().to_bits(), Ordering::Relaxed);
    }
}

/// Adds `amount` (negative to decrease).
#[inline]
pub fn add(cells: &[AtomicU64], amount: f64) {
    add_f64(&cells[0], amount);
    stamp(cells);
}

/// The current value.
#[inline]
pub fn get(cells: &[AtomicU64]) -> f64 {
    load_f64(&cells[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_add_get() {
        let cells = [AtomicU64::new(0)];
        set(&cells, 2.5);
        add(&cells, -1.0);
        assert_eq!(get(&cells), 1.5);
    }
}
