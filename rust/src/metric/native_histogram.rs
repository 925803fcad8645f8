//! Native histogram (client_golang's "sparse" histogram): exponential buckets of base
//! `2^(2^-schema)`, the schema picked from the bucket factor asked for; bucket `k` holds
//! `(base^(k-1), base^k]`; a zero bucket for `|v| <= zero threshold`; classic buckets alongside
//! (only `+Inf` when none were asked for, as client_golang does).
//!
//! The buckets live in the series' cells like every other kind, so multiprocess mode merges
//! them: after the classic cells come a header and two windows (positive and negative values)
//! of `max_bucket_number` consecutive bucket keys each. An observation whose key falls inside
//! its window is one `fetch_add` (plus the classic bucket and sum): no lock. One that falls
//! outside takes the series' lock (a cell, so it works across processes too) and moves the
//! window; when the populated keys no longer fit in it, client_golang's strategies apply in its
//! order: a reset once `min_reset_duration` has passed since the last one, then widening the
//! zero bucket up to `max_zero_threshold`, then halving the resolution (schema - 1, down to -4).
//! The window bounds the *span* of populated keys per sign, where client_golang bounds their
//! *number*: with sparse outliers obsagent reduces resolution sooner (written in the README).
//!
//! Writers of one series must not race each other through a window move: the binding holds the
//! GIL for every write (the GIL-free part of `observe_many` only computes keys), and a move
//! takes the lock. Readers (a scrape, the multiprocess reader, which maps other processes'
//! files read-only) never write: a sequence count, odd during a move, tells them to read again.

use super::histogram::{self, Bounds};
use super::load_f64;
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};

/// The finest and coarsest schemas client_golang uses.
pub const SCHEMA_MAX: i32 = 8;
/// The coarsest schema.
pub const SCHEMA_MIN: i32 = -4;
/// client_golang's default zero threshold, 2^-128.
pub const DEFAULT_ZERO_THRESHOLD: f64 = 2.938735877055719e-39;
/// client_golang's suggested bucket limit, and obsagent's default window.
pub const DEFAULT_MAX_BUCKETS: u32 = 160;

const LOCK: usize = 0;
const SCHEMA: usize = 1;
const ZERO_THRESHOLD: usize = 2;
const ZERO_COUNT: usize = 3;
const POSITIVE_OFFSET: usize = 4;
const NEGATIVE_OFFSET: usize = 5;
const LAST_RESET: usize = 6;
/// Odd while a window moves: readers (who may only read, as the multiprocess reader maps other
/// processes' files read-only) retry until they saw it even and unchanged.
const MOVES: usize = 7;
const HEADER: usize = 8;
/// Keys are stored biased, so that a zeroed cell means "not set yet".
const BIAS: i64 = 1 << 40;

/// A native histogram's fixed parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The factor asked for (at most this ratio between a bucket's bounds).
    pub factor: f64,
    /// The schema it gives.
    pub schema: i32,
    /// Observations of at most this magnitude count in the zero bucket.
    pub zero_threshold: f64,
    /// Bucket keys per window (per sign).
    pub max_buckets: u32,
    /// Seconds after a reset before another may happen; 0: never reset.
    pub min_reset_duration: f64,
    /// How far the zero bucket may widen to keep within `max_buckets`.
    pub max_zero_threshold: f64,
    /// Bucket bounds within one power of two, for schemas above 0 (`bounds[j] = 2^(j/2^s) / 2`).
    fractions: Box<[f64]>,
    /// For the configured schema (above 0): by the top `schema + 1` bits of a fraction's
    /// mantissa, the first bound at or above the smallest fraction with those bits. Cells are
    /// narrower than buckets, so the bucket is that one or the next: one comparison, no search.
    lookup: Box<[u16]>,
}

/// The schema for a bucket factor, as client_golang picks it.
pub fn pick_schema(factor: f64) -> i32 {
    let floor = factor.log2().log2().floor();
    if floor <= -8.0 {
        SCHEMA_MAX
    } else if floor >= 4.0 {
        SCHEMA_MIN
    } else {
        -(floor as i32)
    }
}

fn fractions(schema: i32) -> Box<[f64]> {
    if schema <= 0 {
        return Box::new([0.5]);
    }
    let n = 1usize << schema;
    (0..n).map(|j| 0.5 * (j as f64 / n as f64).exp2()).collect()
}

