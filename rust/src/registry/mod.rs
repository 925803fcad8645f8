//! The registry: native families and other collectors in registration order, with
//! prometheus_client's duplicate-name check, and a walk over everything for a scrape.
//!
//! A scrape walks the entries with a [`FamilySink`] (an encoder, the remote-write scraper):
//! native families are handed over as they are, to be read from their cells; other collectors
//! hand over the plain families they collect. The walk clones the entry list under a short read
//! lock and works without it, so a collector that takes its time (or calls back into Python)
//! never blocks registration.

pub mod family;
pub mod guard;
pub mod snapshot;

use crate::error::{Error, Result};
pub use family::{Family, Series};
use parking_lot::RwLock;
pub use snapshot::{MetricFamily, Sample, Text};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What a scrape asks for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Emit `_created` series for counters, histograms and summaries.
    pub created: bool,
    /// Only these collectors (the `collect[]` URL parameter); empty means all enabled.
    pub collect: Vec<String>,
    /// Not these collectors (the `exclude[]` URL parameter).
    pub exclude: Vec<String>,
}

impl Options {
    /// Whether the collector `name` is wanted by this scrape.
    pub fn wants(&self, name: &str) -> bool {
        (self.collect.is_empty() || self.collect.iter().any(|c| c == name)) && !self.exclude.iter().any(|c| c == name)
    }
}

/// What a scrape hands its families to: an encoder, the remote-write scraper.
pub trait FamilySink {
    /// A native family, to be read from its cells.
    fn family(&mut self, family: &Family);
    /// A family given as samples.
    fn snapshot(&mut self, family: &MetricFamily);
}

/// Something that produces metric families when scraped: system collectors, Python collectors.
pub trait Collector: Send + Sync {
    /// Appends this collector's families to `out`; `options` says what this scrape asked for.
    fn collect(&self, options: &Options, out: &mut Vec<MetricFamily>) -> Result<()>;

    /// Hands this collector's families to `sink`; by default through [`collect`], with
    /// `scratch` as room for the families. A collector holding native families hands those.
    ///
    /// [`collect`]: Collector::collect
    fn visit(&self, options: &Options, sink: &mut dyn FamilySink, scratch: &mut Vec<MetricFamily>) -> Result<()> {
        scratch.clear();
        self.collect(options, scratch)?;
        scratch.iter().for_each(|family| sink.snapshot(family));
        Ok(())
    }

    /// Whether collecting runs code from outside the core (a Python `collect()`), which may
    /// take any time.
    fn runs_foreign_code(&self) -> bool {
        false
    }

    /// The series names it exposes, for the duplicate check (none: not checked).
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// One registered item.
#[derive(Clone)]
pub enum Entry {
    /// A native metric family, encoded straight from its cells.
    Family(Arc<Family>),
    /// Any other collector, encoded from the families it returns.
    Collector(Arc<dyn Collector>),
}

impl Entry {
    fn same(&self, other: &Entry) -> bool {
        match (self, other) {
            (Entry::Family(a), Entry::Family(b)) => Arc::ptr_eq(a, b),
            (Entry::Collector(a), Entry::Collector(b)) => std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b)),
            _ => false,
        }
    }

    /// The series names it claims.
    fn names(&self) -> Vec<String> {
        match self {
            Entry::Family(family) => family.registration_names(),
            Entry::Collector(collector) => collector.names(),
        }
    }
}

/// Registered collectors and the series names they claim.
#[derive(Default)]
pub struct Registry {
    entries: RwLock<Vec<(Entry, Vec<String>)>>,
    last_size: AtomicUsize,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers an entry under the names it claims; refuses names another entry claims.
    pub fn register(&self, entry: Entry) -> Result<()> {
        let names = entry.names();
        let mut entries = self.entries.write();
        if entries.iter().any(|(e, _)| e.same(&entry)) {
            return Err(Error::InvalidValue("Collector already registered in this registry".into()));
        }
        let taken: HashSet<&String> = entries.iter().flat_map(|(_, n)| n).collect();
        let mut duplicates: Vec<String> = names.iter().filter(|n| taken.contains(n)).cloned().collect();
        if !duplicates.is_empty() {
            duplicates.sort();
            duplicates.dedup();
            return Err(Error::Duplicate(duplicates));
        }
        entries.push((entry, names));
        Ok(())
    }

