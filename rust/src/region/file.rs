//! One mapped multiprocess file: header fields, the metadata log, the cells, and its `flock`.
//!
//! The header is a few 8-byte words read and written as atomics, since another process may be
//! reading them at any moment. The whole file is mapped at once; it is sparse, so an unused log
//! or cell area costs address space only.

use super::layout::{Record, CELLS_START, CELL_CAPACITY, FILE_SIZE, LAYOUT_VERSION, MAGIC, META_CAPACITY, META_START};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

const VERSION: usize = 1;
const PID: usize = 2;
const STARTTIME: usize = 3;
const META_USED: usize = 4;
const CELLS_USED: usize = 5;

/// A multiprocess file, mapped.
pub struct MappedFile {
    file: File,
    base: NonNull<u8>,
    path: PathBuf,
}

// SAFETY: the mapping lives as long as the value and is only reached through atomics and the
// log, whose bytes are published before they are read.
unsafe impl Send for MappedFile {}
unsafe impl Sync for MappedFile {}

/// Maps `file` whole, shared, at `at` (null: anywhere).
pub(super) fn map(file: &File, writable: bool, at: *mut u8) -> io::Result<NonNull<u8>> {
    let protection = if writable { libc::PROT_READ | libc::PROT_WRITE } else { libc::PROT_READ };
    let flags = libc::MAP_SHARED | if at.is_null() { 0 } else { libc::MAP_FIXED };
    // SAFETY: a fresh mapping of a file we hold, or one placed over our own earlier mapping.
    let base = unsafe { libc::mmap(at.cast(), FILE_SIZE, protection, flags, file.as_raw_fd(), 0) };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(NonNull::new(base.cast()).expect("mmap returned null"))
}

