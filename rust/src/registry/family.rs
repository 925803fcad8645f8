//! A metric family: its metadata and its series, found by label values.
//!
//! Series are kept in creation order (the order prometheus_client exposes them) in a `Vec`,
//! with a hashbrown `HashTable` of indices beside it. A lookup hashes the values with a fixed
//! seed, then confirms the match against the series' rendered labels: never by hash alone.
//! Lookups take a read lock; only a new label set takes the write lock.
//!
//! A series is one allocation (`triomphe::ThinArc`: header, then the rendered labels), so a
//! labeled counter costs about 150 bytes in all, against some 600 in prometheus_client.

use crate::clock;
use crate::error::{Error, Result};
use crate::key;
use crate::metric::exemplar::{self, Exemplar, Slots};
use crate::metric::summary_quantiles::{self, Window};
use crate::metric::{gauge, info, Kind, Meta, Reading};
use crate::region::{Cells, FamilySlot};
use crate::registry::guard;
use crate::registry::snapshot::{MetricFamily, Text};
use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use triomphe::ThinArc;

struct SeriesHeader {
    hash: u64,
    /// `_created`, as `f64` bits: set at birth, moved by a counter's reset.
    created: AtomicU64,
    cells: Cells,
}

/// One labeled child: its cells and rendered labels. Cloning shares it.
#[derive(Clone)]
pub struct Series(ThinArc<SeriesHeader, u8>);

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Series{{{}}}", self.labels())
    }
}

impl Series {
    fn new(hash: u64, labels: &str, cells: Cells) -> Series {
        Series(ThinArc::from_header_and_slice(
            SeriesHeader { hash, created: AtomicU64::new(clock::now().to_bits()), cells },
            labels.as_bytes(),
        ))
    }

    /// The value cells.
    #[inline]
    pub fn cells(&self) -> &[AtomicU64] {
        self.0.header.header.cells.as_slice()
    }

    /// Rendered, escaped label pairs: `a="x",b="y"` (empty when unlabeled).
    pub fn labels(&self) -> &str {
        // SAFETY: the bytes were copied from a `&str` in `Series::new` and never change.
        unsafe { std::str::from_utf8_unchecked(&self.0.slice) }
    }

    /// Creation time, seconds since the epoch.
    pub fn created(&self) -> f64 {
        f64::from_bits(self.0.header.header.created.load(Ordering::Relaxed))
    }

    /// Moves the creation time (a counter's reset, a clock the caller reads).
    pub fn set_created(&self, seconds: f64) {
        self.0.header.header.created.store(seconds.to_bits(), Ordering::Relaxed);
    }

    /// Tells readers of the multiprocess file that this series is no longer exported.
    fn forget_shared(&self) {
        self.0.header.header.cells.forget();
    }

    fn hash(&self) -> u64 {
        self.0.header.header.hash
    }

    /// Whether both handles point at the same series.
    pub fn same(&self, other: &Series) -> bool {
        std::ptr::eq(self.0.heap_ptr(), other.0.heap_ptr())
    }
}

/// A series' exemplar slots in this process' multiprocess file, when it is there.
type FileSlots = Option<&'static [std::sync::atomic::AtomicU64]>;

/// A gauge value computed when scraped (`Gauge.set_function`).
pub type ValueFn = Arc<dyn Fn() -> f64 + Send + Sync>;

#[derive(Default)]
struct SeriesMap {
    order: Vec<Series>,
    index: HashTable<u32>,
}

impl SeriesMap {
    fn find<V: AsRef<str>>(&self, names: &[String], hash: u64, values: &[V]) -> Option<usize> {
        let series = |i: u32| &self.order[i as usize];
        self.index
            .find(hash, |&i| series(i).hash() == hash && key::rendered_matches(series(i).labels(), names, values))
            .map(|&i| i as usize)
    }

    fn insert(&mut self, series: Series) {
        let SeriesMap { order, index } = self;
        index.insert_unique(series.hash(), order.len() as u32, |&j| order[j as usize].hash());
        order.push(series);
    }

    fn reindex(&mut self) {
        let order = std::mem::take(&mut self.order);
        self.index.clear();
        order.into_iter().for_each(|series| self.insert(series));
    }
}

