//! The reader: every process' file in a directory, merged into one set of families per scrape.
//!
//! Each file keeps a cursor into its log, so a pass parses only records written since the last
//! one; what a record says (which merged series a block of cells feeds) is worked out then, not
//! per scrape. A scrape zeroes the merged series, adds each file's cells into them, and encodes
//! them as native families. A file whose lock can be taken belongs to a process that has
//! exited: its counters, histograms, summaries and non-`live` gauges are added to
//! `retired.shm` and the file is removed, under an exclusive lock on `retired.shm`; a scrape
//! holds that lock shared, so it never sees a process both in its file and in the retired
//! totals. Bad files (not ours, another layout version, truncated, a corrupt log) are logged once
//! and counted, and never stop the others from being read.

use crate::error::{Error, Result};
use crate::metric::exemplar::{self, Exemplar};
use crate::metric::{Kind, Meta, MetricType};
use crate::region::file::MappedFile;
use crate::region::layout::{Record, RETIRED_FILE};
use crate::registry::{Collector, Family, FamilySink, MetricFamily, Options, Series};
use hashbrown::HashMap;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What one block of cells in a file feeds.
#[derive(Clone, Copy)]
struct Contribution {
    merged: usize,
    slot: usize,
    cells: usize,
}

/// A family as one file declared it.
struct FileFamily {
    /// The merged family it feeds; `None` when it conflicts with what other files declared.
    merged: Option<usize>,
    labels: usize,
}

/// One file and what has been parsed of it.
struct Source {
    file: MappedFile,
    pid: String,
    retired: bool,
    cursor: usize,
    families: HashMap<u32, FileFamily>,
    series: HashMap<u32, Contribution>,
    /// Exemplar blocks by the first cell of their series: `(block, slots)`.
    exemplars: HashMap<u32, (u32, u32)>,
}

/// A series of a merged family.
struct Slot {
    series: Series,
    values: Vec<String>,
    /// Blocks of cells (in any file) that feed it.
    refs: u32,
    /// Blocks added in the current pass.
    contributors: u32,
}

/// One family, merged across files.
struct Merged {
    family: Arc<Family>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    index: HashMap<Vec<String>, usize>,
}

impl Merged {
    fn kind(&self) -> &Kind {
        &self.family.meta().kind
    }

    /// Whether each process has its own series, labelled with its pid.
    fn per_process(&self) -> bool {
        per_process(self.kind())
    }

    fn slot(&mut self, values: Vec<String>) -> Result<usize> {
        if let Some(&slot) = self.index.get(&values) {
            self.slots[slot].as_mut().expect("indexed slot").refs += 1;
            return Ok(slot);
        }
        let series = if values.is_empty() { self.family.unlabeled()? } else { self.family.labels(&values)? };
        let slot = Slot { series, values: values.clone(), refs: 1, contributors: 0 };
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index] = Some(slot);
                index
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.index.insert(values, index);
        Ok(index)
    }

    fn unref(&mut self, index: usize) {
        let slot = self.slots[index].as_mut().expect("referenced slot");
        slot.refs -= 1;
        if slot.refs == 0 {
            let slot = self.slots[index].take().expect("referenced slot");
            if !slot.values.is_empty() {
                let _ = self.family.remove(&slot.values);
            }
            self.index.remove(&slot.values);
            self.free.push(index);
        }
    }

    /// Adds one process' cells into the slot's (zeroed at the start of the pass).
    fn add(&mut self, index: usize, cells: &[AtomicU64]) {
        let slot = self.slots[index].as_mut().expect("referenced slot");
        slot.contributors += 1;
        self.family.meta().kind.merge(slot.series.cells(), cells, slot.contributors == 1);
    }
}

/// Whether each process has a series of its own, labelled with its pid.
fn per_process(kind: &Kind) -> bool {
    matches!(kind, Kind::Gauge { mode } if mode.per_process())
}

struct State {
    sources: HashMap<OsString, Source>,
    retired: Option<Source>,
    merged: Vec<Merged>,
    /// Merged families by name: the exposition's order.
    by_name: BTreeMap<String, usize>,
    /// Files skipped, with why (each logged once).
    skipped: HashMap<OsString, String>,
    /// Processes folded into the retired totals by this reader.
    folded: u64,
}

