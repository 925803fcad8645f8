//! Classic histogram: one non-cumulative count per bucket, then the sum.
//!
//! There is no count cell: `_count` is the sum of the buckets, so `le="+Inf"` equals `_count`
//! by construction and a scrape never sees them disagree. NaN lands in the `+Inf` bucket only
//! and makes `_sum` NaN, as client_golang and client_rust do.

use super::{add_f64, load_f64};
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};

/// prometheus_client's default buckets.
pub const DEFAULT_BUCKETS: [f64; 15] =
    [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, f64::INFINITY];

/// Validates upper bounds, appending `+Inf` when missing (as prometheus_client does).
pub fn bounds(requested: &[f64]) -> Result<Box<[f64]>> {
    let mut bounds = requested.to_vec();
    if bounds.iter().any(|b| b.is_nan()) {
        return Err(Error::InvalidValue("Histogram buckets must not be NaN".into()));
    }
    if bounds.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::InvalidValue(format!("Histogram buckets not in strictly increasing order: {requested:?}")));
    }
    if bounds.last() != Some(&f64::INFINITY) {
        bounds.push(f64::INFINITY);
    }
    if bounds.len() < 2 {
        return Err(Error::InvalidValue("Histogram must have at least two buckets (one finite, then +Inf)".into()));
    }
    Ok(bounds.into_boxed_slice())
}

/// Whether `_sum` is exposed: not when a bucket is negative, since the sum could then go down,
/// which OpenMetrics forbids for a counter-like series (prometheus_client drops it too).
pub fn exposes_sum(bounds: &[f64]) -> bool {
    bounds[0] >= 0.0
}

/// Index of the bucket `value` falls in: the first bound `>= value`; NaN goes to `+Inf`.
#[inline]
pub fn bucket_index(bounds: &[f64], value: f64) -> usize {
    if bounds.len() < 35 {
        bounds.iter().position(|&b| value <= b).unwrap_or(bounds.len() - 1)
    } else {
        bounds.partition_point(|&b| b < value).min(bounds.len() - 1)
    }
}

/// Records one observation.
#[inline]
pub fn observe(cells: &[AtomicU64], bounds: &[f64], value: f64) {
    cells[bucket_index(bounds, value)].fetch_add(1, Ordering::Relaxed);
    add_f64(&cells[bounds.len()], value);
}

/// Records many observations: buckets counted locally first, then one atomic add per bucket.
pub fn observe_many(cells: &[AtomicU64], bounds: &[f64], values: impl Iterator<Item = f64>) {
    let mut counts = vec![0u64; bounds.len()];
    let mut sum = 0.0;
    for value in values {
        counts[bucket_index(bounds, value)] += 1;
        sum += value;
    }
    for (cell, count) in cells.iter().zip(counts) {
        if count > 0 {
            cell.fetch_add(count, Ordering::Relaxed);
        }
    }
    add_f64(&cells[bounds.len()], sum);
}

/// Fills `cumulative` with the running bucket totals and returns the sum.
pub fn snapshot(cells: &[AtomicU64], bounds: &[f64], cumulative: &mut Vec<u64>) -> f64 {
    cumulative.clear();
    let mut total = 0u64;
    for cell in &cells[..bounds.len()] {
        total += cell.load(Ordering::Relaxed);
        cumulative.push(total);
    }
    load_f64(&cells[bounds.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(n: usize) -> Vec<AtomicU64> {
        (0..n).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn bounds_are_checked_and_closed_with_inf() {
        assert_eq!(&*bounds(&[1.0, 2.0]).unwrap(), &[1.0, 2.0, f64::INFINITY]);
        assert!(bounds(&[2.0, 1.0]).unwrap_err().to_string().contains("increasing"));
        assert!(bounds(&[f64::INFINITY]).unwrap_err().to_string().contains("at least two"));
        assert!(exposes_sum(&bounds(&[0.0, 1.0]).unwrap()));
        assert!(!exposes_sum(&bounds(&[-1.0, 1.0]).unwrap()));
    }

    #[test]
    fn observations_land_in_le_buckets() {
        let b = bounds(&[1.0, 2.0]).unwrap();
        let c = cells(b.len() + 1);
        for v in [0.5, 1.0, 1.5, 3.0, f64::NAN] {
            observe(&c, &b, v);
        }
        let mut cumulative = Vec::new();
        let sum = snapshot(&c, &b, &mut cumulative);
        assert_eq!(cumulative, vec![2, 3, 5]);
        assert!(sum.is_nan());
    }

    #[test]
    fn many_equals_one_by_one() {
        let b = bounds(&DEFAULT_BUCKETS).unwrap();
        let (one, many) = (cells(b.len() + 1), cells(b.len() + 1));
        let values: Vec<f64> = (0..1000).map(|i| i as f64 / 97.0).collect();
        values.iter().for_each(|&v| observe(&one, &b, v));
        observe_many(&many, &b, values.iter().copied());
        let (mut x, mut y) = (Vec::new(), Vec::new());
        let (sx, sy) = (snapshot(&one, &b, &mut x), snapshot(&many, &b, &mut y));
        assert_eq!(x, y);
        assert!((sx - sy).abs() < 1e-9);
        let long: Vec<f64> = (1..=40).map(f64::from).collect();
        let long = bounds(&long).unwrap();
        assert_eq!(bucket_index(&long, 2.5), 2);
        assert_eq!(bucket_index(&long, 41.0), 40);
    }
}
