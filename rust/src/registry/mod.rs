//! The registry: native families and other collectors in registration order, with
//! prometheus_client's duplicate-name check, and encoding of everything into one exposition.
//!
//! Encoding clones the entry list under a short read lock and works without it, so a collector
//! that takes its time (or calls back into Python) never blocks registration.

pub mod family;
pub mod guard;
pub mod snapshot;

use crate::encode::{self, Format, Options};
use crate::error::{Error, Result};
pub use family::{Family, Series};
use parking_lot::RwLock;
pub use snapshot::{MetricFamily, Sample, Text};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Something that produces metric families when scraped: system collectors, Python collectors.
pub trait Collector: Send + Sync {
    /// Appends this collector's families to `out`; `options` says what this scrape asked for.
    fn collect(&self, options: &Options, out: &mut Vec<MetricFamily>) -> Result<()>;

    /// Appends this collector's families to an exposition; by default through [`collect`],
    /// with `scratch` as room for the families. A collector holding native families writes
    /// them directly.
    ///
    /// [`collect`]: Collector::collect
    fn encode(
        &self,
        options: &Options,
        encoder: &mut encode::Encoder,
        out: &mut Vec<u8>,
        scratch: &mut Vec<MetricFamily>,
    ) -> Result<()> {
        scratch.clear();
        self.collect(options, scratch)?;
        scratch.iter().for_each(|family| encoder.snapshot(out, family));
        Ok(())
    }

    /// Whether collecting runs code from outside the core (a Python `collect()`), which may
    /// take any time.
    fn runs_foreign_code(&self) -> bool {
        false
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

    /// Registers an entry claiming `names`; refuses names another entry already claims.
    pub fn register(&self, entry: Entry, names: Vec<String>) -> Result<()> {
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

    /// Registers a native family under its own names.
    pub fn register_family(&self, family: Arc<Family>) -> Result<()> {
        let names = family.registration_names();
        self.register(Entry::Family(family), names)
    }

    /// Removes an entry; returns whether it was registered.
    pub fn unregister(&self, entry: &Entry) -> bool {
        let mut entries = self.entries.write();
        let before = entries.len();
        entries.retain(|(e, _)| !e.same(entry));
        entries.len() != before
    }

    /// Whether encoding may run code from outside the core: a foreign collector, or a value
    /// function (`Gauge.set_function`).
    pub fn runs_foreign_code(&self) -> bool {
        self.entries.read().iter().any(|(entry, _)| match entry {
            Entry::Family(family) => family.has_value_fns(),
            Entry::Collector(collector) => collector.runs_foreign_code(),
        })
    }

    fn entries(&self) -> Vec<Entry> {
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

    /// Renders everything in `format`.
    pub fn encode(&self, format: Format, options: &Options) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.last_size.load(Ordering::Relaxed) + 1024);
        let mut scratch = Vec::new();
        let mut encoder = encode::Encoder::new(format, options);
        for entry in self.entries() {
            match entry {
                Entry::Family(family) => encoder.family(&mut out, &family),
                Entry::Collector(collector) => collector.encode(options, &mut encoder, &mut out, &mut scratch)?,
            }
        }
        encoder.finish(&mut out);
        self.last_size.store(out.len(), Ordering::Relaxed);
        Ok(out)
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
        let gauge = Family::new("jobs_total", "", "", Kind::Gauge, vec![]).unwrap();
        let err = registry.register_family(gauge).unwrap_err().to_string();
        assert_eq!(err, "Duplicated timeseries in CollectorRegistry: {'jobs_total'}");
        assert!(registry.unregister(&Entry::Family(counter)));
        let gauge = Family::new("jobs_total", "", "", Kind::Gauge, vec![]).unwrap();
        registry.register_family(gauge).unwrap();
    }

    struct Failing;
    impl Collector for Failing {
        fn collect(&self, _: &Options, _: &mut Vec<MetricFamily>) -> Result<()> {
            Err(Error::Collect { collector: "failing".into(), message: "boom".into() })
        }
    }

    #[test]
    fn a_failing_collector_fails_the_encode_with_its_message() {
        let registry = Registry::new();
        registry.register(Entry::Collector(Arc::new(Failing)), vec![]).unwrap();
        let err = registry.encode(Format::Text, &Options::default()).unwrap_err().to_string();
        assert_eq!(err, "collector failing failed: boom");
    }
}