/// "counter", or "gauge (livesum)".
fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Gauge { mode } => format!("gauge ({})", mode.name()),
        other => other.type_name().to_owned(),
    }
}

impl State {
    /// The merged families with series, by name.
    fn in_order(&self) -> impl Iterator<Item = &Merged> {
        self.by_name.values().map(|&index| &self.merged[index]).filter(|merged| !merged.family.is_empty())
    }
}

/// Aggregates a multiprocess directory; registered as a collector.
pub struct Aggregator {
    dir: PathBuf,
    state: Mutex<State>,
}

fn skip(skipped: &mut HashMap<OsString, String>, dir: &Path, name: &OsString, reason: String) {
    if skipped.get(name) != Some(&reason) {
        let file = dir.join(name).display().to_string();
        crate::log::warn(&format!("skipping {file}: {reason}"), &[("collector", "multiprocess"), ("file", &file)]);
        skipped.insert(name.clone(), reason);
    }
}

impl Aggregator {
    /// A reader of `dir` (which must exist).
    pub fn new(dir: &Path) -> Result<Aggregator> {
        if !dir.is_dir() {
            return Err(Error::InvalidValue(format!("multiprocess directory {} does not exist", dir.display())));
        }
        let state = State {
            sources: HashMap::new(),
            retired: None,
            merged: Vec::new(),
            by_name: BTreeMap::new(),
            skipped: HashMap::new(),
            folded: 0,
        };
        Ok(Aggregator { dir: dir.to_owned(), state: Mutex::new(state) })
    }

    /// Brings the merged families up to date with the directory and returns them, with the
    /// retired lock held shared so that no process is counted twice.
    fn refresh(&self, state: &mut State) -> Result<()> {
        self.sync_directory(state)?;
        let mut names: Vec<OsString> = state.sources.keys().cloned().collect();
        names.sort(); // the first file to declare a family decides what it is: make that stable
        for name in &names {
            let mut source = state.sources.remove(name).expect("listed");
            match Self::parse(state, &mut source) {
                Ok(()) => {
                    state.sources.insert(name.clone(), source);
                }
                Err(reason) => {
                    Self::drop_source(state, source);
                    skip(&mut state.skipped, &self.dir, name, reason);
                }
            }
        }
        let dead: Vec<OsString> =
            state.sources.iter().filter(|(_, s)| s.file.try_lock_exclusive()).map(|(n, _)| n.clone()).collect();
        if !dead.is_empty() {
            self.fold(state, &dead);
        }
        Ok(())
    }

