//! The unsafe parts of multiprocess mode's file code, checked through the files themselves:
//! cells handed to series are the mapped file's cells, appends from many threads all land in
//! the log with cells of their own, a forked child remaps a file of its own at the same address,
//! and the lock tells a live writer from an exited one.
//!
//! A test binary of its own, since multiprocess mode is process-wide and fork wants a process
//! with no other work in flight; one test, so no other test thread runs while it forks.

use obsagent::metric::{counter, Kind};
use obsagent::region::file::MappedFile;
use obsagent::region::layout::Record;
use obsagent::region::writer;
use obsagent::registry::Family;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// Every record of a file's published log.
fn records(file: &MappedFile) -> Vec<Record> {
    let log = file.meta_since(0);
    let mut at = 0;
    let mut out = Vec::new();
    while at < log.len() {
        let (record, used) = Record::decode(&log[at..]).unwrap_or_else(|e| panic!("corrupt log at {at}: {e}"));
        out.push(record);
        at += used;
    }
    out
}

/// The series of a file: label values -> first cell.
fn series(file: &MappedFile) -> HashMap<Vec<String>, u32> {
    let mut live = HashMap::new();
    for record in records(file) {
        match record {
            Record::Series { cell, values, .. } => {
                live.retain(|_, c| *c != cell);
                live.insert(values, cell);
            }
            Record::Remove { cell } => live.retain(|_, c| *c != cell),
            Record::Family { .. } | Record::Exemplars { .. } => {}
        }
    }
    live
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "shm"))
        .collect();
    found.sort();
    found
}

fn value(file: &MappedFile, cell: u32) -> u64 {
    file.cells(cell, counter::CELLS).expect("cells inside the file")[0].load(Ordering::Relaxed)
}

#[test]
fn series_cells_live_in_the_file_across_threads_removals_and_fork() {
    let dir = std::env::temp_dir().join(format!("obsagent-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let own = writer::enable(&dir).unwrap();
    assert!(writer::active());
    assert_eq!(writer::enable(&dir).unwrap(), own, "enabling again with the same directory does nothing");
    assert!(writer::enable(&dir.join("other")).is_err());

    // Appends from eight threads at once: every series has its record and cells of its own.
    let family = Family::new("jobs", "Jobs.", "", Kind::Counter, vec!["worker".into(), "n".into()]).unwrap();
    std::thread::scope(|scope| {
        for worker in 0..8u64 {
            let family = &family;
            scope.spawn(move || {
                for n in 0..500u64 {
                    let child = family.labels(&[worker.to_string(), n.to_string()]).unwrap();
                    counter::inc_integer(child.cells(), worker * 1000 + n);
                }
            });
        }
    });
    let file = MappedFile::open(&own, false).unwrap();
    let live = series(&file);
    assert_eq!(live.len(), 8 * 500);
    let mut cells: Vec<u32> = live.values().copied().collect();
    cells.sort_unstable();
    assert!(cells.windows(2).all(|w| w[1] >= w[0] + counter::CELLS as u32), "blocks never overlap");
    for (values, cell) in &live {
        let expected = values[0].parse::<u64>().unwrap() * 1000 + values[1].parse::<u64>().unwrap();
        assert_eq!(value(&file, *cell), expected, "{values:?}: the handle's cells are the file's");
    }
    let families: Vec<Record> = records(&file).into_iter().filter(|r| matches!(r, Record::Family { .. })).collect();
    assert_eq!(families.len(), 1, "a family is written once, with its first series");

    // A removed series is announced; its cells are reused for the next series of its size.
    let removed_cell = live[&vec!["3".to_owned(), "7".to_owned()]];
    family.remove(&["3", "7"]).unwrap();
    let again = family.labels(&["new", "series"]).unwrap();
    let live = series(&file);
    assert!(!live.contains_key(&vec!["3".to_owned(), "7".to_owned()]));
    assert_eq!(live[&vec!["new".to_owned(), "series".to_owned()]], removed_cell);
    assert_eq!(value(&file, removed_cell), 0, "reused cells start at zero");

    // fork: the child gets a file of its own at the same address; the parent's cells stay.
    counter::inc_integer(again.cells(), 5);
    writer::before_fork();
    // SAFETY: the child only remaps its file, updates one cell and leaves with _exit; the
    // threads above have been joined.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let remapped = writer::after_fork_in_child().is_ok();
        counter::inc_integer(again.cells(), 100);
        // SAFETY: ends the child without running the test harness' destructors.
        unsafe { libc::_exit(if remapped { 0 } else { 1 }) };
    }
    writer::after_fork_in_parent();
    let mut status = 0;
    // SAFETY: waits for the child just made.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the child remapped its file");
    assert_eq!(value(&file, removed_cell), 5, "the child's update stays out of the parent's file");
    let all = files(&dir);
    assert_eq!(all.len(), 2, "{all:?}");
    let child_path = all.iter().find(|p| **p != own).unwrap();
    assert!(child_path.file_name().unwrap().to_string_lossy().starts_with(&format!("p-{pid}-")));
    let child = MappedFile::open(child_path, false).unwrap();
    assert_eq!(series(&child), series(&file), "the child's log is the parent's");
    assert_eq!(value(&child, removed_cell), 100, "zeroed at the fork, then the child's own");
    assert_eq!(value(&child, live[&vec!["0".to_owned(), "1".to_owned()]]), 0);

    // The lock: taken at once for the exited child's file, never for ours.
    assert!(child.try_lock_exclusive(), "the child has exited");
    assert!(!MappedFile::open(&own, false).unwrap().try_lock_exclusive(), "this process holds its file");
    let _ = std::fs::remove_dir_all(&dir);
}