/// A metric family and its series.
pub struct Family {
    meta: Meta,
    series: RwLock<SeriesMap>,
    info_sets: RwLock<Vec<Box<str>>>,
    value_fns: Mutex<Vec<(Series, ValueFn)>>,
    generation: AtomicU64,
    /// This family's series limit; 0: the process-wide one ([`guard::series_limit`]).
    series_limit: AtomicUsize,
    /// Whether a label set has gone to the overflow series yet (logged the first time).
    overflowed: AtomicBool,
    /// Where its series' cells go.
    slot: FamilySlot,
    /// Whether its series expose `_created` (when the kind has it and a scrape asks).
    created: bool,
    /// The exemplar slots of the series given one, by the series' address; the entry holds
    /// the series, so the address is not reused while it is there. Kept here rather than in
    /// each series, which would cost every series the room for a pointer.
    exemplars: RwLock<HashMap<usize, (Series, Slots, FileSlots)>>,
    /// Whether `exemplars` has any: a scrape of a family that never had one doesn't look.
    has_exemplars: AtomicBool,
    /// A quantile summary's windows, by series address (the entry holds the series).
    windows: Mutex<HashMap<usize, (Series, Window)>>,
}

/// A family as prometheus_client's constructors describe it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Declaration<'a> {
    /// `name` as given: a counter's `_total` is dropped, as prometheus_client does.
    pub name: &'a str,
    /// HELP text.
    pub documentation: &'a str,
    /// Prefixed as `namespace_`.
    pub namespace: &'a str,
    /// Prefixed as `subsystem_` after the namespace.
    pub subsystem: &'a str,
    /// Appended as `_unit` unless the name ends with it.
    pub unit: &'a str,
}

impl Family {
    /// Validates names and creates the family; an unlabeled family gets its one series now.
    pub fn new(name: &str, help: &str, unit: &str, kind: Kind, label_names: Vec<String>) -> Result<Arc<Family>> {
        Family::build(name, help, unit, kind, label_names, FamilySlot::new(), true)
    }

    /// A family as prometheus_client's constructor makes it from `declaration`.
    pub fn declare(declaration: &Declaration<'_>, kind: Kind, label_names: Vec<String>) -> Result<Arc<Family>> {
        let Declaration { name, documentation, namespace, subsystem, unit } = *declaration;
        if name.is_empty() {
            return Err(Error::InvalidValue("Metric name should not be empty".into()));
        }
        let name = match kind {
            Kind::Counter => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        };
        let full = key::full_name(namespace, subsystem, name, unit);
        Family::new(&full, documentation, unit, kind, label_names)
    }

    /// A family the multiprocess reader fills with the merge of every process' series: its
    /// cells stay in this process whatever the mode, and it has no `_created` series.
    pub fn merged(name: &str, help: &str, unit: &str, kind: Kind, label_names: Vec<String>) -> Result<Arc<Family>> {
        Family::build(name, help, unit, kind, label_names, FamilySlot::process_local(), false)
    }

    fn build(
        name: &str,
        help: &str,
        unit: &str,
        kind: Kind,
        label_names: Vec<String>,
        slot: FamilySlot,
        created: bool,
    ) -> Result<Arc<Family>> {
        key::check_metric_name(name)?;
        kind.validate(name, unit)?;
        for (i, label) in label_names.iter().enumerate() {
            key::check_label_name(label)?;
            let reserved =
                kind.reserved_label(name, label).or(label_names[..i].contains(label).then_some("given twice"));
            if let Some(reason) = reserved {
                return Err(Error::ReservedLabelName { metric: name.to_owned(), label: label.clone(), reason });
            }
        }
        let family = Arc::new(Family {
            meta: Meta {
                name: name.to_owned(),
                help: help.to_owned(),
                unit: unit.to_owned(),
                kind,
                label_names: label_names.into(),
            },
            series: RwLock::default(),
            info_sets: RwLock::new(vec!["".into()]),
            value_fns: Mutex::default(),
            generation: AtomicU64::new(0),
            series_limit: AtomicUsize::new(0),
            overflowed: AtomicBool::new(false),
            slot,
            created,
            exemplars: RwLock::default(),
            has_exemplars: AtomicBool::new(false),
            windows: Mutex::default(),
        });
        if family.meta.label_names.is_empty() {
            family.labels::<&str>(&[])?;
        }
        Ok(family)
    }