impl Config {
    /// Checks the Python arguments: `factor > 1`, thresholds not negative, at least one bucket.
    pub fn new(
        factor: f64,
        zero_threshold: Option<f64>,
        max_buckets: u32,
        min_reset_duration: f64,
        max_zero_threshold: f64,
    ) -> Result<Config> {
        let invalid = |message: String| Err(Error::InvalidValue(message));
        if factor.is_nan() || factor <= 1.0 || factor.is_infinite() {
            return invalid(format!("native_histogram_bucket_factor must be a number above 1, got {factor}"));
        }
        let zero_threshold = zero_threshold.unwrap_or(DEFAULT_ZERO_THRESHOLD);
        if zero_threshold.is_nan() || zero_threshold < 0.0 {
            return invalid(format!("native_histogram_zero_threshold must not be negative, got {zero_threshold}"));
        }
        if max_zero_threshold.is_nan() || max_zero_threshold < 0.0 {
            return invalid(format!(
                "native_histogram_max_zero_threshold must not be negative, got {max_zero_threshold}"
            ));
        }
        if !(1..=4096).contains(&max_buckets) {
            return invalid(format!(
                "native_histogram_max_bucket_number must be between 1 and 4096, got {max_buckets}"
            ));
        }
        if min_reset_duration.is_nan() || min_reset_duration < 0.0 {
            return invalid(format!(
                "native_histogram_min_reset_duration must not be negative, got {min_reset_duration}"
            ));
        }
        let schema = pick_schema(factor);
        let fractions = fractions(SCHEMA_MAX);
        let lookup: Box<[u16]> = if schema > 0 {
            let (n, stride) = (1usize << schema, 1usize << (SCHEMA_MAX - schema));
            let cells = 2 * n;
            (0..cells)
                .map(|c| {
                    let start = f64::from_bits(0.5f64.to_bits() | ((c as u64) << (52 - (schema + 1))));
                    (0..n).position(|j| fractions[j * stride] >= start).unwrap_or(n) as u16
                })
                .collect()
        } else {
            Box::default()
        };
        Ok(Config {
            factor,
            schema,
            zero_threshold,
            max_buckets,
            min_reset_duration,
            max_zero_threshold,
            fractions,
            lookup,
        })
    }

    fn window(&self) -> usize {
        self.max_buckets as usize
    }
}

/// Cells per series: the classic ones, the header, two windows.
pub fn cells(bounds: &Bounds, config: &Config) -> usize {
    histogram::cells(bounds) + HEADER + 2 * config.window()
}

/// The bucket key of a magnitude `v > 0` at `schema`, as client_golang computes it; `+Inf` is
/// one past the largest finite value's key.
pub fn key(v: f64, schema: i32, config: &Config) -> i32 {
    let (v, infinite) = if v.is_infinite() { (f64::MAX, true) } else { (v, false) };
    let (frac, exp) = frexp(v);
    let key = if schema > 0 {
        // The schema-8 table holds every finer table's bounds at stride 2^(8 - schema).
        let stride = 1usize << (SCHEMA_MAX - schema);
        let n = 1usize << schema;
        let bound = |j: usize| config.fractions[j * stride];
        let index = if schema == config.schema {
            let cell = ((frac.to_bits() >> (52 - (schema + 1))) as usize) & (2 * n - 1);
            let candidate = config.lookup[cell] as usize;
            candidate + usize::from(candidate < n && bound(candidate) < frac)
        } else {
            (0..n).position(|j| bound(j) >= frac).unwrap_or(n)
        };
        index as i32 + (exp - 1) * n as i32
    } else {
        let mut key = exp;
        if frac == 0.5 {
            key -= 1;
        }
        let offset = (1 << -schema) - 1;
        (key + offset) >> -schema
    };
    key + i32::from(infinite)
}

/// `v = frac * 2^exp` with `frac` in `[0.5, 1)`, as Go's `math.Frexp`.
fn frexp(v: f64) -> (f64, i32) {
    if v == 0.0 || !v.is_finite() {
        return (v, 0);
    }
    let bits = v.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if exponent == 0 {
        let (frac, exp) = frexp(v * (1u64 << 54) as f64);
        return (frac, exp - 54);
    }
    let frac = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (frac, exponent - 1022)
}

/// The upper bound of bucket `key` at `schema` (client_golang's `getLe`).
pub fn upper_bound(key: i32, schema: i32) -> f64 {
    if schema < 0 {
        let exp = key << -schema;
        if exp == 1024 {
            return f64::MAX;
        }
        return 2f64.powi(exp);
    }
    let per_octave = 1i32 << schema;
    let fraction_index = key.rem_euclid(per_octave);
    let frac = 0.5 * (fraction_index as f64 / per_octave as f64).exp2();
    let exp = key.div_euclid(per_octave) + 1;
    if frac == 0.5 && exp == 1025 {
        return f64::MAX;
    }
    frac * 2f64.powi(exp)
}

