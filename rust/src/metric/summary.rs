//! Summary as prometheus_client keeps it: a count and a sum, no quantiles (they cannot be
//! aggregated across processes or series anyway). The cells have a counter's layout (an
//! integer, then a float) and merge as a counter's do.

use super::{add_f64, load_f64, Line, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// Cells per series: the count, then the sum.
pub const CELLS: usize = 2;

/// Records one observation.
#[inline]
pub fn observe(cells: &[AtomicU64], value: f64) {
    cells[0].fetch_add(1, Ordering::Relaxed);
    add_f64(&cells[1], value);
}

/// A summary at a scrape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Observations.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
}

/// Reads the cells.
#[inline]
pub fn read(cells: &[AtomicU64]) -> Reading {
    Reading { count: cells[0].load(Ordering::Relaxed), sum: load_f64(&cells[1]) }
}

/// Sample line `index`: `_count`, then `_sum`.
#[inline]
pub fn line(reading: &Reading, index: usize) -> Option<Line<'static>> {
    match index {
        0 => Some(Line::plain("_count", Value::Count(reading.count))),
        1 => Some(Line::plain("_sum", Value::Float(reading.sum))),
        _ => None,
    }
}

/// Adds one process' count and sum into the merged ones.
pub fn merge(into: &[AtomicU64], from: &[AtomicU64]) {
    super::counter::merge(into, from);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_count_sum_and_merge() {
        let (cells, merged) = ([AtomicU64::new(0), AtomicU64::new(0)], [AtomicU64::new(0), AtomicU64::new(0)]);
        observe(&cells, 1.5);
        observe(&cells, 2.0);
        merge(&merged, &cells);
        merge(&merged, &cells);
        assert_eq!(read(&merged), Reading { count: 4, sum: 7.0 });
    }
}