    /// A family the cardinality guard doesn't limit, for the guard's own counter.
    pub(super) fn new_unlimited(name: &str, help: &str, kind: Kind, label_names: Vec<String>) -> Arc<Family> {
        let family = Family::new(name, help, "", kind, label_names).expect("a valid built-in family");
        family.set_series_limit(usize::MAX);
        family
    }

    /// Sets this family's series limit (0: the process-wide one).
    pub fn set_series_limit(&self, limit: usize) {
        self.series_limit.store(limit, Ordering::Relaxed);
    }

    /// The family's metadata.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The series for these label values, created on first use.
    pub fn labels<V: AsRef<str>>(&self, values: &[V]) -> Result<Series> {
        self.labels_or_new(values).map(|(series, _)| series)
    }

    /// The series for these label values, and whether this call made it.
    pub fn labels_or_new<V: AsRef<str>>(&self, values: &[V]) -> Result<(Series, bool)> {
        let names = &self.meta.label_names;
        if values.len() != names.len() {
            return Err(self.label_count_error(values.len()));
        }
        let hash = key::hash_values(values);
        {
            let map = self.series.read();
            if let Some(i) = map.find(names, hash, values) {
                return Ok((map.order[i].clone(), false));
            }
        }
        let mut map = self.series.write();
        if let Some(i) = map.find(names, hash, values) {
            return Ok((map.order[i].clone(), false));
        }
        let limit = guard::label_value_limit();
        if let Some((name, value)) = names.iter().zip(values).find(|(_, v)| v.as_ref().len() > limit) {
            return Err(Error::InvalidValue(format!(
                "label {name:?} of {:?} is {} bytes long; the limit is {limit} (obsagent.set_label_value_limit)",
                self.meta.name,
                value.as_ref().len()
            )));
        }
        let own = self.series_limit.load(Ordering::Relaxed);
        let limit = if own == 0 { guard::series_limit() } else { own };
        if map.order.len() >= limit {
            let series = self.overflow_series(&mut map);
            drop(map);
            guard::overflowed(&self.meta.name, limit, !self.overflowed.swap(true, Ordering::Relaxed));
            return Ok((series, false));
        }
        let series = Series::new(hash, &key::render_labels(names, values), self.new_cells(values));
        map.insert(series.clone());
        Ok((series, true))
    }

    fn new_cells<V: AsRef<str>>(&self, values: &[V]) -> Cells {
        Cells::for_series(&self.slot, &self.meta, values)
    }

    /// The series every label set past the limit shares, made the first time.
    fn overflow_series(&self, map: &mut SeriesMap) -> Series {
        let names = &self.meta.label_names;
        let values = vec![guard::OVERFLOW; names.len()];
        let hash = key::hash_values(&values);
        if let Some(i) = map.find(names, hash, &values) {
            return map.order[i].clone();
        }
        let series = Series::new(hash, &key::render_labels(names, &values), self.new_cells(&values));
        map.insert(series.clone());
        series
    }

    /// The only series of an unlabeled family.
    pub fn unlabeled(&self) -> Result<Series> {
        if !self.meta.label_names.is_empty() {
            return Err(Error::LabelUsage(format!(
                "{} metric {:?} is missing label values: it has label names {:?}, call .labels(...) before \
                 updating it",
                self.meta.kind.type_name(),
                self.meta.name,
                self.meta.label_names
            )));
        }
        Ok(self.series.read().order[0].clone())
    }

    /// The error for `labels()` called with keyword names `given` that aren't the label names.
    pub fn label_names_error(&self, given: Vec<String>) -> Error {
        Error::LabelMismatch {
            metric: self.meta.name.clone(),
            expected: self.meta.label_names.to_vec(),
            detail: format!("got names {given:?}"),
        }
    }

    /// The error for `labels()` on a child, which has its labels already.
    pub fn chained_labels_error(&self) -> Error {
        Error::LabelUsage(format!("{:?} already has labels set; can not chain calls to .labels()", self.meta.name))
    }

    /// The error for `got` label values where the family expects its label names.
    pub fn label_count_error(&self, got: usize) -> Error {
        if self.meta.label_names.is_empty() {
            return Error::LabelUsage(format!("No label names were set when constructing {:?}", self.meta.name));
        }
        Error::LabelMismatch {
            metric: self.meta.name.clone(),
            expected: self.meta.label_names.to_vec(),
            detail: format!("got {got} value{}", if got == 1 { "" } else { "s" }),
        }
    }

