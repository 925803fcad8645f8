//! Classic histogram: one non-cumulative count per bucket, then the sum.
//!
//! There is no count cell: `_count` is the sum of the buckets, so `le="+Inf"` equals `_count`
//! by construction and a scrape never sees them disagree. NaN lands in the `+Inf` bucket only
//! and makes `_sum` NaN, as client_golang and client_rust do. Each bound's `le` label is
//! rendered once, when the family is made. Across processes buckets and sums add up.

use super::{add_f64, load_f64, Extra, Line, Value};
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};

/// prometheus_client's default buckets.
pub const DEFAULT_BUCKETS: [f64; 15] =
    [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, f64::INFINITY];

/// Upper bounds ending with `+Inf`, with their rendered `le` values.
#[derive(Debug, Clone)]
pub struct Bounds {
    values: Box<[f64]>,
    le: Box<[Box<str>]>,
}

impl PartialEq for Bounds {
    fn eq(&self, other: &Bounds) -> bool {
        self.values == other.values
    }
}

impl std::ops::Deref for Bounds {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        &self.values
    }
}

impl Bounds {
    /// The `le` label value of bucket `index`, as prometheus_client writes it (`0.5`, `1.0`, `+Inf`).
    pub fn le(&self, index: usize) -> &str {
        &self.le[index]
    }

    /// Whether `_sum` is exposed: not when a bucket is negative, since the sum could then go
    /// down, which OpenMetrics forbids for a counter-like series (prometheus_client drops it too).
    pub fn exposes_sum(&self) -> bool {
        self.values[0] >= 0.0
    }
}

/// Validates upper bounds, appending `+Inf` when missing (as prometheus_client does).
pub fn bounds(requested: &[f64]) -> Result<Bounds> {
    let mut values = requested.to_vec();
    if values.iter().any(|b| b.is_nan()) {
        return Err(Error::InvalidValue("Histogram buckets must not be NaN".into()));
    }
    if values.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::InvalidValue(format!("Histogram buckets not in strictly increasing order: {requested:?}")));
    }
    if values.last() != Some(&f64::INFINITY) {
        values.push(f64::INFINITY);
    }
    if values.len() < 2 {
        return Err(Error::InvalidValue("Histogram must have at least two buckets (one finite, then +Inf)".into()));
    }
    let le = values.iter().map(|&b| crate::number::python_float(b).into_boxed_str()).collect();
    Ok(Bounds { values: values.into_boxed_slice(), le })
}

/// Only the `+Inf` bucket: a native histogram's classic part when no buckets were asked for
/// (client_golang's rule), so that the text formats still show its count and sum.
pub fn inf_only() -> Bounds {
    Bounds { values: Box::new([f64::INFINITY]), le: Box::new(["+Inf".into()]) }
}

/// Cells per series: a count per bucket, then the sum.
pub fn cells(bounds: &Bounds) -> usize {
    bounds.len() + 1
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

/// A histogram at a scrape.
#[derive(Debug, Clone, Copy)]
pub struct Reading<'a> {
    /// Its bounds.
    pub bounds: &'a Bounds,
    /// Running bucket totals, one per bound; the last is the count.
    pub cumulative: &'a [u64],
    /// The sum of observations.
    pub sum: f64,
}

impl Reading<'_> {
    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }
}

/// Reads the cells, with `cumulative` as room for the running totals.
#[inline]
pub fn read<'a>(cells: &[AtomicU64], bounds: &'a Bounds, cumulative: &'a mut Vec<u64>) -> Reading<'a> {
    cumulative.clear();
    let mut total = 0u64;
    for cell in &cells[..bounds.len()] {
        total += cell.load(Ordering::Relaxed);
        cumulative.push(total);
    }
    Reading { bounds, cumulative, sum: load_f64(&cells[bounds.len()]) }
}

