//! This process' own multiprocess file: where new series get their cells once multiprocess
//! mode is on, and what a forked child does to get a file of its own.
//!
//! A family is written to the log when its first series is, and numbered then; series records
//! name the family by that number. Freed cells go to a free list by size and are announced with
//! a removal record before they can be reused. After `fork()` the child copies the header and
//! log into a new file and maps it over the old mapping at the same address: every child object
//! keeps its pointers, which now reach the child's own zeroed cells.

use super::file::{self, MappedFile};
use super::layout::{Record, FILE_SIZE, META_START};
use crate::metric::Meta;
use parking_lot::Mutex;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

struct Writer {
    dir: PathBuf,
    file: MappedFile,
    next_family: u32,
    free: Vec<(u32, Vec<u32>)>,
}

impl Writer {
    /// Puts a block back on the free list of its size.
    fn give_back(&mut self, len: u32, first: u32) {
        match self.free.iter_mut().find(|(size, _)| *size == len) {
            Some((_, cells)) => cells.push(first),
            None => self.free.push((len, vec![first])),
        }
    }
}

static WRITER: Mutex<Option<Writer>> = Mutex::new(None);
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Set when the process begins to exit: from then on a series whose handles are dropped (as
/// the interpreter tears its objects down) stays in the file, for readers to fold into the
/// retired totals. Only a removal while the process runs takes a series out.
static EXITING: AtomicBool = AtomicBool::new(false);

/// The process is exiting: its series stay as they are (see [`EXITING`]).
pub fn process_exiting() {
    EXITING.store(true, Ordering::Relaxed);
}

/// Whether multiprocess mode is on in this process.
#[inline]
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// The directory in use, if multiprocess mode is on.
pub fn directory() -> Option<PathBuf> {
    WRITER.lock().as_ref().map(|w| w.dir.clone())
}

/// `(pid, starttime)` of this process; starttime (clock ticks since boot, field 22 of
/// `/proc/self/stat`) tells a reused pid from the process that had it before.
fn identity() -> (u64, u64) {
    let pid = std::process::id() as u64;
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    // Fields from the state (field 3) on; starttime is field 22.
    let starttime = after_name.split_whitespace().nth(19).and_then(|f| f.parse().ok()).unwrap_or(0);
    (pid, starttime)
}

fn file_path(dir: &Path, (pid, starttime): (u64, u64)) -> PathBuf {
    dir.join(format!("p-{pid}-{starttime}.shm"))
}

/// Turns multiprocess mode on: metrics created from now on keep their values in a file of this
/// process in `dir`. Calling it again with the same directory does nothing.
pub fn enable(dir: &Path) -> io::Result<PathBuf> {
    let mut writer = WRITER.lock();
    if let Some(current) = writer.as_ref() {
        if current.dir == dir {
            return Ok(current.file.path().to_owned());
        }
        return Err(io::Error::other(format!(
            "multiprocess mode is already on with directory {}",
            current.dir.display()
        )));
    }
    let context =
        |err: io::Error| io::Error::new(err.kind(), format!("multiprocess directory {}: {err}", dir.display()));
    std::fs::create_dir_all(dir).map_err(context)?;
    let identity = identity();
    let file = MappedFile::create(&file_path(dir, identity), identity.0, identity.1).map_err(context)?;
    let path = file.path().to_owned();
    *writer = Some(Writer { dir: dir.to_owned(), file, next_family: 1, free: Vec::new() });
    ACTIVE.store(true, Ordering::Relaxed);
    Ok(path)
}

fn report(err: &io::Error) {
    crate::log::warn("series kept in this process only", &[("collector", "multiprocess"), ("error", &err.to_string())]);
}

/// Cells in this process' file for a new series of a family, logging the family (the first
/// time) and the series. `None` when the family stays process-local or the file is full.
pub(super) fn new_series<V: AsRef<str>>(
    family_id: &AtomicU32,
    meta: &Meta,
    values: &[V],
    len: u32,
) -> Option<NonNull<AtomicU64>> {
    if !active() || super::process_local(family_id) || !meta.kind.shareable() {
        return None;
    }
    let mut guard = WRITER.lock();
    let writer = guard.as_mut()?;
    let mut id = family_id.load(Ordering::Relaxed);
    if id == 0 {
        id = writer.next_family;
        let record = Record::family(id, meta);
        if let Err(err) = writer.file.append(&record) {
            report(&err);
            return None;
        }
        writer.next_family += 1;
        family_id.store(id, Ordering::Relaxed);
    }
    let n_cells = len as usize;
    let reused = writer.free.iter_mut().find(|(size, _)| *size == len).and_then(|(_, cells)| cells.pop());
    let Some(first) = reused.or_else(|| writer.file.bump_cells(n_cells)) else {
        report(&io::Error::other("the multiprocess file's cell area is full"));
        return None;
    };
    let cells = writer.file.cells(first, n_cells).expect("cells inside the area");
    cells.iter().for_each(|cell| cell.store(0, Ordering::Relaxed));
    let record =
        Record::Series { family: id, cell: first, values: values.iter().map(|v| v.as_ref().to_owned()).collect() };
    if let Err(err) = writer.file.append(&record) {
        writer.give_back(len, first);
        report(&err);
        return None;
    }
    Some(NonNull::from(&cells[0]))
}

fn cell_index(writer: &Writer, first: NonNull<AtomicU64>) -> u32 {
    let base = writer.file.cells(0, 1).expect("cell area").as_ptr();
    ((first.as_ptr() as usize - base as usize) / 8) as u32
}

/// Cells for the exemplars of the series at `first`, announced in the log.
pub(super) fn new_exemplar_block(first: NonNull<AtomicU64>, len: usize, slots: u32) -> Option<NonNull<AtomicU64>> {
    let mut guard = WRITER.lock();
    let writer = guard.as_mut()?;
    let block = writer.file.bump_cells(len)?;
    let cells = writer.file.cells(block, len)?;
    cells.iter().for_each(|cell| cell.store(0, Ordering::Relaxed));
    let record = Record::Exemplars { cell: cell_index(writer, first), block, slots };
    if let Err(err) = writer.file.append(&record) {
        report(&err);
        return None;
    }
    Some(NonNull::from(&cells[0]))
}

/// Announces that the series at `first` is no longer exported (its cells may still be held).
pub(super) fn forget(first: NonNull<AtomicU64>) {
    if EXITING.load(Ordering::Relaxed) {
        return;
    }
    if let Some(writer) = WRITER.lock().as_ref() {
        let _ = writer.file.append(&Record::Remove { cell: cell_index(writer, first) });
    }
}

/// Takes back a series' cells for reuse, after announcing them removed.
pub(super) fn release(first: NonNull<AtomicU64>, len: u32) {
    if EXITING.load(Ordering::Relaxed) {
        return;
    }
    if let Some(writer) = WRITER.lock().as_mut() {
        let index = cell_index(writer, first);
        if writer.file.append(&Record::Remove { cell: index }).is_err() {
            return; // never reused: a reader could not be told
        }
        writer.give_back(len, index);
    }
}

/// Before `fork()`: holds the writer's lock so that no thread is mid-append when the child is
/// made. Must be followed by [`after_fork_in_parent`] or [`after_fork_in_child`].
pub fn before_fork() {
    std::mem::forget(WRITER.lock());
}

/// After `fork()`, in the parent.
pub fn after_fork_in_parent() {
    // SAFETY: locked by `before_fork` in this thread, which forgot its guard.
    unsafe { WRITER.force_unlock() };
}

/// After `fork()`, in the child: a file of its own, mapped where the parent's was, with the
/// same log and zeroed cells.
pub fn after_fork_in_child() -> io::Result<()> {
    // SAFETY: locked by `before_fork` before the fork; the child has only this thread.
    unsafe { WRITER.force_unlock() };
    let mut guard = WRITER.lock();
    let Some(writer) = guard.as_mut() else { return Ok(()) };
    fork_file(writer)
        .inspect_err(|_| detach(writer))
        .map_err(|err| io::Error::new(err.kind(), format!("multiprocess file after fork: {err}")))
}

fn fork_file(writer: &mut Writer) -> io::Result<()> {
    let identity = identity();
    let path = file_path(&writer.dir, identity);
    let temporary = path.with_extension("creating");
    let new = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&temporary)?;
    new.set_len(FILE_SIZE as u64)?;
    // SAFETY: a fresh descriptor; a shared lock, held for the child's life.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&new), libc::LOCK_SH) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let used = META_START + writer.file.meta_used();
    // SAFETY: the header and the published log of our (inherited) mapping.
    let head = unsafe { std::slice::from_raw_parts(writer.file.base().as_ptr(), used) };
    new.write_all_at(head, 0)?;
    file::map(&new, true, writer.file.base().as_ptr())?;
    writer.file.replace_file(new, path.clone());
    writer.file.stamp(identity.0, identity.1);
    std::fs::rename(&temporary, &path)?;
    Ok(())
}

/// When a forked child cannot have a file: its cells become private memory at the same address,
/// so its updates never land in the parent's file, and they are exported by nobody.
fn detach(writer: &mut Writer) {
    let base = writer.file.base().as_ptr();
    // SAFETY: replaces our own mapping, same address and size, while only this thread runs.
    unsafe {
        libc::mmap(
            base.cast(),
            FILE_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if let Ok(null) = std::fs::File::open("/dev/null") {
        writer.file.replace_file(null, PathBuf::from("/dev/null"));
    }
}