    /// Opens new files, forgets vanished ones, and opens `retired.shm` (making it if needed).
    fn sync_directory(&self, state: &mut State) -> Result<()> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::Collect {
            collector: "multiprocess".into(),
            message: format!("{}: {e}", self.dir.display()),
        })?;
        let mut present = hashbrown::HashSet::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let text = name.to_string_lossy();
            if text == RETIRED_FILE || text.ends_with(".creating") {
                continue;
            }
            present.insert(name.clone());
            if state.sources.contains_key(&name) || state.skipped.contains_key(&name) {
                continue;
            }
            let pid =
                text.strip_prefix("p-").and_then(|rest| rest.strip_suffix(".shm")).and_then(|id| id.split_once('-'));
            let Some((pid, _)) = pid.filter(|(pid, start)| pid.parse::<u32>().is_ok() && start.parse::<u64>().is_ok())
            else {
                skip(&mut state.skipped, &self.dir, &name, "not an obsagent process file (p-<pid>-<start>.shm)".into());
                continue;
            };
            match MappedFile::open(&entry.path(), false) {
                Ok(file) => {
                    let source = Source::new(file, pid.to_owned(), false);
                    state.sources.insert(name, source);
                }
                Err(reason) => skip(&mut state.skipped, &self.dir, &name, reason),
            }
        }
        state.skipped.retain(|name, _| present.contains(name));
        let gone: Vec<OsString> = state.sources.keys().filter(|n| !present.contains(*n)).cloned().collect();
        for name in gone {
            let source = state.sources.remove(&name).expect("listed");
            Self::drop_source(state, source);
        }
        if state.retired.is_none() {
            match MappedFile::open_retired(&self.dir) {
                Ok(file) => state.retired = Some(Source::new(file, String::new(), true)),
                Err(reason) => skip(&mut state.skipped, &self.dir, &RETIRED_FILE.into(), reason),
            }
        }
        Ok(())
    }

    /// Parses a source's new records.
    fn parse(state: &mut State, source: &mut Source) -> std::result::Result<(), String> {
        let log = source.file.meta_since(source.cursor);
        let mut at = 0;
        while at < log.len() {
            let (record, used) =
                Record::decode(&log[at..]).map_err(|e| format!("corrupt log at byte {}: {e}", source.cursor + at))?;
            at += used;
            match record {
                Record::Family { id, name, help, unit, kind, label_names } => {
                    let labels = label_names.len();
                    let merged = Self::merged_family(
                        state,
                        source,
                        Meta { name, help, unit, kind, label_names: label_names.into() },
                    )?;
                    source.families.insert(id, FileFamily { merged, labels });
                }
                Record::Series { family, cell, values } => {
                    let declared =
                        source.families.get(&family).ok_or(format!("series of undeclared family {family}"))?;
                    if values.len() != declared.labels {
                        return Err(format!(
                            "series with {} label values where its family has {}",
                            values.len(),
                            declared.labels
                        ));
                    }
                    let Some(merged) = declared.merged else { continue };
                    let target = &mut state.merged[merged];
                    let cells = target.kind().cells();
                    source.file.cells(cell, cells).ok_or(format!("cells at {cell} lie outside the file"))?;
                    let mut values = values;
                    if target.per_process() && !source.retired {
                        values.push(source.pid.clone());
                    }
                    let slot = target.slot(values).map_err(|e| e.to_string())?;
                    if let Some(old) = source.series.insert(cell, Contribution { merged, slot, cells }) {
                        state.merged[old.merged].unref(old.slot);
                    }
                }
                Record::Remove { cell } => {
                    source.exemplars.remove(&cell);
                    if let Some(old) = source.series.remove(&cell) {
                        state.merged[old.merged].unref(old.slot);
                    }
                }
                Record::Exemplars { cell, block, slots } => {
                    let n = slots as usize * exemplar::SLOT_CELLS;
                    source.file.cells(block, n).ok_or(format!("exemplars at {block} lie outside the file"))?;
                    source.exemplars.insert(cell, (block, slots));
                }
            }
        }
        source.cursor += at;
        Ok(())
    }

    /// The merged family a file's family feeds, made on first sight; `None` (logged) when it
    /// disagrees with what another file declared under the same name.
    fn merged_family(state: &mut State, source: &Source, declared: Meta) -> std::result::Result<Option<usize>, String> {
        let Meta { name, help, unit, kind, label_names } = declared;
        let mut label_names = label_names.into_vec();
        // A retired file's per-process gauges have their pid label already.
        if per_process(&kind) && !source.retired {
            label_names.push("pid".into());
        }
        if let Some(&index) = state.by_name.get(&name) {
            let meta = state.merged[index].family.meta();
            if meta.kind == kind && *meta.label_names == *label_names {
                return Ok(Some(index));
            }
            let message = format!(
                "{name} is a {} with labels {label_names:?} in {}, but a {} with labels {:?} elsewhere; \
                 its series there are left out",
                describe(&kind),
                source.file.path().display(),
                describe(&meta.kind),
                meta.label_names
            );
            crate::log::warn(&message, &[("collector", "multiprocess"), ("metric", &name)]);
            return Ok(None);
        }
        let family = Family::merged(&name, &help, &unit, kind, label_names).map_err(|e| e.to_string())?;
        family.set_series_limit(usize::MAX);
        state.merged.push(Merged { family, slots: Vec::new(), free: Vec::new(), index: HashMap::new() });
        state.by_name.insert(name, state.merged.len() - 1);
        Ok(Some(state.merged.len() - 1))
    }

    fn drop_source(state: &mut State, source: Source) {
        for contribution in source.series.values() {
            state.merged[contribution.merged].unref(contribution.slot);
        }
    }

    /// Parses what this or another reader has added to `retired.shm` since the last look.
    fn parse_retired(&self, state: &mut State) {
        let Some(mut retired) = state.retired.take() else { return };
        if let Err(reason) = Self::parse(state, &mut retired) {
            skip(&mut state.skipped, &self.dir, &RETIRED_FILE.into(), reason);
        }
        state.retired = Some(retired);
    }

    /// Adds the exited processes' totals to `retired.shm` and removes their files, holding
    /// `retired.shm`'s lock exclusively.
    fn fold(&self, state: &mut State, dead: &[OsString]) {
        if state.retired.as_ref().is_none_or(|retired| retired.file.lock(true).is_err()) {
            return;
        }
        self.parse_retired(state);
        let retired = state.retired.take().expect("locked above");
        let mut into = Retiring {
            file: &retired.file,
            series: retired.series.iter().map(|(&cell, c)| ((c.merged, c.slot), cell)).collect(),
            families: retired.families.iter().filter_map(|(&id, f)| Some((f.merged?, id))).collect(),
            next_family: retired.families.keys().max().map_or(1, |id| id + 1),
        };
        for name in dead {
            let mut source = state.sources.remove(name).expect("listed");
            // What the process wrote after this pass parsed its file: its log is final now.
            match Self::parse(state, &mut source) {
                Err(reason) => skip(&mut state.skipped, &self.dir, name, reason),
                Ok(()) if !source.file.unlinked() => {
                    for (&cell, contribution) in &source.series {
                        if let Some(cells) = source.file.cells(cell, contribution.cells) {
                            into.add(&state.merged[contribution.merged], contribution, cells);
                        }
                    }
                    let _ = std::fs::remove_file(source.file.path());
                    state.folded += 1;
                }
                Ok(()) => {} // folded by another reader
            }
            Self::drop_source(state, source);
        }
        state.retired = Some(retired);
        self.parse_retired(state);
        state.retired.as_ref().expect("put back").file.unlock();
    }

    /// Zeroes the merged series and adds every live file and the retired totals into them.
    fn aggregate(state: &mut State) {
        for merged in &mut state.merged {
            for slot in merged.slots.iter_mut().flatten() {
                slot.series.cells().iter().for_each(|cell| cell.store(0, Ordering::Relaxed));
                slot.contributors = 0;
            }
        }
        let State { sources, retired, merged, .. } = state;
        for source in sources.values().chain(retired.as_ref()) {
            if !source.retired && source.file.unlinked() {
                continue; // folded by another reader since this pass listed it
            }
            for (&cell, contribution) in &source.series {
                if let Some(cells) = source.file.cells(cell, contribution.cells) {
                    merged[contribution.merged].add(contribution.slot, cells);
                }
            }
        }
        // Each merged series shows, per slot, the latest exemplar any live process has.
        let mut latest: HashMap<(usize, usize, usize), Exemplar> = HashMap::new();
        for source in sources.values() {
            for (cell, &(block, slots)) in &source.exemplars {
                let (Some(contribution), Some(cells)) =
                    (source.series.get(cell), source.file.cells(block, slots as usize * exemplar::SLOT_CELLS))
                else {
                    continue;
                };
                for (index, slot) in cells.chunks_exact(exemplar::SLOT_CELLS).enumerate() {
                    let Some(found) = exemplar::load(slot) else { continue };
                    let key = (contribution.merged, contribution.slot, index);
                    let newer = latest.get(&key).is_none_or(|kept| {
                        found.time.seconds().unwrap_or(f64::MIN) > kept.time.seconds().unwrap_or(f64::MIN)
                    });
                    if newer {
                        latest.insert(key, found);
                    }
                }
            }
        }
        for ((family, slot, index), found) in latest {
            let target = &merged[family];
            if let Some(Some(slot)) = target.slots.get(slot) {
                target.family.set_exemplar(&slot.series, index, found);
            }
        }
    }

    /// Live processes read, files skipped, and processes folded, as of the last pass.
    #[cfg(test)]
    fn counts(&self) -> (usize, usize, u64) {
        let state = self.state.lock();
        (state.sources.len(), state.skipped.len(), state.folded)
    }

    /// Folds the files of processes that have exited (prometheus_client's `mark_process_dead`).
    pub fn fold_exited(&self) -> Result<()> {
        let mut state = self.state.lock();
        self.refresh(&mut state)
    }

    fn with_merged<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T> {
        let mut state = self.state.lock();
        self.refresh(&mut state)?;
        // Shared: no reader folds a process into retired.shm while this one reads both.
        let locked = state.retired.as_ref().is_some_and(|retired| retired.file.lock(false).is_ok());
        self.parse_retired(&mut state);
        Self::aggregate(&mut state);
        if locked {
            state.retired.as_ref().expect("locked above").file.unlock();
        }
        Ok(f(&state))
    }

    fn self_metrics(state: &State) -> MetricFamily {
        let mut family = MetricFamily::new(
            "obsagent_multiprocess_files",
            "Files in the multiprocess directory: of live processes read, and skipped as unreadable.",
            MetricType::Gauge,
            "",
        );
        family.push("", vec![("state".into(), "live".into())], state.sources.len() as f64);
        family.push("", vec![("state".into(), "skipped".into())], state.skipped.len() as f64);
        family
    }

    fn retired_metric(state: &State) -> MetricFamily {
        let mut family = MetricFamily::new(
            "obsagent_multiprocess_retired_processes",
            "Exited processes whose totals this reader folded into retired.shm.",
            MetricType::Counter,
            "",
        );
        family.push_named("obsagent_multiprocess_retired_processes_total", vec![], state.folded as f64);
        family
    }
}

