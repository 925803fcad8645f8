//! Value cells for each metric type and the updates on them: one atomic operation each.
//!
//! A series' values are a block of [`AtomicU64`] cells (see `region`); each file here knows
//! the layout of one type. Writers use `Relaxed`: a reader may see one cell of a series a moment
//! before another (a histogram's `_sum` may lag its buckets by one observation, which Prometheus
//! tolerates), but never a torn cell.

pub mod counter;
pub mod gauge;
pub mod histogram;
pub mod info;
pub mod summary;

use std::sync::atomic::{AtomicU64, Ordering};

/// What a family holds, with the per-type facts fixed at creation.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Monotonic total.
    Counter,
    /// Value that goes up and down.
    Gauge,
    /// Classic histogram.
    Histogram {
        /// Upper bounds, ending with `+Inf`.
        bounds: Box<[f64]>,
    },
    /// Count and sum of observations (no quantiles, as prometheus_client).
    Summary,
    /// Constant labels with value 1; the current label set is an index into the family's table.
    Info,
    /// One of a fixed set of states (prometheus_client's Enum, OpenMetrics' stateset).
    StateSet {
        /// The states, in order.
        states: Box<[String]>,
    },
}

impl Kind {
    /// How many cells one series of this kind occupies.
    pub fn cells(&self) -> usize {
        match self {
            Kind::Counter | Kind::Summary => 2,
            Kind::Gauge | Kind::Info | Kind::StateSet { .. } => 1,
            Kind::Histogram { bounds } => bounds.len() + 1,
        }
    }

    /// The type name prometheus_client uses (and OpenMetrics' `# TYPE`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram { .. } => "histogram",
            Kind::Summary => "summary",
            Kind::Info => "info",
            Kind::StateSet { .. } => "stateset",
        }
    }
}

/// Reads an `f64` stored as bits.
#[inline]
pub fn load_f64(cell: &AtomicU64) -> f64 {
    f64::from_bits(cell.load(Ordering::Relaxed))
}

/// Adds to an `f64` stored as bits (compare-and-swap loop; uncontended under the GIL).
#[inline]
pub fn add_f64(cell: &AtomicU64, amount: f64) {
    let mut current = cell.load(Ordering::Relaxed);
    loop {
        let next = (f64::from_bits(current) + amount).to_bits();
        match cell.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => current = actual,
        }
    }
}