fn flock(file: &File, operation: libc::c_int) -> io::Result<()> {
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), operation) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl MappedFile {
    /// Makes a new file at `path`: created under a temporary name, sized, stamped, locked shared
    /// (for as long as this process lives), then renamed into place, so a reader never sees it
    /// unlocked or without its header.
    pub fn create(path: &Path, pid: u64, starttime: u64) -> io::Result<MappedFile> {
        let temporary = path.with_extension("creating");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(&temporary)?;
        file.set_len(FILE_SIZE as u64)?;
        flock(&file, libc::LOCK_SH)?;
        let base = map(&file, true, std::ptr::null_mut())?;
        let mapped = MappedFile { file, base, path: path.to_owned() };
        mapped.stamp(pid, starttime);
        std::fs::rename(&temporary, path)?;
        Ok(mapped)
    }

    /// Opens an existing file for reading (`writable` for the retired file, which readers add to).
    pub fn open(path: &Path, writable: bool) -> Result<MappedFile, String> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| e.to_string())?;
        let size = file.metadata().map_err(|e| e.to_string())?.len();
        if size < 16 {
            return Err(format!("truncated: {size} bytes"));
        }
        let mut head = [0u8; 16];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut head, 0).map_err(|e| e.to_string())?;
        if head[..8] != MAGIC {
            return Err("not an obsagent multiprocess file (bad magic)".into());
        }
        let version = u64::from_le_bytes(head[8..].try_into().unwrap());
        if version != LAYOUT_VERSION {
            return Err(format!("layout version {version}, this obsagent reads version {LAYOUT_VERSION}"));
        }
        if size != FILE_SIZE as u64 {
            return Err(format!("truncated: {size} bytes where {FILE_SIZE} are expected"));
        }
        let base = map(&file, writable, std::ptr::null_mut()).map_err(|e| e.to_string())?;
        Ok(MappedFile { file, base, path: path.to_owned() })
    }

    /// Makes `retired.shm` in `dir` unless it exists, and opens it for adding to. It is made
    /// under a temporary name and linked into place, so two readers racing make one file.
    pub fn open_retired(dir: &Path) -> Result<MappedFile, String> {
        let path = dir.join(super::layout::RETIRED_FILE);
        if !path.exists() {
            let temporary = dir.join(format!(".retired-{}.creating", std::process::id()));
            let made = (|| -> io::Result<()> {
                let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&temporary)?;
                file.set_len(FILE_SIZE as u64)?;
                let base = map(&file, true, std::ptr::null_mut())?;
                MappedFile { file, base, path: temporary.clone() }.stamp(0, 0);
                match std::fs::hard_link(&temporary, &path) {
                    Err(err) if err.kind() != io::ErrorKind::AlreadyExists => Err(err),
                    _ => Ok(()),
                }
            })();
            let _ = std::fs::remove_file(&temporary);
            made.map_err(|e| format!("cannot make {}: {e}", path.display()))?;
        }
        MappedFile::open(&path, true)
    }

    /// Swaps in the file now mapped at this mapping's address (a forked child's own); the
    /// inherited descriptor is closed, so the parent's lock no longer depends on the child.
    pub(super) fn replace_file(&mut self, file: File, path: PathBuf) {
        self.file = file;
        self.path = path;
    }

    /// Writes the header of a new (or newly forked) file.
    pub(super) fn stamp(&self, pid: u64, starttime: u64) {
        // SAFETY: the first 8 bytes are ours to write; nobody reads them before the rename.
        unsafe { self.base.as_ptr().copy_from_nonoverlapping(MAGIC.as_ptr(), 8) };
        self.word(VERSION).store(LAYOUT_VERSION, Ordering::Relaxed);
        self.word(PID).store(pid, Ordering::Relaxed);
        self.word(STARTTIME).store(starttime, Ordering::Relaxed);
    }

    fn word(&self, index: usize) -> &AtomicU64 {
        // SAFETY: the header page is mapped and 8-byte aligned.
        unsafe { &*self.base.as_ptr().cast::<AtomicU64>().add(index) }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the mapping starts.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// Bytes of the log published so far.
    pub fn meta_used(&self) -> usize {
        self.word(META_USED).load(Ordering::Acquire) as usize
    }

    /// The published log from byte `from` on.
    pub fn meta_since(&self, from: usize) -> &[u8] {
        let used = self.meta_used().min(META_CAPACITY);
        // SAFETY: the log area is mapped, and bytes below `meta_used` were written before it
        // was published with Release (loaded above with Acquire).
        unsafe {
            std::slice::from_raw_parts(self.base.as_ptr().add(META_START + from.min(used)), used - from.min(used))
        }
    }

    /// Appends a record and publishes it. The caller is the file's only writer at this moment.
    pub fn append(&self, record: &Record) -> io::Result<()> {
        let bytes = record.encode();
        let used = self.word(META_USED).load(Ordering::Relaxed) as usize;
        if used + bytes.len() > META_CAPACITY {
            return Err(io::Error::other("the multiprocess file's metadata log is full"));
        }
        // SAFETY: the range lies in the log area past what is published, where only we write.
        unsafe {
            self.base.as_ptr().add(META_START + used).copy_from_nonoverlapping(bytes.as_ptr(), bytes.len());
        }
        self.word(META_USED).store((used + bytes.len()) as u64, Ordering::Release);
        Ok(())
    }

    /// Takes `n` cells from the cell area's end; `None` when it is full.
    pub fn bump_cells(&self, n: usize) -> Option<u32> {
        let used = self.word(CELLS_USED).load(Ordering::Relaxed) as usize;
        if used + n > CELL_CAPACITY {
            return None;
        }
        self.word(CELLS_USED).store((used + n) as u64, Ordering::Relaxed);
        Some(used as u32)
    }

    /// `n` cells from index `first`; `None` when they lie outside the cell area.
    pub fn cells(&self, first: u32, n: usize) -> Option<&[AtomicU64]> {
        let first = first as usize;
        if first + n > CELL_CAPACITY {
            return None;
        }
        // SAFETY: inside the mapped cell area, 8-byte aligned; cells are only used as atomics.
        Some(unsafe {
            std::slice::from_raw_parts(self.base.as_ptr().add(CELLS_START).cast::<AtomicU64>().add(first), n)
        })
    }

    /// Tries to take the file's lock exclusively: succeeds only when its writer has exited.
    pub fn try_lock_exclusive(&self) -> bool {
        flock(&self.file, libc::LOCK_EX | libc::LOCK_NB).is_ok()
    }

    /// Waits for the file's lock, exclusive or shared.
    pub fn lock(&self, exclusive: bool) -> io::Result<()> {
        flock(&self.file, if exclusive { libc::LOCK_EX } else { libc::LOCK_SH })
    }

    /// Releases this descriptor's lock.
    pub fn unlock(&self) {
        let _ = flock(&self.file, libc::LOCK_UN);
    }

    /// Whether the file has been removed from the directory since it was opened.
    pub fn unlinked(&self) -> bool {
        self.file.metadata().map(|m| m.nlink() == 0).unwrap_or(true)
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // SAFETY: our own mapping, which nothing references past this value's life.
        unsafe { libc::munmap(self.base.as_ptr().cast(), FILE_SIZE) };
    }
}
