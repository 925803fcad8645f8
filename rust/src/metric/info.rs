//! Info and Enum (OpenMetrics' info and stateset): the cell holds an index. For Info it points
//! into the family's table of rendered label sets, for Enum into its list of states.

use crate::error::{Error, Result};
use crate::key;
use std::sync::atomic::{AtomicU64, Ordering};

/// Renders an Info's label pairs after checking them against the family's own label names.
pub fn render_info(metric: &str, label_names: &[String], pairs: &[(String, String)]) -> Result<String> {
    let mut names = Vec::with_capacity(pairs.len());
    for (name, _) in pairs {
        key::validate_label_name(name)?;
        if label_names.contains(name) {
            return Err(Error::ReservedLabelName {
                metric: metric.to_owned(),
                label: name.clone(),
                reason: "Info keys overlap the metric's label names",
            });
        }
        names.push(name.as_str());
    }
    let values: Vec<&str> = pairs.iter().map(|(_, v)| v.as_str()).collect();
    Ok(key::render_labels(&names, &values))
}

/// Finds a state's index, naming the valid states when it is unknown.
pub fn state_index(metric: &str, states: &[String], state: &str) -> Result<u64> {
    states
        .iter()
        .position(|s| s == state)
        .map(|i| i as u64)
        .ok_or_else(|| Error::InvalidValue(format!("Enum {metric:?} has no state {state:?}; states are {states:?}")))
}

/// Stores an index.
#[inline]
pub fn set_index(cells: &[AtomicU64], index: u64) {
    cells[0].store(index, Ordering::Relaxed);
}

/// Reads the index.
#[inline]
pub fn index(cells: &[AtomicU64]) -> usize {
    cells[0].load(Ordering::Relaxed) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_keys_may_not_overlap_labels() {
        let labels = vec!["host".to_string()];
        let ok = render_info("build", &labels, &[("version".into(), "1.2".into())]).unwrap();
        assert_eq!(ok, r#"version="1.2""#);
        let err = render_info("build", &labels, &[("host".into(), "a".into())]).unwrap_err();
        assert!(err.to_string().contains("overlap"));
    }

    #[test]
    fn unknown_state_names_the_states() {
        let states = vec!["a".to_string(), "b".to_string()];
        assert_eq!(state_index("e", &states, "b").unwrap(), 1);
        assert!(state_index("e", &states, "c").unwrap_err().to_string().contains(r#"["a", "b"]"#));
    }
}
