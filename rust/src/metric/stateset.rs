//! StateSet (prometheus_client's Enum): one of a fixed list of states. The cell holds the
//! current state's index; each state is a sample labelled `<name>="<state>"`, 1 for the current
//! one. The states' escaped forms are made once. Process-local in multiprocess mode, as in
//! prometheus_client.

use super::{Extra, Line, Value};
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};

/// Cells per series: the index of the current state.
pub const CELLS: usize = 1;

/// The states, in order, with their escaped label values.
#[derive(Debug, Clone)]
pub struct States {
    names: Box<[String]>,
    escaped: Box<[Box<str>]>,
}

impl PartialEq for States {
    fn eq(&self, other: &States) -> bool {
        self.names == other.names
    }
}

impl std::ops::Deref for States {
    type Target = [String];
    fn deref(&self) -> &[String] {
        &self.names
    }
}

impl States {
    /// The states `names`, in order.
    pub fn new(names: Vec<String>) -> States {
        let escaped = names.iter().map(|name| crate::escape::label_value_owned(name).into_boxed_str()).collect();
        States { names: names.into(), escaped }
    }

    /// The index of `state`; the error names the valid states.
    pub fn index(&self, metric: &str, state: &str) -> Result<u64> {
        self.names.iter().position(|s| s == state).map(|i| i as u64).ok_or_else(|| {
            Error::InvalidValue(format!("Enum {metric:?} has no state {state:?}; states are {:?}", self.names))
        })
    }
}

/// Makes state number `index` the current one.
#[inline]
pub fn set(cells: &[AtomicU64], index: u64) {
    cells[0].store(index, Ordering::Relaxed);
}

/// A state set at a scrape.
#[derive(Debug, Clone, Copy)]
pub struct Reading<'a> {
    /// The family's name, which is also the states' label name.
    pub name: &'a str,
    /// The states.
    pub states: &'a States,
    /// The current state's index.
    pub current: usize,
}

/// Reads the cell.
#[inline]
pub fn read<'a>(cells: &[AtomicU64], name: &'a str, states: &'a States) -> Reading<'a> {
    Reading { name, states, current: cells[0].load(Ordering::Relaxed) as usize }
}

/// Sample line `index`: one per state, 1 for the current one.
#[inline]
pub fn line<'a>(reading: &Reading<'a>, index: usize) -> Option<Line<'a>> {
    let escaped = reading.states.escaped.get(index)?;
    let value = Value::Float(if index == reading.current { 1.0 } else { 0.0 });
    Some(Line { suffix: "", extra: Extra::Label(reading.name, escaped), value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_state_names_the_states_and_states_are_escaped() {
        let states = States::new(vec!["a".to_string(), "b\"".to_string()]);
        assert_eq!(states.index("e", "b\"").unwrap(), 1);
        assert!(states.index("e", "c").unwrap_err().to_string().contains(r#"["a", "b\""]"#));
        let cells = [AtomicU64::new(1)];
        let reading = read(&cells, "e", &states);
        let seen: Vec<_> = (0..).map_while(|i| line(&reading, i)).map(|l| (l.extra.rendered(), l.value)).collect();
        assert_eq!(seen, [("e=\"a\"".to_owned(), Value::Float(0.0)), ("e=\"b\\\"\"".to_owned(), Value::Float(1.0))]);
    }
}
