//! Summary with quantiles, as client_golang's: targeted quantiles (each with its allowed rank
//! error) estimated by the CKMS algorithm ("Effective computation of biased quantiles over data
//! streams", Cormode, Korn, Muthukrishnan, Srivastava) over a sliding window of `max_age`
//! seconds made of `age_buckets` streams: every observation goes into every stream; every
//! `max_age / age_buckets` the oldest is cleared and starts again, and quantiles are read from
//! the oldest, which has seen the longest window. An empty window reads NaN.
//!
//! Count and sum stay in the series' cells (a summary's layout), so multiprocess mode merges
//! them as a plain summary's; the streams live in this process only (a per-family map beside the
//! series, like exemplars): quantiles of different processes cannot be added up, so the merged
//! exposition of multiprocess mode shows count and sum without quantile lines, and a process'
//! own registry shows its own quantiles.

use super::{Extra, Line, Value};
use crate::error::{Error, Result};

/// The quantiles asked for, with their allowed errors, and their rendered `quantile` labels.
#[derive(Debug, Clone)]
pub struct Quantiles {
    /// `(quantile, error)`, by quantile.
    pub targets: Box<[(f64, f64)]>,
    /// The `quantile` label value of each target, as prometheus_client prints numbers.
    pub labels: Box<[Box<str>]>,
    /// Seconds a stream covers at most.
    pub max_age: f64,
    /// Streams in the window.
    pub age_buckets: u32,
}

impl PartialEq for Quantiles {
    fn eq(&self, other: &Quantiles) -> bool {
        self.targets == other.targets && self.max_age == other.max_age && self.age_buckets == other.age_buckets
    }
}

impl Quantiles {
    /// Checks what `Summary(quantiles=..., max_age=..., age_buckets=...)` was given: each
    /// quantile in (0, 1), each error in [0, 1), a positive age and at least one bucket.
    pub fn new(mut targets: Vec<(f64, f64)>, max_age: f64, age_buckets: u32) -> Result<Quantiles> {
        let invalid = |message: String| Err(Error::InvalidValue(message));
        for &(quantile, error) in &targets {
            if !(quantile > 0.0 && quantile < 1.0) {
                return invalid(format!("Summary quantiles must lie in (0, 1), got {quantile}"));
            }
            if !(0.0..1.0).contains(&error) {
                return invalid(format!("Summary quantile errors must lie in [0, 1), got {error} for {quantile}"));
            }
        }
        if !(max_age > 0.0 && max_age.is_finite()) {
            return invalid(format!("Summary max_age must be a positive number of seconds, got {max_age}"));
        }
        if age_buckets == 0 {
            return invalid("Summary age_buckets must be at least 1".into());
        }
        targets.sort_by(|a, b| a.0.total_cmp(&b.0));
        targets.dedup_by(|a, b| a.0 == b.0);
        let labels = targets.iter().map(|&(q, _)| crate::number::python_float(q).into_boxed_str()).collect();
        Ok(Quantiles { targets: targets.into(), labels, max_age, age_buckets })
    }

    /// The allowed rank spread at rank `r` of `n` (CKMS' targeted invariant).
    fn invariant(&self, r: f64, n: f64) -> f64 {
        self.targets
            .iter()
            .map(|&(q, e)| if q * n <= r { 2.0 * e * r / q } else { 2.0 * e * (n - r) / (1.0 - q) })
            .fold(f64::MAX, f64::min)
    }
}

#[derive(Debug, Clone, Copy)]
struct Tuple {
    value: f64,
    /// Rank difference from the previous tuple's lowest possible rank.
    width: f64,
    /// Spread between this tuple's lowest and highest possible rank.
    delta: f64,
}

/// One CKMS stream: compressed tuples, and a buffer of observations not merged in yet.
#[derive(Debug, Default)]
struct Stream {
    tuples: Vec<Tuple>,
    buffer: Vec<f64>,
    n: f64,
}

