//! Info (OpenMetrics' info): constant label pairs with value 1. The cell holds an index into
//! the family's table of rendered label sets, so setting new pairs is one store. Info stays
//! process-local in multiprocess mode, as in prometheus_client.

use super::{Extra, Line, Value};
use crate::error::{Error, Result};
use crate::key;
use std::sync::atomic::{AtomicU64, Ordering};

/// Cells per series: the index of the current label set.
pub const CELLS: usize = 1;

/// Renders an Info's label pairs after checking them against the family's own label names.
pub fn render(metric: &str, label_names: &[String], pairs: &[(String, String)]) -> Result<String> {
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

/// Sample line `index`: `_info` with the series' labels and the rendered pairs, value 1.
#[inline]
pub fn line(pairs: &str, index: usize) -> Option<Line<'_>> {
    (index == 0).then_some(Line { suffix: "_info", extra: Extra::Rendered(pairs), value: Value::Float(1.0) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_keys_may_not_overlap_labels() {
        let labels = vec!["host".to_string()];
        let ok = render("build", &labels, &[("version".into(), "1.2".into())]).unwrap();
        assert_eq!(ok, r#"version="1.2""#);
        let err = render("build", &labels, &[("host".into(), "a".into())]).unwrap_err();
        assert!(err.to_string().contains("overlap"));
    }
}
