//! Exemplars: an example observation (trace labels, its value, when) attached to a counter's
//! total or to one histogram bucket, as OpenMetrics shows it after the sample
//! (`x_total 3.0 # {trace_id="ab"} 1.0 1700000000.5`).
//!
//! An exemplar is rare next to the updates it rides on, so it is kept apart from the cells:
//! a series gets its [`Slots`] (one per counter, one per bucket) the first time it is given an
//! exemplar, and an update without one never touches them. A slot holds the latest exemplar
//! behind a short lock; a scrape clones the `Arc`. The labels are checked and rendered once,
//! when the exemplar is made: names as prometheus_client 0.26 checks them (not reserved `__`),
//! at most 128 UTF-8 characters of names and values together, OpenMetrics' limit.

use crate::error::{Error, Result};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// OpenMetrics' limit on an exemplar's label names and values, in characters.
pub const MAX_RUNES: usize = 128;

/// When an exemplar was taken.
#[derive(Debug, Clone, PartialEq)]
pub enum Time {
    /// Not given (a custom collector's exemplar without one).
    None,
    /// Seconds since the epoch, printed as Python prints a float.
    Seconds(f64),
    /// Printed as given (a custom collector's `Timestamp` or integer, as prometheus_client's `str()`).
    Text(Box<str>),
}

impl Time {
    /// Seconds since the epoch, if it has a time.
    pub fn seconds(&self) -> Option<f64> {
        match self {
            Time::None => None,
            Time::Seconds(seconds) => Some(*seconds),
            Time::Text(text) => text.parse().ok(),
        }
    }
}

/// One exemplar.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// Label pairs, as given.
    pub labels: Vec<(String, String)>,
    /// `a="x",b="y"`: sorted by name, values escaped (what OpenMetrics prints between braces).
    pub rendered: Box<str>,
    /// The observed value.
    pub value: f64,
    /// When.
    pub time: Time,
    /// Given by a custom collector as bare labels (a dict, not an `Exemplar`): handed back as
    /// given and not printed, since it has no value.
    pub labels_only: bool,
}

impl Exemplar {
    /// A checked exemplar: `Err` for a reserved label name or more than [`MAX_RUNES`]
    /// characters of labels, with prometheus_client's messages.
    pub fn new(labels: Vec<(String, String)>, value: f64, time: Time) -> Result<Exemplar> {
        validate(&labels)?;
        Ok(Exemplar::unchecked(labels, value, time))
    }

    /// An exemplar from a custom collector, kept as given (prometheus_client checks those at
    /// no point either).
    pub fn unchecked(labels: Vec<(String, String)>, value: f64, time: Time) -> Exemplar {
        let mut sorted: Vec<&(String, String)> = labels.iter().collect();
        sorted.sort();
        let mut rendered = String::new();
        for (i, (name, value)) in sorted.into_iter().enumerate() {
            if i > 0 {
                rendered.push(',');
            }
            rendered.push_str(name);
            rendered.push_str("=\"");
            crate::escape::label_value_string(&mut rendered, value);
            rendered.push('"');
        }
        Exemplar { labels, rendered: rendered.into_boxed_str(), value, time, labels_only: false }
    }
}

/// Checks exemplar labels as prometheus_client 0.26 does (names as a label's, so classic only
/// under legacy validation).
pub fn validate(labels: &[(String, String)]) -> Result<()> {
    let mut runes = 0;
    for (name, value) in labels {
        if name.starts_with("__") {
            return Err(Error::InvalidValue(format!("Reserved label metric name: {name}")));
        }
        crate::key::check_label_name(name)?;
        runes += name.chars().count() + value.chars().count();
    }
    if runes > MAX_RUNES {
        return Err(Error::InvalidValue(format!(
            "Exemplar labels have {runes} UTF-8 characters, exceeding the limit of {MAX_RUNES}"
        )));
    }
    Ok(())
}

/// Cells of one exemplar slot in a multiprocess file: a sequence count (odd while written), the
/// value, the time, the byte length, then the labels as `u16` length-prefixed names and values
/// (128 characters are at most 512 bytes, plus 4 per pair).
pub const SLOT_CELLS: usize = 4 + 80;

/// Writes `exemplar` into a file slot (the only writer is its process, under the GIL).
pub fn store(slot: &[AtomicU64], exemplar: &Exemplar) {
    let mut bytes = Vec::with_capacity(256);
    for (name, value) in &exemplar.labels {
        for text in [name, value] {
            bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
            bytes.extend_from_slice(text.as_bytes());
        }
    }
    if bytes.len() > (SLOT_CELLS - 4) * 8 {
        return; // a custom collector's longer one is never stored: this only takes checked ones
    }
    slot[0].fetch_add(1, Ordering::AcqRel);
    slot[1].store(exemplar.value.to_bits(), Ordering::Relaxed);
    slot[2].store(exemplar.time.seconds().unwrap_or(f64::NAN).to_bits(), Ordering::Relaxed);
    slot[3].store(bytes.len() as u64, Ordering::Relaxed);
    for (cell, chunk) in slot[4..].iter().zip(bytes.chunks(8)) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        cell.store(u64::from_le_bytes(word), Ordering::Relaxed);
    }
    slot[0].fetch_add(1, Ordering::AcqRel);
}