/// Observations buffered before a merge into the tuples, as client_golang's `BufCap`.
const BUFFER: usize = 500;

impl Stream {
    fn insert(&mut self, value: f64, quantiles: &Quantiles) {
        self.buffer.push(value);
        if self.buffer.len() >= BUFFER {
            self.flush(quantiles);
        }
    }

    fn flush(&mut self, quantiles: &Quantiles) {
        if self.buffer.is_empty() {
            return;
        }
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.sort_by(f64::total_cmp);
        let mut merged = Vec::with_capacity(self.tuples.len() + buffer.len());
        let (mut rank, mut existing) = (0.0, self.tuples.iter().peekable());
        for value in buffer.drain(..) {
            while let Some(tuple) = existing.next_if(|t| t.value <= value) {
                rank += tuple.width;
                merged.push(*tuple);
            }
            // A new tuple between others may be off by what the invariant allows there.
            let delta = if existing.peek().is_some() {
                (quantiles.invariant(rank, self.n).floor() - 1.0).max(0.0)
            } else {
                0.0
            };
            merged.push(Tuple { value, width: 1.0, delta });
            self.n += 1.0;
            rank += 1.0;
        }
        merged.extend(existing);
        self.tuples = merged;
        self.buffer = buffer;
        self.compress(quantiles);
    }

    fn compress(&mut self, quantiles: &Quantiles) {
        if self.tuples.len() < 2 {
            return;
        }
        let mut kept: Vec<Tuple> = Vec::with_capacity(self.tuples.len());
        let mut last = *self.tuples.last().expect("two tuples");
        let mut rank = self.n - 1.0 - last.width;
        for tuple in self.tuples[..self.tuples.len() - 1].iter().rev() {
            if tuple.width + last.width + last.delta <= quantiles.invariant(rank, self.n) {
                last.width += tuple.width;
            } else {
                kept.push(last);
                last = *tuple;
            }
            rank -= tuple.width;
        }
        kept.push(last);
        kept.reverse();
        self.tuples = kept;
    }

    fn query(&mut self, q: f64, quantiles: &Quantiles) -> f64 {
        self.flush(quantiles);
        let Some(first) = self.tuples.first() else { return f64::NAN };
        let mut target = (q * self.n).ceil();
        target += (quantiles.invariant(target, self.n) / 2.0).ceil();
        let (mut previous, mut rank) = (first.value, 0.0);
        let mut previous_width = first.width;
        for tuple in &self.tuples[1..] {
            rank += previous_width;
            if rank + tuple.width + tuple.delta > target {
                return previous;
            }
            previous = tuple.value;
            previous_width = tuple.width;
        }
        previous
    }

    fn clear(&mut self) {
        self.tuples.clear();
        self.buffer.clear();
        self.n = 0.0;
    }
}

/// One series' sliding window.
#[derive(Debug)]
pub struct Window {
    streams: Vec<Stream>,
    /// The oldest stream, the one read.
    head: usize,
    /// When the head stream is cleared next.
    head_expires: f64,
}

impl Window {
    /// An empty window starting at `now`.
    pub fn new(quantiles: &Quantiles, now: f64) -> Window {
        let streams = (0..quantiles.age_buckets).map(|_| Stream::default()).collect();
        Window { streams, head: 0, head_expires: now + quantiles.max_age / f64::from(quantiles.age_buckets) }
    }

    fn rotate(&mut self, quantiles: &Quantiles, now: f64) {
        let step = quantiles.max_age / f64::from(quantiles.age_buckets);
        if now - self.head_expires > quantiles.max_age * 2.0 {
            // Long idle: everything has aged out; no need to rotate one step at a time.
            self.streams.iter_mut().for_each(Stream::clear);
            self.head_expires = now + step;
            return;
        }
        while now > self.head_expires {
            self.streams[self.head].clear();
            self.head = (self.head + 1) % self.streams.len();
            self.head_expires += step;
        }
    }