    /// Removes one labeled series; its handles keep working but are no longer exported.
    pub fn remove<V: AsRef<str>>(&self, values: &[V]) -> Result<()> {
        if values.len() != self.meta.label_names.len() || values.is_empty() {
            return Err(self.label_count_error(values.len()));
        }
        let mut map = self.series.write();
        if let Some(i) = map.find(&self.meta.label_names, key::hash_values(values), values) {
            let removed = map.order.remove(i);
            removed.forget_shared();
            self.forget_side_state(&removed);
            self.generation.fetch_add(1, Ordering::Release);
            map.reindex();
            self.value_fns.lock().retain(|(s, _)| !s.same(&removed));
        }
        Ok(())
    }

    /// Removes every labeled series (an unlabeled family keeps its one series).
    pub fn clear(&self) {
        if self.meta.label_names.is_empty() {
            return;
        }
        let mut map = self.series.write();
        map.order.iter().for_each(Series::forget_shared);
        map.order.clear();
        self.exemplars.write().clear();
        self.windows.lock().clear();
        map.index.clear();
        self.generation.fetch_add(1, Ordering::Release);
        self.value_fns.lock().clear();
    }

    /// Keeps `exemplar` as the latest exemplar of slot `index` of `series` (one of this family's),
    /// and in multiprocess mode in the series' exemplar block in this process' file, for readers.
    pub fn set_exemplar(&self, series: &Series, index: usize, exemplar: Exemplar) {
        let address = series.0.heap_ptr() as usize;
        let exemplar = Arc::new(exemplar);
        let keep = |slots: &Slots, file: FileSlots| {
            if let Some(slot) = file.and_then(|block| block.chunks_exact(exemplar::SLOT_CELLS).nth(index)) {
                exemplar::store(slot, &exemplar);
            }
            slots.set(index, exemplar.clone());
        };
        if let Some((_, slots, file)) = self.exemplars.read().get(&address) {
            return keep(slots, *file);
        }
        let mut map = self.exemplars.write();
        let n = self.meta.kind.exemplar_slots();
        let (_, slots, file) = map.entry(address).or_insert_with(|| {
            let file = series.0.header.header.cells.exemplar_block(n * exemplar::SLOT_CELLS, n as u32);
            (series.clone(), Slots::new(n), file)
        });
        keep(slots, *file);
        self.has_exemplars.store(true, Ordering::Release);
    }

    /// Whether some series of this family was given an exemplar.
    #[inline(always)]
    pub fn has_exemplars(&self) -> bool {
        self.has_exemplars.load(Ordering::Acquire)
    }

    /// The latest exemplar of slot `index` of `series`, if it has one.
    pub fn exemplar(&self, series: &Series, index: usize) -> Option<Arc<Exemplar>> {
        if !self.has_exemplars() {
            return None;
        }
        self.exemplars.read().get(&(series.0.heap_ptr() as usize))?.1.get(index)
    }

    fn forget_side_state(&self, series: &Series) {
        if self.has_exemplars() {
            self.exemplars.write().remove(&(series.0.heap_ptr() as usize));
        }
        self.windows.lock().remove(&(series.0.heap_ptr() as usize));
    }

    /// Adds an observation made now to a quantile summary's window of `series` (count and sum
    /// are the caller's, in the cells).
    pub fn observe_quantiles(&self, series: &Series, value: f64) {
        let Kind::QuantileSummary { quantiles } = &self.meta.kind else { return };
        let now = clock::now();
        let mut windows = self.windows.lock();
        let (_, window) = windows
            .entry(series.0.heap_ptr() as usize)
            .or_insert_with(|| (series.clone(), Window::new(quantiles, series.created())));
        window.observe(quantiles, value, now);
    }