/// `retired.shm` while exited processes are added to it.
struct Retiring<'a> {
    file: &'a MappedFile,
    /// Its series by the merged series they total.
    series: HashMap<(usize, usize), u32>,
    /// Its family numbers by merged family.
    families: HashMap<usize, u32>,
    next_family: u32,
}

impl Retiring<'_> {
    /// Adds one exited process' series: counters, histograms and summaries add up; gauges keep
    /// their mode's value, except `live*` ones, which go with the process.
    fn add(&mut self, merged: &Merged, contribution: &Contribution, from: &[AtomicU64]) {
        let meta = merged.family.meta();
        if !meta.kind.retires() {
            return;
        }
        let key = (contribution.merged, contribution.slot);
        let (cell, new) = match self.series.get(&key) {
            Some(&cell) => (cell, false),
            None => {
                let values = &merged.slots[contribution.slot].as_ref().expect("referenced slot").values;
                let Some(cell) = self.new_series(contribution, meta, values) else { return };
                (cell, true)
            }
        };
        let into = self.file.cells(cell, contribution.cells).expect("cells inside the area");
        meta.kind.merge(into, from, new);
    }

    /// A new series in the file (and its family, the first time); `None` when the file is full.
    fn new_series(&mut self, contribution: &Contribution, meta: &Meta, values: &[String]) -> Option<u32> {
        let family = match self.families.get(&contribution.merged) {
            Some(&id) => id,
            None => {
                let id = self.next_family;
                let record = Record::family(id, meta);
                self.file.append(&record).ok()?;
                self.next_family += 1;
                self.families.insert(contribution.merged, id);
                id
            }
        };
        let cell = self.file.bump_cells(contribution.cells)?;
        self.file.append(&Record::Series { family, cell, values: values.to_vec() }).ok()?;
        self.series.insert((contribution.merged, contribution.slot), cell);
        Some(cell)
    }
}