    /// Records an observation made at `now`.
    pub fn observe(&mut self, quantiles: &Quantiles, value: f64, now: f64) {
        self.rotate(quantiles, now);
        if value.is_nan() {
            return; // counted and summed, but no rank for it
        }
        self.streams.iter_mut().for_each(|stream| stream.insert(value, quantiles));
    }

    /// The estimate of every target quantile at `now`, in target order (NaN when empty).
    pub fn quantiles(&mut self, quantiles: &Quantiles, now: f64) -> Vec<f64> {
        self.rotate(quantiles, now);
        let stream = &mut self.streams[self.head];
        quantiles.targets.iter().map(|&(q, _)| stream.query(q, quantiles)).collect()
    }
}

/// A summary with quantiles at a scrape.
#[derive(Debug, Clone)]
pub struct Reading<'a> {
    /// Count and sum.
    pub summary: super::summary::Reading,
    /// The targets asked for.
    pub quantiles: &'a Quantiles,
    /// The estimate of each target, in target order.
    pub values: Vec<f64>,
}

/// Sample line `index`: `{quantile="q"}` per target, then `_count` and `_sum`.
#[inline]
pub fn line<'a>(reading: &'a Reading<'_>, index: usize) -> Option<Line<'a>> {
    match reading.values.get(index) {
        Some(&value) => {
            let extra = Extra::Label("quantile", &reading.quantiles.labels[index]);
            Some(Line { suffix: "", extra, value: Value::Float(value) })
        }
        None => super::summary::line(&reading.summary, index - reading.values.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objectives() -> Quantiles {
        Quantiles::new(vec![(0.5, 0.05), (0.9, 0.01), (0.99, 0.001)], 600.0, 5).unwrap()
    }

    #[test]
    fn estimates_are_within_each_targets_rank_error() {
        let q = objectives();
        let mut window = Window::new(&q, 0.0);
        // A known stream: a permutation of 1..=100_000 (a multiplicative walk, no repeats).
        let n = 100_000u64;
        let mut x = 1u64;
        for _ in 0..n {
            x = x * 48271 % 2147483647;
            window.observe(&q, (x % n + 1) as f64, 1.0);
        }
        let estimates = window.quantiles(&q, 1.0);
        for (&(target, error), estimate) in q.targets.iter().zip(estimates) {
            // With 1..=n each once, a value's rank is the value itself.
            let rank = estimate / n as f64;
            assert!((rank - target).abs() <= error + 1e-9, "q{target}: rank {rank}, error {error}");
        }
    }

    #[test]
    fn observations_age_out_after_max_age() {
        let q = Quantiles::new(vec![(0.5, 0.01)], 10.0, 5).unwrap();
        let mut window = Window::new(&q, 0.0);
        for i in 0..100 {
            window.observe(&q, 1000.0 + f64::from(i), 1.0);
        }
        assert!(window.quantiles(&q, 5.0)[0] >= 1000.0);
        for i in 0..100 {
            window.observe(&q, f64::from(i), 9.0);
        }
        // At 11 s the first observations (at 1 s) are older than max_age: only the later ones count.
        assert!(window.quantiles(&q, 11.5)[0] < 100.0);
        assert!(window.quantiles(&q, 30.0)[0].is_nan(), "everything aged out");
    }

    #[test]
    fn bad_objectives_are_value_errors() {
        for (targets, age, buckets) in [
            (vec![(0.0, 0.01)], 600.0, 5),
            (vec![(1.0, 0.01)], 600.0, 5),
            (vec![(0.5, 1.0)], 600.0, 5),
            (vec![(0.5, -0.1)], 600.0, 5),
            (vec![(f64::NAN, 0.1)], 600.0, 5),
            (vec![(0.5, 0.1)], 0.0, 5),
            (vec![(0.5, 0.1)], 600.0, 0),
        ] {
            assert!(Quantiles::new(targets, age, buckets).is_err());
        }
        assert_eq!(&*objectives().labels[2], "0.99");
    }
}