    /// Registers a native family.
    pub fn register_family(&self, family: Arc<Family>) -> Result<()> {
        self.register(Entry::Family(family))
    }

    /// Removes an entry; returns whether it was registered.
    pub fn unregister(&self, entry: &Entry) -> bool {
        let mut entries = self.entries.write();
        let before = entries.len();
        entries.retain(|(e, _)| !e.same(entry));
        entries.len() != before
    }

    /// Whether a scrape may run code from outside the core: a foreign collector, or a value
    /// function (`Gauge.set_function`).
    pub fn runs_foreign_code(&self) -> bool {
        self.entries.read().iter().any(|(entry, _)| match entry {
            Entry::Family(family) => family.has_value_fns(),
            Entry::Collector(collector) => collector.runs_foreign_code(),
        })
    }

    /// The registered entries, in registration order.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.read().iter().map(|(e, _)| e.clone()).collect()
    }

    /// Every family as plain samples (prometheus_client's `registry.collect()`).
    pub fn collect(&self, options: &Options) -> Result<Vec<MetricFamily>> {
        let mut out = Vec::new();
        for entry in self.entries() {
            match entry {
                Entry::Family(family) => out.push(family.snapshot(options.created)),
                Entry::Collector(collector) => collector.collect(options, &mut out)?,
            }
        }
        Ok(out)
    }

    /// Hands every family to `sink`, in registration order.
    pub fn visit(&self, options: &Options, sink: &mut dyn FamilySink) -> Result<()> {
        let mut scratch = Vec::new();
        for entry in self.entries() {
            match entry {
                Entry::Family(family) => sink.family(&family),
                Entry::Collector(collector) => collector.visit(options, sink, &mut scratch)?,
            }
        }
        Ok(())
    }

    /// The size of the last exposition made of this registry, to size the next one's buffer.
    pub fn size_hint(&self) -> usize {
        self.last_size.load(Ordering::Relaxed)
    }

    /// Records an exposition's size (see [`size_hint`](Registry::size_hint)).
    pub fn set_size_hint(&self, size: usize) {
        self.last_size.store(size, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::Kind;

    #[test]
    fn duplicate_names_are_refused_with_the_names() {
        let registry = Registry::new();
        let counter = Family::new("jobs", "", "", Kind::Counter, vec![]).unwrap();
        registry.register_family(counter.clone()).unwrap();
        let gauge = Family::new("jobs_total", "", "", Kind::GAUGE, vec![]).unwrap();
        let err = registry.register_family(gauge).unwrap_err().to_string();
        assert_eq!(err, "Duplicated timeseries in CollectorRegistry: {'jobs_total'}");
        assert!(registry.unregister(&Entry::Family(counter)));
        let gauge = Family::new("jobs_total", "", "", Kind::GAUGE, vec![]).unwrap();
        registry.register_family(gauge).unwrap();
    }

    struct Failing;
    impl Collector for Failing {
        fn collect(&self, _: &Options, _: &mut Vec<MetricFamily>) -> Result<()> {
            Err(Error::Collect { collector: "failing".into(), message: "boom".into() })
        }
    }

    struct Names(Vec<String>);
    impl FamilySink for Names {
        fn family(&mut self, family: &Family) {
            self.0.push(family.meta().name.clone());
        }
        fn snapshot(&mut self, family: &MetricFamily) {
            self.0.push(family.name.to_string());
        }
    }

    #[test]
    fn a_walk_hands_over_every_family_in_order_and_a_failing_collector_fails_it() {
        let registry = Registry::new();
        registry.register_family(Family::new("a", "", "", Kind::Counter, vec![]).unwrap()).unwrap();
        struct Two;
        impl Collector for Two {
            fn collect(&self, _: &Options, out: &mut Vec<MetricFamily>) -> Result<()> {
                out.push(MetricFamily::new("b", "", crate::metric::MetricType::Gauge, ""));
                Ok(())
            }
        }
        registry.register(Entry::Collector(Arc::new(Two))).unwrap();
        let mut names = Names(Vec::new());
        registry.visit(&Options::default(), &mut names).unwrap();
        assert_eq!(names.0, ["a", "b"]);
        registry.register(Entry::Collector(Arc::new(Failing))).unwrap();
        let err = registry.visit(&Options::default(), &mut names).unwrap_err().to_string();
        assert_eq!(err, "collector failing failed: boom");
    }
}
