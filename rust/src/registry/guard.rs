//! The cardinality guard: what keeps memory bounded whatever label values an application
//! makes. Past [`series_limit`] series, a family sends new label sets to one overflow series
//! (every label `__overflow__`), counts each such lookup in
//! `obsagent_series_dropped_total{metric}` and logs one warning. A label value longer than
//! [`label_value_limit`] bytes is refused when a series would be made with it.
//!
//! The limits are process-wide settings (a family may have its own series limit) read when a
//! series is made, so the hot path (an existing series) pays nothing for them.

use super::family::Family;
use super::{Collector, MetricFamily};
use crate::error::Result;
use crate::metric::{counter, Kind};
use crate::registry::Options;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The value of every label of a family's overflow series.
pub const OVERFLOW: &str = "__overflow__";

static SERIES_LIMIT: AtomicUsize = AtomicUsize::new(100_000);
static LABEL_VALUE_LIMIT: AtomicUsize = AtomicUsize::new(4096);

/// Series a labeled family may hold before new label sets overflow (default 100,000).
pub fn series_limit() -> usize {
    SERIES_LIMIT.load(Ordering::Relaxed)
}

/// Sets the series limit of every family (0 is taken as 1).
pub fn set_series_limit(limit: usize) {
    SERIES_LIMIT.store(limit.max(1), Ordering::Relaxed);
}

/// Bytes a label value may have (default 4096).
pub fn label_value_limit() -> usize {
    LABEL_VALUE_LIMIT.load(Ordering::Relaxed)
}

/// Sets the label value length limit (0 is taken as 1).
pub fn set_label_value_limit(limit: usize) {
    LABEL_VALUE_LIMIT.store(limit.max(1), Ordering::Relaxed);
}

/// `obsagent_series_dropped_total{metric}`: label lookups sent to an overflow series. Its own
/// series (one per family that overflowed) are not limited.
pub fn dropped() -> &'static Arc<Family> {
    static DROPPED: OnceLock<Arc<Family>> = OnceLock::new();
    DROPPED.get_or_init(|| {
        let help = "Label lookups past a family's series limit, sent to its overflow series.";
        Family::new_unlimited("obsagent_series_dropped", help, Kind::Counter, vec!["metric".to_owned()])
    })
}

/// Serves `obsagent_series_dropped_total` once some family has overflowed.
pub struct DroppedSeries;

impl Collector for DroppedSeries {
    fn names(&self) -> Vec<String> {
        vec!["obsagent_series_dropped".to_owned(), "obsagent_series_dropped_total".to_owned()]
    }

    fn collect(&self, _: &Options, out: &mut Vec<MetricFamily>) -> Result<()> {
        if !dropped().is_empty() {
            out.push(dropped().snapshot(false));
        }
        Ok(())
    }
}

/// Records one lookup that went to `metric`'s overflow series; the first is logged.
pub(super) fn overflowed(metric: &str, limit: usize, first: bool) {
    if let Ok(series) = dropped().labels(&[metric]) {
        counter::inc(series.cells(), 1.0);
    }
    if first {
        let detail = format!("{metric} has {limit} series; new label sets go to {OVERFLOW}");
        crate::log::warn("series limit reached", &[("collector", "cardinality"), ("detail", &detail)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{self, Format};
    use crate::registry::Options;
    use crate::registry::Registry;

    #[test]
    fn past_the_limit_label_sets_share_the_overflow_series_and_are_counted() {
        let family = Family::new("guarded_requests", "", "", Kind::Counter, vec!["user".into()]).unwrap();
        family.set_series_limit(3);
        for user in ["a", "b", "c", "d", "e", "d"] {
            counter::inc(family.labels(&[user]).unwrap().cells(), 1.0);
        }
        assert_eq!(family.len(), 4, "three series and the overflow one");
        let overflow = family.labels(&[OVERFLOW]).unwrap();
        assert_eq!(counter::get(overflow.cells()), 3.0);
        assert_eq!(counter::get(family.labels(&["a"]).unwrap().cells()), 1.0, "existing series still count");
        let dropped = dropped().labels(&["guarded_requests"]).unwrap();
        assert_eq!(counter::get(dropped.cells()), 3.0, "d, e and d again");
        let registry = Registry::new();
        registry.register_family(family).unwrap();
        let text = String::from_utf8(encode::encode(&registry, Format::Text, &Options::default()).unwrap()).unwrap();
        assert!(text.contains("guarded_requests_total{user=\"__overflow__\"} 3.0\n"), "{text}");
    }

    #[test]
    fn a_label_value_past_the_length_limit_is_refused() {
        let family = Family::new("guarded_paths", "", "", Kind::GAUGE, vec!["path".into()]).unwrap();
        let long = "x".repeat(label_value_limit() + 1);
        let err = family.labels(&[long.as_str()]).err().unwrap().to_string();
        assert!(err.contains("label \"path\" of \"guarded_paths\" is 4097 bytes long; the limit is 4096"), "{err}");
        assert_eq!(family.len(), 0);
        assert!(family.labels(&["x".repeat(label_value_limit()).as_str()]).is_ok());
    }
}