/// What a reader takes of the native part at once.
type State = (i32, f64, u64, Vec<(i32, u64)>, Vec<(i32, u64)>);

/// The native part of a series' cells.
struct Native<'a> {
    cells: &'a [AtomicU64],
    config: &'a Config,
}

/// The sign a window holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    Positive,
    Negative,
}

impl<'a> Native<'a> {
    fn of(cells: &'a [AtomicU64], bounds: &Bounds, config: &'a Config) -> Native<'a> {
        Native { cells: &cells[histogram::cells(bounds)..], config }
    }

    /// Takes the series' lock for a move (writers only, on cells they may write).
    fn lock(&self) -> Guard<'_> {
        while self.cells[LOCK].compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::thread::yield_now();
        }
        self.cells[MOVES].fetch_add(1, Ordering::AcqRel);
        Guard { lock: &self.cells[LOCK], moves: &self.cells[MOVES] }
    }

    /// `read()` of a consistent state: retried while a move is under way (at most a bounded
    /// number of times: a process killed mid-move leaves it odd for good).
    fn consistent<T>(&self, read: impl Fn(&Self) -> T) -> T {
        for _ in 0..10_000 {
            let before = self.cells[MOVES].load(Ordering::Acquire);
            if before % 2 == 1 {
                std::thread::yield_now();
                continue;
            }
            let value = read(self);
            std::sync::atomic::fence(Ordering::Acquire);
            if self.cells[MOVES].load(Ordering::Acquire) == before {
                return value;
            }
        }
        read(self)
    }

    fn schema(&self) -> i32 {
        match self.cells[SCHEMA].load(Ordering::Acquire) {
            0 => self.config.schema,
            biased => (biased as i64 - BIAS) as i32,
        }
    }

    fn set_schema(&self, schema: i32) {
        self.cells[SCHEMA].store((schema as i64 + BIAS) as u64, Ordering::Release);
    }

    fn zero_threshold(&self) -> f64 {
        match self.cells[ZERO_THRESHOLD].load(Ordering::Relaxed) {
            0 => self.config.zero_threshold,
            bits => f64::from_bits(bits),
        }
    }

    fn offset_cell(sign: Sign) -> usize {
        match sign {
            Sign::Positive => POSITIVE_OFFSET,
            Sign::Negative => NEGATIVE_OFFSET,
        }
    }

    fn offset(&self, sign: Sign) -> Option<i64> {
        match self.cells[Self::offset_cell(sign)].load(Ordering::Acquire) {
            0 => None,
            biased => Some(biased as i64 - BIAS),
        }
    }

    fn window(&self, sign: Sign) -> &[AtomicU64] {
        let w = self.config.window();
        let start = HEADER + if sign == Sign::Positive { 0 } else { w };
        &self.cells[start..start + w]
    }

    /// The window cell of `key`, if the window holds it.
    #[inline]
    fn slot(&self, sign: Sign, key: i32) -> Option<&AtomicU64> {
        let index = key as i64 - self.offset(sign)?;
        usize::try_from(index).ok().and_then(|i| self.window(sign).get(i))
    }

    /// The populated buckets of one sign, by key.
    fn entries(&self, sign: Sign) -> Vec<(i32, u64)> {
        let Some(offset) = self.offset(sign) else { return Vec::new() };
        let window = self.window(sign);
        window
            .iter()
            .enumerate()
            .filter_map(|(i, cell)| {
                let count = cell.load(Ordering::Relaxed);
                (count > 0).then_some(((offset + i as i64) as i32, count))
            })
            .collect()
    }

    /// Rewrites one window to hold `entries` (sorted keys whose span fits), centred.
    fn place(&self, sign: Sign, entries: &[(i32, u64)], also: Option<i32>) {
        let window = self.window(sign);
        window.iter().for_each(|cell| cell.store(0, Ordering::Relaxed));
        let keys = entries.iter().map(|&(k, _)| k).chain(also);
        let (lo, hi) = keys.fold((i32::MAX, i32::MIN), |(lo, hi), k| (lo.min(k), hi.max(k)));
        if lo > hi {
            self.cells[Self::offset_cell(sign)].store(0, Ordering::Release);
            return;
        }
        let span = (hi as i64 - lo as i64 + 1).min(window.len() as i64);
        let offset = lo as i64 - (window.len() as i64 - span) / 2;
        self.cells[Self::offset_cell(sign)].store((offset + BIAS) as u64, Ordering::Release);
        for &(key, count) in entries {
            let index = (key as i64 - offset).clamp(0, window.len() as i64 - 1) as usize;
            window[index].fetch_add(count, Ordering::Relaxed);
        }
    }

    /// Whether `entries` and `key` span at most a window.
    fn fits(&self, entries: &[(i32, u64)], key: i32) -> bool {
        let lo = entries.first().map_or(key, |&(k, _)| k.min(key));
        let hi = entries.last().map_or(key, |&(k, _)| k.max(key));
        (hi as i64 - lo as i64) < self.config.window() as i64
    }

    /// Adds `count` observations of bucket `key` (at the current schema) of `sign`, moving the
    /// window, widening the zero bucket or halving the resolution as needed (lock held).
    /// Returns `false` when it reset the histogram instead (the caller repeats the observation).
    fn add_slow(
        &self,
        sign: Sign,
        magnitude: Option<f64>,
        mut key: i32,
        count: u64,
        now: f64,
        may_reset: bool,
    ) -> bool {
        loop {
            if let Some(cell) = self.slot(sign, key) {
                cell.fetch_add(count, Ordering::Relaxed);
                return true;
            }
            let entries = self.entries(sign);
            if self.fits(&entries, key) {
                self.place(sign, &entries, Some(key));
                continue;
            }
            if may_reset && self.reset_due(now) {
                return false;
            }
            if let Some(magnitude) = magnitude {
                if self.widen_zero_bucket() {
                    if magnitude <= self.zero_threshold() {
                        self.cells[ZERO_COUNT].fetch_add(count, Ordering::Relaxed);
                        return true;
                    }
                    continue;
                }
            }
            let schema = self.schema();
            if schema > SCHEMA_MIN {
                self.halve();
                key = halved(key);
                continue;
            }
            // Even the coarsest buckets span more than a window: the edge bucket takes it.
            let offset = self.offset(sign).unwrap_or(key as i64);
            let edge = (key as i64 - offset).clamp(0, self.config.window() as i64 - 1) as usize;
            self.window(sign)[edge].fetch_add(count, Ordering::Relaxed);
            return true;
        }
    }

    /// Schema, zero threshold and count, and both signs' buckets.
    fn state(&self) -> State {
        (
            self.schema(),
            self.zero_threshold(),
            self.cells[ZERO_COUNT].load(Ordering::Relaxed),
            self.entries(Sign::Positive),
            self.entries(Sign::Negative),
        )
    }

    fn reset_due(&self, now: f64) -> bool {
        let last = load_f64(&self.cells[LAST_RESET]);
        self.config.min_reset_duration > 0.0 && now - last >= self.config.min_reset_duration
    }

    /// Merges the populated bucket closest to zero into the zero bucket, if the widened
    /// threshold stays within `max_zero_threshold`.
    fn widen_zero_bucket(&self) -> bool {
        if self.zero_threshold() >= self.config.max_zero_threshold {
            return false;
        }
        let (positive, negative) = (self.entries(Sign::Positive), self.entries(Sign::Negative));
        let smallest = positive.first().map(|e| e.0).into_iter().chain(negative.first().map(|e| e.0)).min();
        let Some(smallest) = smallest else { return false };
        let threshold = upper_bound(smallest, self.schema());
        if threshold > self.config.max_zero_threshold {
            return false;
        }
        self.cells[ZERO_THRESHOLD].store(threshold.to_bits(), Ordering::Relaxed);
        for sign in [Sign::Positive, Sign::Negative] {
            if let Some(cell) = self.slot(sign, smallest) {
                self.cells[ZERO_COUNT].fetch_add(cell.swap(0, Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        true
    }

    /// Halves the resolution: schema - 1, each bucket merged into the one covering it.
    fn halve(&self) {
        self.set_schema(self.schema() - 1);
        for sign in [Sign::Positive, Sign::Negative] {
            let mut merged: Vec<(i32, u64)> = Vec::new();
            for (key, count) in self.entries(sign) {
                let key = halved(key);
                match merged.last_mut() {
                    Some(last) if last.0 == key => last.1 += count,
                    _ => merged.push((key, count)),
                }
            }
            self.place(sign, &merged, None);
        }
    }

    /// Back to the state of a new series, with the reset time `now`.
    fn reset(&self, now: f64) {
        for cell in self.cells[SCHEMA..MOVES].iter().chain(&self.cells[HEADER..]) {
            cell.store(0, Ordering::Relaxed);
        }
        self.cells[LAST_RESET].store(now.to_bits(), Ordering::Relaxed);
    }
}

/// The key at the next coarser schema of bucket `key`: `ceil(key / 2)`.
#[inline]
fn halved(key: i32) -> i32 {
    (key + 1).div_euclid(2)
}

/// Holds a series' lock, with its move count odd.
struct Guard<'a> {
    lock: &'a AtomicU64,
    moves: &'a AtomicU64,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.moves.fetch_add(1, Ordering::AcqRel);
        self.lock.store(0, Ordering::Release);
    }
}

/// The classic part of an observation. With only the `+Inf` bucket, that bucket counts the NaN
/// observations alone and a reading adds the native buckets to it: one atomic add fewer for
/// every other observation (the native bucket counts it).
#[inline(always)]
fn observe_classic(cells: &[AtomicU64], bounds: &Bounds, value: f64) {
    if bounds.len() > 1 {
        histogram::observe(cells, bounds, value);
    } else {
        if value.is_nan() {
            cells[0].fetch_add(1, Ordering::Relaxed);
        }
        super::add_f64(&cells[1], value);
    }
}

/// Records one observation made at `now` (seconds; read only when a reset may be due).
#[inline]
pub fn observe(cells: &[AtomicU64], bounds: &Bounds, config: &Config, value: f64, now: impl Fn() -> f64) {
    observe_classic(cells, bounds, value);
    if value.is_nan() {
        return; // counted, summed (NaN), in no native bucket: client_golang's rule
    }
    let native = Native::of(cells, bounds, config);
    let magnitude = value.abs();
    if magnitude <= native.zero_threshold() {
        native.cells[ZERO_COUNT].fetch_add(1, Ordering::Relaxed);
        return;
    }
    let sign = if value > 0.0 { Sign::Positive } else { Sign::Negative };
    let key = key(magnitude, native.schema(), config);
    if let Some(cell) = native.slot(sign, key) {
        cell.fetch_add(1, Ordering::Relaxed);
        return;
    }
    observe_slow(cells, bounds, &native, sign, value, now());
}

#[cold]
fn observe_slow(cells: &[AtomicU64], bounds: &Bounds, native: &Native<'_>, sign: Sign, value: f64, now: f64) {
    let magnitude = value.abs();
    let _guard = native.lock();
    if native.cells[LAST_RESET].load(Ordering::Relaxed) == 0 {
        // The first time the window must move: the series' reset clock starts now.
        native.cells[LAST_RESET].store(now.to_bits(), Ordering::Relaxed);
    }
    loop {
        if magnitude <= native.zero_threshold() {
            native.cells[ZERO_COUNT].fetch_add(1, Ordering::Relaxed);
            return;
        }
        let key = key(magnitude, native.schema(), native.config);
        if native.add_slow(sign, Some(magnitude), key, 1, now, true) {
            return;
        }
        // A reset: everything starts again with this observation, as client_golang does.
        cells[..histogram::cells(bounds)].iter().for_each(|cell| cell.store(0, Ordering::Relaxed));
        native.reset(now);
        observe_classic(cells, bounds, value);
    }
}

/// A native histogram at a scrape.
#[derive(Debug, Clone)]
pub struct Reading<'a> {
    /// The classic part (its buckets, count and sum).
    pub classic: histogram::Reading<'a>,
    /// The schema.
    pub schema: i32,
    /// The zero bucket's threshold.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Populated positive buckets `(key, count)`, by key.
    pub positive: Vec<(i32, u64)>,
    /// Populated negative buckets (keys of the magnitudes), by key.
    pub negative: Vec<(i32, u64)>,
}