    /// Changes whenever a series is removed, so caches of series handles know to drop theirs.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.read().order.len()
    }

    /// Whether the family has no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` on each series in creation order, after refreshing computed gauges.
    pub fn for_each_series(&self, mut f: impl FnMut(&Series)) {
        self.refresh_value_fns();
        for series in &self.series.read().order {
            f(series);
        }
    }

    /// Whether some series reports a value function's result.
    pub fn has_value_fns(&self) -> bool {
        !self.value_fns.lock().is_empty()
    }

    /// Makes `series` report `value_fn()` at each scrape (replacing an earlier function).
    pub fn set_value_fn(&self, series: &Series, value_fn: ValueFn) {
        let mut fns = self.value_fns.lock();
        fns.retain(|(s, _)| !s.same(series));
        fns.push((series.clone(), value_fn));
    }

    fn refresh_value_fns(&self) {
        // Called without the lock held: a function may take its time, or touch this family.
        let fns: Vec<(Series, ValueFn)> = self.value_fns.lock().clone();
        for (series, value_fn) in fns {
            gauge::set(series.cells(), value_fn());
        }
    }

    /// Sets an Info series' label pairs.
    pub fn set_info(&self, series: &Series, pairs: &[(String, String)]) -> Result<()> {
        let rendered = info::render(&self.meta.name, &self.meta.label_names, pairs)?;
        let known = self.info_sets.read().iter().position(|s| **s == *rendered);
        let index = known.unwrap_or_else(|| {
            let mut sets = self.info_sets.write();
            sets.push(rendered.into_boxed_str());
            sets.len() - 1
        });
        info::set_index(series.cells(), index as u64);
        Ok(())
    }

    /// The series names this family exports, for duplicate checks (prometheus_client's rules).
    pub fn registration_names(&self) -> Vec<String> {
        let name = &self.meta.name;
        std::iter::once(name.clone()).chain(self.meta.kind.suffixes().iter().map(|s| format!("{name}{s}"))).collect()
    }

    /// Whether `series` exposes `_created` when a scrape asks for it.
    pub fn exposes_created(&self) -> bool {
        self.created && self.meta.kind.has_created()
    }

    /// What `series` (one of this family's) reads as now; `scratch` holds a histogram's
    /// running totals.
    #[inline(always)]
    pub fn read<'a>(&'a self, series: &Series, scratch: &'a mut Vec<u64>) -> Reading<'a> {
        let info_pairs = |index: usize| self.info_sets.read()[index].clone();
        let reading = self.meta.kind.read(&self.meta.name, series.cells(), scratch, info_pairs);
        match (&self.meta.kind, reading) {
            (Kind::QuantileSummary { quantiles }, Reading::Summary(summary)) => {
                let values = match self.windows.lock().get_mut(&(series.0.heap_ptr() as usize)) {
                    Some((_, window)) => window.quantiles(quantiles, clock::now()),
                    None => vec![f64::NAN; quantiles.targets.len()],
                };
                Reading::QuantileSummary(summary_quantiles::Reading { summary, quantiles, values })
            }
            (_, reading) => reading,
        }
    }

    /// The family as plain samples, as prometheus_client's `collect()` yields them.
    pub fn snapshot(&self, created: bool) -> MetricFamily {
        let meta = &self.meta;
        let mut family =
            MetricFamily::new(meta.name.clone(), meta.help.clone(), meta.kind.metric_type(), meta.unit.clone());
        let created = created && self.exposes_created();
        let mut scratch = Vec::new();
        self.for_each_series(|series| {
            let labels = owned_pairs(key::parse_rendered_with(series.labels(), &meta.label_names));
            for (index, line) in self.read(series, &mut scratch).lines().enumerate() {
                let mut all = labels.clone();
                all.extend(owned_pairs(key::parse_rendered(&line.extra.rendered())));
                family.push(line.suffix, all, line.value.as_f64());
                let exemplar = self.has_exemplars().then(|| meta.kind.exemplar_slot(index)).flatten();
                if let Some(exemplar) = exemplar.and_then(|slot| self.exemplar(series, slot)) {
                    family.exemplars.push((family.samples.len() - 1, exemplar));
                }
            }
            if created {
                family.push("_created", labels, series.created());
            }
        });
        family
    }
}