impl Source {
    fn new(file: MappedFile, pid: String, retired: bool) -> Source {
        Source {
            file,
            pid,
            retired,
            cursor: 0,
            families: HashMap::new(),
            series: HashMap::new(),
            exemplars: HashMap::new(),
        }
    }
}

impl Collector for Aggregator {
    fn collect(&self, _options: &Options, out: &mut Vec<MetricFamily>) -> Result<()> {
        self.with_merged(|state| {
            for merged in state.in_order() {
                out.push(merged.family.snapshot(false));
            }
            out.push(Self::self_metrics(state));
            out.push(Self::retired_metric(state));
        })
    }

    /// The merged families go to the sink as native families, without `_created` (they have
    /// none: prometheus_client's multiprocess mode has none either).
    fn visit(&self, _: &Options, sink: &mut dyn FamilySink, _: &mut Vec<MetricFamily>) -> Result<()> {
        self.with_merged(|state| {
            for merged in state.in_order() {
                sink.family(&merged.family);
            }
            sink.snapshot(&Self::self_metrics(state));
            sink.snapshot(&Self::retired_metric(state));
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::GaugeMode;
    use crate::registry::Sample;

    fn write_process(dir: &Path, pid: u64, jobs: u64, temperature: f64) -> MappedFile {
        let file = MappedFile::create(&dir.join(format!("p-{pid}-1.shm")), pid, 1).unwrap();
        let family = |id, name: &str, kind| Record::Family {
            id,
            name: name.into(),
            help: String::new(),
            unit: String::new(),
            kind,
            label_names: vec!["kind".into()],
        };
        file.append(&family(1, "jobs", Kind::Counter)).unwrap();
        file.append(&family(2, "temperature", Kind::Gauge { mode: GaugeMode::Max })).unwrap();
        let jobs_cell = file.bump_cells(2).unwrap();
        file.append(&Record::Series { family: 1, cell: jobs_cell, values: vec!["x".into()] }).unwrap();
        let temperature_cell = file.bump_cells(1).unwrap();
        file.append(&Record::Series { family: 2, cell: temperature_cell, values: vec!["x".into()] }).unwrap();
        file.cells(jobs_cell, 2).unwrap()[0].store(jobs, Ordering::Relaxed);
        file.cells(temperature_cell, 1).unwrap()[0].store(temperature.to_bits(), Ordering::Relaxed);
        file
    }

    fn values(aggregator: &Aggregator) -> Vec<(String, f64)> {
        let mut families = Vec::new();
        aggregator.collect(&Options::default(), &mut families).unwrap();
        let samples = families.iter().flat_map(|f| &f.samples).filter(|s| !s.name.starts_with("obsagent"));
        samples.map(|Sample { name, value, .. }| (name.to_string(), *value)).collect()
    }

    #[test]
    fn files_merge_and_an_exited_writer_is_folded_into_retired() {
        let dir = std::env::temp_dir().join(format!("obsagent-shm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let first = write_process(&dir, 1, 3, 20.0);
        let second = write_process(&dir, 2, 4, 30.0);
        let aggregator = Aggregator::new(&dir).unwrap();
        let both = vec![("jobs_total".to_owned(), 7.0), ("temperature".to_owned(), 30.0)];
        assert_eq!(values(&aggregator), both);

        drop(second); // its lock goes with its descriptor, as when a process exits
        assert_eq!(values(&aggregator), both);
        assert!(!dir.join("p-2-1.shm").exists());
        assert_eq!(aggregator.counts(), (1, 0, 1));

        let restarted = Aggregator::new(&dir).unwrap();
        assert_eq!(values(&restarted), both);
        drop(first);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_family_declared_differently_elsewhere_is_left_out_of_the_merge() {
        let dir = std::env::temp_dir().join(format!("obsagent-shm-conflict-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let first = write_process(&dir, 1, 3, 20.0);
        let other = MappedFile::create(&dir.join("p-2-1.shm"), 2, 1).unwrap();
        let gauge = Record::Family {
            id: 1,
            name: "jobs".into(),
            help: String::new(),
            unit: String::new(),
            kind: Kind::Gauge { mode: GaugeMode::Sum },
            label_names: vec![],
        };
        other.append(&gauge).unwrap();
        let cell = other.bump_cells(1).unwrap();
        other.append(&Record::Series { family: 1, cell, values: vec![] }).unwrap();
        let aggregator = Aggregator::new(&dir).unwrap();
        assert_eq!(values(&aggregator), vec![("jobs_total".to_owned(), 3.0), ("temperature".to_owned(), 20.0)]);
        drop((first, other));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