/// Reads the cells, with `cumulative` as room for the classic running totals.
pub fn read<'a>(cells: &[AtomicU64], bounds: &'a Bounds, config: &Config, cumulative: &'a mut Vec<u64>) -> Reading<'a> {
    let native = Native::of(cells, bounds, config);
    let (schema, zero_threshold, zero_count, positive, negative) = native.consistent(Native::state);
    let classic = if bounds.len() == 1 {
        // Only `+Inf`, which holds the NaN observations: the count is it and every native bucket.
        let native_count: u64 = zero_count + positive.iter().chain(&negative).map(|(_, count)| count).sum::<u64>();
        cumulative.clear();
        cumulative.push(cells[0].load(Ordering::Relaxed) + native_count);
        histogram::Reading { bounds, cumulative, sum: load_f64(&cells[1]) }
    } else {
        histogram::read(cells, bounds, cumulative)
    };
    Reading { classic, schema, zero_threshold, zero_count, positive, negative }
}

/// Spans and deltas of populated buckets, as client_golang writes them: a gap of at most two
/// buckets is filled with empty ones rather than starting a span; the first span's offset is
/// the first key, each next one's the gap since the previous span; deltas are each bucket's
/// count minus the previous bucket's.
pub fn spans(entries: &[(i32, u64)]) -> (Vec<(i32, u32)>, Vec<i64>) {
    let (mut spans, mut deltas): (Vec<(i32, u32)>, Vec<i64>) = (Vec::new(), Vec::new());
    let (mut previous, mut next_key) = (0i64, 0i32);
    for (n, &(key, count)) in entries.iter().enumerate() {
        let gap = key - next_key;
        if n == 0 || gap > 2 {
            spans.push((gap, 0));
        } else {
            for _ in 0..gap {
                spans.last_mut().expect("a span").1 += 1;
                deltas.push(-previous);
                previous = 0;
            }
        }
        spans.last_mut().expect("a span").1 += 1;
        deltas.push(count as i64 - previous);
        previous = count as i64;
        next_key = key + 1;
    }
    (spans, deltas)
}