/// Parsed label pairs as snapshot text.
fn owned_pairs(pairs: Vec<(String, String)>) -> Vec<(Text, Text)> {
    pairs.into_iter().map(|(name, value)| (name.into(), value.into())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::histogram;

    fn counter(labels: &[&str]) -> Arc<Family> {
        Family::new("requests", "Requests.", "", Kind::Counter, labels.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    #[test]
    fn same_values_same_series() {
        let family = counter(&["method", "path"]);
        let a = family.labels(&["GET", "/a"]).unwrap();
        let b = family.labels(&[String::from("GET"), String::from("/a")]).unwrap();
        assert!(a.same(&b));
        let c = family.labels(&["GET", "/b"]).unwrap();
        assert!(!a.same(&c));
        assert_eq!(family.len(), 2);
    }

    #[test]
    fn wrong_label_count_is_refused() {
        let family = counter(&["method", "path"]);
        let err = family.labels(&["GET"]).unwrap_err().to_string();
        assert!(err.contains(r#"expected ["method", "path"], got 1 value"#), "{err}");
        assert!(family.unlabeled().unwrap_err().to_string().contains("call .labels"));
        let unlabeled = counter(&[]);
        assert!(unlabeled.labels(&["x"]).unwrap_err().to_string().contains("No label names"));
    }

    #[test]
    fn reserved_and_invalid_labels() {
        let hist = Kind::Histogram { bounds: histogram::bounds(&[1.0]).unwrap() };
        let err = Family::new("h", "", "", hist, vec!["le".into()]).err().unwrap().to_string();
        assert!(err.contains("reserved for histogram buckets"), "{err}");
        let err = Family::new("s", "", "", Kind::Summary, vec!["quantile".into()]).err().unwrap().to_string();
        assert!(err.contains("reserved for summary quantiles"), "{err}");
        let declared = Declaration { name: "jobs_total", namespace: "app", unit: "seconds", ..Declaration::default() };
        assert_eq!(Family::declare(&declared, Kind::Counter, vec![]).unwrap().meta().name, "app_jobs_seconds");
        let empty = Family::declare(&Declaration::default(), Kind::Counter, vec![]).err().unwrap().to_string();
        assert_eq!(empty, "Metric name should not be empty");
        assert!(Family::new("c", "", "", Kind::Counter, vec!["a".into(), "a".into()]).is_err());
        assert!(Family::new("c", "", "", Kind::Counter, vec!["__x".into()]).is_err());
        assert!(Family::new("c-d.é", "", "", Kind::Counter, vec!["a.b".into()]).is_ok(), "any UTF-8 name");
    }

    #[test]
    fn remove_and_clear_keep_order() {
        let family = counter(&["k"]);
        for k in ["a", "b", "c"] {
            family.labels(&[k]).unwrap();
        }
        family.remove(&["b"]).unwrap();
        let mut seen = Vec::new();
        family.for_each_series(|s| seen.push(s.labels().to_owned()));
        assert_eq!(seen, vec![r#"k="a""#, r#"k="c""#]);
        assert!(family.labels(&["c"]).unwrap().same(&family.labels(&["c"]).unwrap()));
        family.clear();
        assert!(family.is_empty());
    }

    #[test]
    fn lookups_racing_removals_never_see_a_stale_index() {
        let family = counter(&["k"]);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for _ in 0..20_000 {
                    family.remove(&["a"]).unwrap();
                    family.labels(&["b"]).unwrap();
                }
            });
            for _ in 0..20_000 {
                let series = family.labels(&["a"]).unwrap();
                assert_eq!(series.labels(), r#"k="a""#);
            }
        });
    }

    #[test]
    fn exemplars_are_kept_per_slot_and_go_with_their_series() {
        use crate::metric::exemplar::Time;
        let family = counter(&["k"]);
        let (a, b) = (family.labels(&["a"]).unwrap(), family.labels(&["b"]).unwrap());
        assert!(!family.has_exemplars() && family.exemplar(&a, 0).is_none());
        let exemplar = |value| Exemplar::new(vec![("t".into(), "x".into())], value, Time::Seconds(1.0)).unwrap();
        family.set_exemplar(&a, 0, exemplar(1.0));
        family.set_exemplar(&a, 0, exemplar(2.0));
        assert_eq!(family.exemplar(&a, 0).unwrap().value, 2.0);
        assert!(family.exemplar(&b, 0).is_none());
        let snapshot = family.snapshot(false);
        assert_eq!((snapshot.exemplars.len(), snapshot.exemplar(0).unwrap().value), (1, 2.0));
        family.remove(&["a"]).unwrap();
        let again = family.labels(&["a"]).unwrap();
        assert!(family.exemplar(&again, 0).is_none(), "a removed series' exemplar is gone with it");
    }

    #[test]
    fn value_fn_is_read_at_scrape() {
        let family = Family::new("g", "", "", Kind::GAUGE, vec![]).unwrap();
        let series = family.unlabeled().unwrap();
        family.set_value_fn(&series, Arc::new(|| 7.0));
        assert_eq!(family.snapshot(false).samples[0].value, 7.0);
    }
}