/// Reads a file slot (another process' too): `None` when empty, being written, or malformed.
pub fn load(slot: &[AtomicU64]) -> Option<Exemplar> {
    for _ in 0..100 {
        let before = slot[0].load(Ordering::Acquire);
        if before == 0 {
            return None;
        }
        if before % 2 == 1 {
            std::thread::yield_now();
            continue;
        }
        let value = f64::from_bits(slot[1].load(Ordering::Relaxed));
        let time = f64::from_bits(slot[2].load(Ordering::Relaxed));
        let len = (slot[3].load(Ordering::Relaxed) as usize).min((SLOT_CELLS - 4) * 8);
        let bytes: Vec<u8> =
            slot[4..].iter().flat_map(|cell| cell.load(Ordering::Relaxed).to_le_bytes()).take(len).collect();
        std::sync::atomic::fence(Ordering::Acquire);
        if slot[0].load(Ordering::Acquire) != before {
            continue;
        }
        let mut texts = Vec::new();
        let mut at = 0;
        while at + 2 <= bytes.len() {
            let n = u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
            let text = std::str::from_utf8(bytes.get(at + 2..at + 2 + n)?).ok()?;
            texts.push(text.to_owned());
            at += 2 + n;
        }
        let labels = texts.chunks_exact(2).map(|pair| (pair[0].clone(), pair[1].clone())).collect();
        let time = if time.is_nan() { Time::None } else { Time::Seconds(time) };
        return Some(Exemplar::unchecked(labels, value, time));
    }
    None
}

/// A series' exemplar slots: the latest exemplar of each counter or bucket.
pub struct Slots(Box<[Mutex<Option<Arc<Exemplar>>>]>);

impl Slots {
    /// `n` empty slots.
    pub fn new(n: usize) -> Slots {
        Slots((0..n).map(|_| Mutex::new(None)).collect())
    }

    /// Keeps `exemplar` as slot `index`'s latest (ignored past the end).
    pub fn set(&self, index: usize, exemplar: Arc<Exemplar>) {
        if let Some(slot) = self.0.get(index) {
            *slot.lock() = Some(exemplar);
        }
    }

    /// Slot `index`'s latest exemplar.
    pub fn get(&self, index: usize) -> Option<Arc<Exemplar>> {
        self.0.get(index)?.lock().clone()
    }
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slots({})", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn labels_are_sorted_and_escaped_once() {
        let exemplar = Exemplar::new(pairs(&[("z", "1"), ("a", "\n\"\\")]), 0.5, Time::None).unwrap();
        assert_eq!(&*exemplar.rendered, r#"a="\n\"\\",z="1""#);
    }

    #[test]
    fn limit_counts_characters_not_bytes() {
        // 128 characters, one of them three bytes long: accepted, as prometheus_client does.
        let at_limit = pairs(&[
            ("abcdefghijklmnopqrstuvwxyz", "26+16 characters"),
            ("x123456", "7+15 characters"),
            ("zyxwvutsrqponmlkjihgfedcba", "26+16 characters"),
            ("unicode", "7+15 chars    平"),
        ]);
        assert!(validate(&at_limit).is_ok());
        let mut over = at_limit;
        over[1].0.push('7');
        let err = validate(&over).unwrap_err().to_string();
        assert_eq!(err, "Exemplar labels have 129 UTF-8 characters, exceeding the limit of 128");
        assert!(validate(&pairs(&[("__name", "x")])).unwrap_err().to_string().contains("Reserved"));
        assert!(validate(&pairs(&[(":o)", "smile")])).is_ok(), "UTF-8 names, 0.26's default");
    }

    #[test]
    fn file_slots_round_trip() {
        let slot: Vec<AtomicU64> = (0..SLOT_CELLS).map(|_| AtomicU64::new(0)).collect();
        assert!(load(&slot).is_none());
        let exemplar = Exemplar::new(pairs(&[("trace_id", "平abc"), ("b", "")]), 0.25, Time::Seconds(12.5)).unwrap();
        store(&slot, &exemplar);
        assert_eq!(load(&slot).unwrap(), exemplar);
        let longest = Exemplar::new(pairs(&[("a".repeat(64).as_str(), "平".repeat(64).as_str())]), 1.0, Time::None);
        store(&slot, longest.as_ref().unwrap());
        assert_eq!(load(&slot).as_ref(), longest.as_ref().ok());
    }

    #[test]
    fn slots_keep_the_latest() {
        let slots = Slots::new(2);
        assert!(slots.get(0).is_none());
        slots.set(1, Arc::new(Exemplar::unchecked(vec![], 1.0, Time::Seconds(2.0))));
        slots.set(1, Arc::new(Exemplar::unchecked(vec![], 3.0, Time::Seconds(4.0))));
        slots.set(7, Arc::new(Exemplar::unchecked(vec![], 5.0, Time::None)));
        assert_eq!(slots.get(1).unwrap().value, 3.0);
        assert!(slots.get(0).is_none() && slots.get(7).is_none());
    }
}