/// Adds one process' series into the merged one (the reader's, which nobody else writes):
/// classic cells add up; native buckets are brought to the coarser of the two schemas and the
/// wider zero bucket, then added.
pub fn merge(bounds: &Bounds, config: &Config, into: &[AtomicU64], from: &[AtomicU64], first: bool) {
    histogram::merge(bounds, into, from);
    let (source, target) = (Native::of(from, bounds, config), Native::of(into, bounds, config));
    let (schema, threshold, zero_count, positive, negative) = source.consistent(Native::state);
    let entries = [(Sign::Positive, positive), (Sign::Negative, negative)];
    if first {
        target.set_schema(schema);
    }
    while target.schema() > schema {
        target.halve();
    }
    if threshold > target.zero_threshold() {
        target.cells[ZERO_THRESHOLD].store(threshold.to_bits(), Ordering::Relaxed);
    }
    target.cells[ZERO_COUNT].fetch_add(zero_count, Ordering::Relaxed);
    for (sign, entries) in entries {
        for (mut key, count) in entries {
            for _ in target.schema()..schema {
                key = halved(key);
            }
            if upper_bound(key, target.schema()) <= target.zero_threshold() {
                target.cells[ZERO_COUNT].fetch_add(count, Ordering::Relaxed);
                continue;
            }
            let before = target.schema();
            target.add_slow(sign, None, key, count, 0.0, false);
            debug_assert!(target.schema() <= before);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(factor: f64, max_buckets: u32) -> Config {
        Config::new(factor, None, max_buckets, 0.0, 0.0).unwrap()
    }

    fn zeroed(bounds: &Bounds, config: &Config) -> Vec<AtomicU64> {
        (0..cells(bounds, config)).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn schema_follows_the_factor_as_in_client_golang() {
        assert_eq!(pick_schema(1.1), 3);
        assert_eq!(pick_schema(2.0), 0);
        assert_eq!(pick_schema(1.00271), 8);
        assert_eq!(pick_schema(1.0001), 8);
        assert_eq!(pick_schema(65536.0), -4);
        assert_eq!(pick_schema(4.0), -1);
        for bad in [1.0, 0.5, f64::NAN, f64::INFINITY] {
            assert!(Config::new(bad, None, 160, 0.0, 0.0).is_err(), "{bad}");
        }
        assert!(Config::new(1.1, Some(-1.0), 160, 0.0, 0.0).unwrap_err().to_string().contains("negative"));
        assert!(Config::new(1.1, None, 0, 0.0, 0.0).is_err());
    }

    #[test]
    fn keys_and_bounds_agree_with_client_golang() {
        let c = config(1.1, 160);
        // Go's table for schema 3, to within one ulp (computed here, not copied; only an
        // observation exactly on a boundary could tell).
        for (index, go) in [(0, 0.5), (32, 0.5452538663326288), (128, 0.7071067811865475), (224, 0.9170040432046711)] {
            assert!((c.fractions[index] - go).abs() <= f64::EPSILON / 2.0, "{index}");
        }
        assert_eq!(key(1.0, 3, &c), 0);
        assert_eq!(key(1.0001, 3, &c), 1);
        assert_eq!(key(2.0, 3, &c), 8);
        assert_eq!(key(0.5, 3, &c), -8);
        assert_eq!(key(1.0, 0, &c), 0);
        assert_eq!(key(3.0, 0, &c), 2);
        assert_eq!(key(4.0, -1, &c), 1);
        assert_eq!(key(5.0, -1, &c), 2);
        for schema in [-4, -1, 0, 3, 8] {
            for v in [1e-9, 0.003, 0.7, 1.0, 3.3, 1e6] {
                let k = key(v, schema, &c);
                assert!(upper_bound(k - 1, schema) < v && v <= upper_bound(k, schema) * (1.0 + 1e-12), "{v} {schema}");
            }
        }
        assert_eq!(key(f64::INFINITY, 3, &c), key(f64::MAX, 3, &c) + 1);
        assert_eq!(upper_bound(key(f64::MAX, 0, &c), 0), f64::MAX);
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(frexp(5e-324).1, -1073);
    }

    #[test]
    fn the_lookup_table_agrees_with_a_search() {
        for factor in [1.0001, 1.003, 1.01, 1.05, 1.1, 1.2, 1.5] {
            let c = config(factor, 160);
            let mut x = 0x2545F4914F6CDD1Du64;
            for _ in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = f64::from_bits((x >> 12) | (1023u64 << 52)) * 2f64.powi((x % 40) as i32 - 20);
                let (frac, exp) = frexp(v);
                let n = 1usize << c.schema;
                let stride = 1usize << (SCHEMA_MAX - c.schema);
                let searched = (0..n).position(|j| c.fractions[j * stride] >= frac).unwrap_or(n) as i32;
                assert_eq!(key(v, c.schema, &c), searched + (exp - 1) * n as i32, "{v} at schema {}", c.schema);
            }
            let searched = |v: f64| {
                let (frac, exp) = frexp(v);
                let n = 1usize << c.schema;
                let stride = 1usize << (SCHEMA_MAX - c.schema);
                (0..n).position(|j| c.fractions[j * stride] >= frac).unwrap_or(n) as i32 + (exp - 1) * n as i32
            };
            for j in 0..(1usize << c.schema) {
                let bound = c.fractions[j << (SCHEMA_MAX - c.schema)];
                for v in [f64::from_bits(bound.to_bits() - 1), bound, f64::from_bits(bound.to_bits() + 1)] {
                    assert_eq!(
                        key(v * 8.0, c.schema, &c),
                        searched(v * 8.0),
                        "around bound {j} of schema {}",
                        c.schema
                    );
                }
            }
        }
    }

    #[test]
    fn observations_land_in_their_buckets_with_classic_alongside() {
        let (b, c) = (histogram::bounds(&[1.0]).unwrap(), config(2.0, 160));
        let cells = zeroed(&b, &c);
        for v in [0.0, 1.0, 1.5, 3.0, 3.5, -3.0, f64::NAN] {
            observe(&cells, &b, &c, v, || 0.0);
        }
        let mut cumulative = Vec::new();
        let r = read(&cells, &b, &c, &mut cumulative);
        assert_eq!((r.schema, r.zero_count, r.classic.count()), (0, 1, 7));
        assert_eq!(r.positive, vec![(0, 1), (1, 1), (2, 2)]);
        assert_eq!(r.negative, vec![(2, 1)]);
        assert!(r.classic.sum.is_nan());
        assert_eq!(spans(&r.positive), (vec![(0, 3)], vec![1, 0, 1]));
    }

    #[test]
    fn with_only_inf_the_count_is_the_native_buckets_and_the_nans() {
        let (b, c) = (histogram::inf_only(), config(1.1, 160));
        let cells = zeroed(&b, &c);
        for v in [0.0, 2.0, -2.0, f64::NAN, 1e300, f64::INFINITY] {
            observe(&cells, &b, &c, v, || 0.0);
        }
        let mut cumulative = Vec::new();
        let r = read(&cells, &b, &c, &mut cumulative);
        assert_eq!(r.classic.count(), 6);
        assert_eq!(r.zero_count + r.positive.iter().chain(&r.negative).map(|e| e.1).sum::<u64>(), 5);
        let merged = zeroed(&b, &c);
        merge(&b, &c, &merged, &cells, true);
        merge(&b, &c, &merged, &cells, false);
        assert_eq!(read(&merged, &b, &c, &mut cumulative).classic.count(), 12);
    }

    #[test]
    fn spans_fill_small_gaps_and_split_large_ones() {
        assert_eq!(spans(&[]), (vec![], vec![]));
        assert_eq!(spans(&[(-2, 3), (0, 1), (5, 2)]), (vec![(-2, 3), (4, 1)], vec![3, -3, 1, 1]));
    }

    #[test]
    fn too_wide_a_spread_halves_the_resolution() {
        let (b, c) = (histogram::inf_only(), config(1.1, 8));
        let cells = zeroed(&b, &c);
        let values: Vec<f64> = (0..200).map(|i| 1.05f64.powi(i)).collect();
        values.iter().for_each(|&v| observe(&cells, &b, &c, v, || 0.0));
        let mut cumulative = Vec::new();
        let r = read(&cells, &b, &c, &mut cumulative);
        assert!(r.schema < 3, "reduced from 3 to {}", r.schema);
        assert_eq!(r.positive.iter().map(|e| e.1).sum::<u64>(), 200, "nothing lost");
        let span = r.positive.last().unwrap().0 - r.positive.first().unwrap().0;
        assert!(span < 8);
        for (key, count) in &r.positive {
            let (lo, hi) = (upper_bound(key - 1, r.schema), upper_bound(*key, r.schema));
            let inside = values.iter().filter(|&&v| lo < v && v <= hi * (1.0 + 1e-12)).count() as u64;
            assert_eq!(inside, *count, "bucket {key}");
        }
    }

    #[test]
    fn the_zero_bucket_widens_before_resolution_drops_and_resets_come_first() {
        let b = histogram::inf_only();
        let c = Config::new(2.0, Some(0.0), 4, 0.0, 1.0).unwrap();
        let cells = zeroed(&b, &c);
        for v in [0.01, 0.1, 1.0, 10.0, 100.0] {
            observe(&cells, &b, &c, v, || 0.0);
        }
        let mut cumulative = Vec::new();
        let r = read(&cells, &b, &c, &mut cumulative);
        assert!(r.zero_threshold > 0.0 && r.zero_threshold <= 1.0, "{}", r.zero_threshold);
        assert_eq!(r.zero_count + r.positive.iter().map(|e| e.1).sum::<u64>(), 5);
        let resetting = Config::new(2.0, Some(0.0), 2, 60.0, 0.0).unwrap();
        let cells = zeroed(&b, &resetting);
        observe(&cells, &b, &resetting, 1.0, || 1000.0);
        observe(&cells, &b, &resetting, 1e6, || 1000.0); // moves the window: the reset clock starts
        observe(&cells, &b, &resetting, 1e9, || 1100.0); // does not fit, 100 s later: a reset
        let r = read(&cells, &b, &resetting, &mut cumulative);
        assert_eq!((r.classic.count(), r.positive.len()), (1, 1), "only the last observation is left");
    }

    #[test]
    fn merging_brings_processes_to_one_schema() {
        let b = histogram::inf_only();
        let (fine, coarse) = (config(1.1, 160), config(1.1, 160));
        let (one, two, merged) = (zeroed(&b, &fine), zeroed(&b, &coarse), zeroed(&b, &fine));
        for v in [1.0, 1.2, 5.0] {
            observe(&one, &b, &fine, v, || 0.0);
        }
        let c8 = config(1.1, 8);
        let narrow = zeroed(&b, &c8);
        for i in 0..40 {
            observe(&narrow, &b, &c8, 1.1f64.powi(i), || 0.0);
        }
        let mut cumulative = Vec::new();
        let reduced = read(&narrow, &b, &c8, &mut cumulative).schema;
        assert!(reduced < 3);
        // A second process with the first's settings, whose schema was reduced in place.
        let twin = Native::of(&two, &b, &coarse);
        observe(&two, &b, &coarse, 2.0, || 0.0);
        twin.halve();
        merge(&b, &fine, &merged, &one, true);
        merge(&b, &fine, &merged, &two, false);
        let r = read(&merged, &b, &fine, &mut cumulative);
        assert_eq!(r.schema, 2);
        assert_eq!(r.classic.count(), 4);
        assert_eq!(r.positive.iter().map(|e| e.1).sum::<u64>(), 4);
        let expected: Vec<(i32, u64)> = {
            let mut keys: Vec<i32> = [1.0, 1.2, 5.0, 2.0].iter().map(|&v| key(v, 2, &fine)).collect();
            keys.sort();
            let mut out: Vec<(i32, u64)> = Vec::new();
            for k in keys {
                match out.last_mut() {
                    Some(last) if last.0 == k => last.1 += 1,
                    _ => out.push((k, 1)),
                }
            }
            out
        };
        assert_eq!(r.positive, expected);
    }
}
