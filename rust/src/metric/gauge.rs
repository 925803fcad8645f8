//! Gauge: one cell holding `f64` bits. `set` is a store, `inc`/`dec` a CAS loop. How values from
//! several processes become one is the gauge's [`GaugeMode`] (prometheus_client's
//! `multiprocess_mode`); the modes that keep the most recent value have a second cell, the time
//! of the last update.

use super::{add_f64, load_f64, Line, Value};
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};

/// How a gauge's values from several processes merge (prometheus_client's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum GaugeMode {
    /// One series per process, with a `pid` label, exited processes included.
    All,
    /// As `All`, live processes only.
    LiveAll,
    /// The smallest value, exited processes included.
    Min,
    /// The smallest value of live processes.
    LiveMin,
    /// The largest value, exited processes included.
    Max,
    /// The largest value of live processes.
    LiveMax,
    /// The sum, exited processes included.
    Sum,
    /// The sum over live processes.
    LiveSum,
    /// The value set last, exited processes included.
    MostRecent,
    /// The value set last by a live process.
    LiveMostRecent,
}

impl GaugeMode {
    /// Every mode by name, in prometheus_client's spelling, in `repr` order.
    pub const NAMES: [(&'static str, GaugeMode); 10] = [
        ("all", GaugeMode::All),
        ("liveall", GaugeMode::LiveAll),
        ("min", GaugeMode::Min),
        ("livemin", GaugeMode::LiveMin),
        ("max", GaugeMode::Max),
        ("livemax", GaugeMode::LiveMax),
        ("sum", GaugeMode::Sum),
        ("livesum", GaugeMode::LiveSum),
        ("mostrecent", GaugeMode::MostRecent),
        ("livemostrecent", GaugeMode::LiveMostRecent),
    ];

    /// The mode named `name`; the error lists the valid names.
    pub fn parse(name: &str) -> Result<GaugeMode> {
        GaugeMode::NAMES.iter().find(|(n, _)| *n == name).map(|(_, mode)| *mode).ok_or_else(|| {
            let names: Vec<&str> = GaugeMode::NAMES.iter().map(|(name, _)| *name).collect();
            Error::InvalidValue(format!("Invalid multiprocess mode: {name:?}; valid modes are {names:?}"))
        })
    }

    /// The mode's name.
    pub fn name(self) -> &'static str {
        GaugeMode::NAMES[self as usize].0
    }

    /// The mode stored as `code` (its `repr`).
    pub fn from_code(code: u8) -> Option<GaugeMode> {
        GaugeMode::NAMES.get(code as usize).map(|(_, mode)| *mode)
    }

    /// Whether an exited process's value is dropped rather than kept.
    pub fn live_only(self) -> bool {
        matches!(
            self,
            GaugeMode::LiveAll
                | GaugeMode::LiveMin
                | GaugeMode::LiveMax
                | GaugeMode::LiveSum
                | GaugeMode::LiveMostRecent
        )
    }

    /// Whether each process keeps its own series, labelled with its pid.
    pub fn per_process(self) -> bool {
        matches!(self, GaugeMode::All | GaugeMode::LiveAll)
    }

    /// Whether a series carries the time of its last update in a second cell.
    pub fn timestamped(self) -> bool {
        matches!(self, GaugeMode::MostRecent | GaugeMode::LiveMostRecent)
    }

    /// Cells per series under this mode.
    pub fn cells(self) -> usize {
        1 + usize::from(self.timestamped())
    }
}

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

/// A gauge at a scrape: its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading(pub f64);

/// Sample line `index`: its one sample.
#[inline(always)]
pub fn line(value: f64, index: usize) -> Option<Line<'static>> {
    (index == 0).then_some(Line::plain("", Value::Float(value)))
}

/// Merges one process' cells into the merged ones by `mode`; `first` when nothing was merged
/// into them yet. The same rule serves a scrape and the retired totals.
pub fn merge(mode: GaugeMode, into: &[AtomicU64], from: &[AtomicU64], first: bool) {
    let value = load_f64(&from[0]);
    let replace = match mode {
        GaugeMode::Sum | GaugeMode::LiveSum => return add_f64(&into[0], value),
        GaugeMode::Min | GaugeMode::LiveMin => first || value < load_f64(&into[0]),
        GaugeMode::Max | GaugeMode::LiveMax => first || value > load_f64(&into[0]),
        GaugeMode::MostRecent | GaugeMode::LiveMostRecent => first || load_f64(&from[1]) > load_f64(&into[1]),
        GaugeMode::All | GaugeMode::LiveAll => true,
    };
    if replace {
        into.iter().zip(from).for_each(|(to, from)| to.store(from.load(Ordering::Relaxed), Ordering::Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(values: &[f64]) -> Vec<AtomicU64> {
        values.iter().map(|v| AtomicU64::new(v.to_bits())).collect()
    }

    #[test]
    fn set_add_get() {
        let cells = [AtomicU64::new(0)];
        set(&cells, 2.5);
        add(&cells, -1.0);
        assert_eq!(get(&cells), 1.5);
    }

    #[test]
    fn modes_by_name_and_merge_rules() {
        assert_eq!(GaugeMode::parse("livesum").unwrap(), GaugeMode::LiveSum);
        let err = GaugeMode::parse("average").unwrap_err().to_string();
        assert!(err.starts_with("Invalid multiprocess mode: \"average\"; valid modes are [\"all\""), "{err}");
        for (name, mode) in GaugeMode::NAMES {
            assert_eq!((mode.name(), GaugeMode::from_code(mode as u8)), (name, Some(mode)));
        }
        let merged = |mode: GaugeMode, processes: &[&[f64]]| {
            let into = cells(&vec![0.0; mode.cells()]);
            for (i, from) in processes.iter().enumerate() {
                merge(mode, &into, &cells(from), i == 0);
            }
            get(&into)
        };
        assert_eq!(merged(GaugeMode::Sum, &[&[1.0], &[2.5]]), 3.5);
        assert_eq!(merged(GaugeMode::Min, &[&[3.0], &[-1.0], &[2.0]]), -1.0);
        assert_eq!(merged(GaugeMode::Max, &[&[-3.0], &[-1.0], &[-2.0]]), -1.0);
        assert_eq!(merged(GaugeMode::MostRecent, &[&[7.0, 20.0], &[8.0, 10.0]]), 7.0, "set at time 20, the latest");
    }
}