/// Sample line `index`: `_bucket{le}` per bound, `_count`, and `_sum` unless a bound is negative.
#[inline]
pub fn line<'a>(reading: &Reading<'a>, index: usize) -> Option<Line<'a>> {
    let buckets = reading.cumulative.len();
    if let Some(count) = reading.cumulative.get(index) {
        let le = Extra::Label("le", reading.bounds.le(index));
        return Some(Line { suffix: "_bucket", extra: le, value: Value::Count(*count) });
    }
    match index - buckets {
        0 => Some(Line::plain("_count", Value::Count(reading.count()))),
        1 if reading.bounds.exposes_sum() => Some(Line::plain("_sum", Value::Float(reading.sum))),
        _ => None,
    }
}

/// Adds one process' buckets and sum into the merged ones.
pub fn merge(bounds: &Bounds, into: &[AtomicU64], from: &[AtomicU64]) {
    for (to, from) in into[..bounds.len()].iter().zip(from) {
        to.fetch_add(from.load(Ordering::Relaxed), Ordering::Relaxed);
    }
    add_f64(&into[bounds.len()], load_f64(&from[bounds.len()]));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeroed(bounds: &Bounds) -> Vec<AtomicU64> {
        (0..cells(bounds)).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn bounds_are_checked_and_closed_with_inf() {
        let b = bounds(&[1.0, 2.0]).unwrap();
        assert_eq!(&*b, &[1.0, 2.0, f64::INFINITY]);
        assert_eq!((b.le(0), b.le(2)), ("1.0", "+Inf"));
        assert!(bounds(&[2.0, 1.0]).unwrap_err().to_string().contains("increasing"));
        assert!(bounds(&[f64::INFINITY]).unwrap_err().to_string().contains("at least two"));
        assert!(bounds(&[0.0, 1.0]).unwrap().exposes_sum());
        assert!(!bounds(&[-1.0, 1.0]).unwrap().exposes_sum());
    }

    #[test]
    fn observations_land_in_le_buckets_and_merge() {
        let b = bounds(&[1.0, 2.0]).unwrap();
        let c = zeroed(&b);
        for v in [0.5, 1.0, 1.5, 3.0, f64::NAN] {
            observe(&c, &b, v);
        }
        let mut cumulative = Vec::new();
        let reading = read(&c, &b, &mut cumulative);
        assert_eq!((reading.cumulative, reading.count()), (&[2, 3, 5][..], 5));
        assert!(reading.sum.is_nan());
        let lines: Vec<_> =
            (0..).map_while(|i| line(&reading, i)).map(|l| (l.suffix, l.extra.rendered(), l.value)).collect();
        assert_eq!(lines.len(), 5, "three buckets, the count, the sum");
        assert_eq!(lines[0], ("_bucket", "le=\"1.0\"".to_owned(), Value::Count(2)));
        assert_eq!(lines[3], ("_count", String::new(), Value::Count(5)));
        let merged = zeroed(&b);
        merge(&b, &merged, &c);
        merge(&b, &merged, &c);
        assert_eq!(read(&merged, &b, &mut cumulative).cumulative, &[4, 6, 10]);
    }

    #[test]
    fn many_equals_one_by_one() {
        let b = bounds(&DEFAULT_BUCKETS).unwrap();
        let (one, many) = (zeroed(&b), zeroed(&b));
        let values: Vec<f64> = (0..1000).map(|i| i as f64 / 97.0).collect();
        values.iter().for_each(|&v| observe(&one, &b, v));
        observe_many(&many, &b, values.iter().copied());
        let (mut x, mut y) = (Vec::new(), Vec::new());
        let (rx, ry) = (read(&one, &b, &mut x), read(&many, &b, &mut y));
        assert_eq!(rx.cumulative, ry.cumulative);
        assert!((rx.sum - ry.sum).abs() < 1e-9);
        let long: Vec<f64> = (1..=40).map(f64::from).collect();
        let long = bounds(&long).unwrap();
        assert_eq!(bucket_index(&long, 2.5), 2);
        assert_eq!(bucket_index(&long, 41.0), 40);
    }
}
