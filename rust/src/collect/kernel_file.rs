//! Reading procfs and sysfs files the cheap way. The kernel regenerates such a file whenever
//! it is read from offset 0, so a descriptor opened once serves every later scrape: that saves
//! the open and close (path walk, allocation of a `struct file`) of each of the ~30 files read
//! per scrape, the largest part of what the collectors cost after the reads themselves. The
//! reads are `pread`s from a caller-owned buffer, with none of `read_to_string`'s size probing.
//!
//! Only files on procfs and sysfs are kept: anything else (the recorded fixtures, a textfile)
//! is opened at each read, so a replaced file is always seen. A kept descriptor that fails (a
//! process or a network device gone) is dropped and the path opened again once; the number
//! kept is bounded, since devices come and go (containers' veth pairs). A forked child drops
//! what its parent kept: a descriptor of `/proc/self/...` would still show the parent.
//!
//! Within one scrape ([`within_one_scrape`]) a file is read once however many collectors read
//! it: cpu and stat both parse `/proc/stat`, whose per-interrupt line is long on big machines.

use hashbrown::HashMap;
use parking_lot::Mutex;
use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Past this many kept descriptors, all are closed and the cache refills from what is read.
const MAX_KEPT: usize = 512;

/// Set in a forked child, whose kept descriptors are its parent's.
static FORKED: AtomicBool = AtomicBool::new(false);

extern "C" fn forked() {
    FORKED.store(true, Ordering::Relaxed);
}

/// The kept descriptors of this process (emptied first in a forked child; a flag set at fork
/// spares the scrape a getpid per file).
fn kept() -> parking_lot::MutexGuard<'static, HashMap<PathBuf, Arc<File>>> {
    static KEPT: OnceLock<Mutex<HashMap<PathBuf, Arc<File>>>> = OnceLock::new();
    let mut kept = KEPT
        .get_or_init(|| {
            // SAFETY: the child handler only stores to an atomic.
            unsafe { libc::pthread_atfork(None, None, Some(forked)) };
            Mutex::new(HashMap::new())
        })
        .lock();
    if FORKED.swap(false, Ordering::Relaxed) {
        kept.clear();
    }
    kept
}

/// Whether `path` is on procfs or sysfs, whose contents are generated at each read.
pub(super) fn path_generated_by_kernel(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: statfs fills the struct we own; the path is NUL-terminated.
    unsafe {
        let mut stat: libc::statfs = std::mem::zeroed();
        libc::statfs(path.as_ptr(), &mut stat) == 0 && matches!(stat.f_type, libc::PROC_SUPER_MAGIC | libc::SYSFS_MAGIC)
    }
}

/// Whether `file` lives on procfs or sysfs, whose contents are generated at each read.
pub(super) fn generated_by_kernel(file: &File) -> bool {
    // SAFETY: fstatfs fills the struct we own from a descriptor we hold.
    unsafe {
        let mut stat: libc::statfs = std::mem::zeroed();
        libc::fstatfs(file.as_raw_fd(), &mut stat) == 0
            && matches!(stat.f_type, libc::PROC_SUPER_MAGIC | libc::SYSFS_MAGIC)
    }
}

/// The whole file, read from offset 0 until end of file.
pub(super) fn read_from_start(file: &File) -> io::Result<String> {
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match file.read_at(&mut buf[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

thread_local! {
    /// The texts read so far in the scrape running on this thread, if one is.
    static THIS_SCRAPE: RefCell<Option<HashMap<PathBuf, String>>> = const { RefCell::new(None) };
}

/// Runs `scrape` with each file read at most once.
pub fn within_one_scrape<T>(scrape: impl FnOnce() -> T) -> T {
    let outer = THIS_SCRAPE.replace(Some(HashMap::new()));
    let result = scrape();
    THIS_SCRAPE.set(outer);
    result
}

/// Reads `path`, once per scrape, through a kept descriptor when there is one.
pub fn read(path: &Path) -> io::Result<String> {
    let seen = THIS_SCRAPE.with_borrow(|texts| texts.as_ref().map(|texts| texts.get(path).cloned()));
    match seen {
        None => read_now(path),
        Some(Some(text)) => Ok(text),
        Some(None) => {
            let text = read_now(path)?;
            THIS_SCRAPE.with_borrow_mut(|texts| texts.as_mut().map(|t| t.insert(path.to_owned(), text.clone())));
            Ok(text)
        }
    }
}

fn read_now(path: &Path) -> io::Result<String> {
    let held = kept().get(path).cloned();
    if let Some(file) = held {
        match read_from_start(&file) {
            Ok(text) => return Ok(text),
            Err(_) => {
                kept().remove(path);
            }
        }
    }
    let file = File::open(path)?;
    let text = read_from_start(&file)?;
    if generated_by_kernel(&file) {
        let files = &mut *kept();
        if files.len() >= MAX_KEPT {
            files.clear();
        }
        files.insert(path.to_owned(), Arc::new(file));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testing::TempTree;

    #[test]
    fn a_kept_procfs_file_is_read_afresh_each_time() {
        let path = Path::new("/proc/self/stat");
        let utime = || read(path).unwrap().rsplit(')').next().unwrap().split_whitespace().nth(11).unwrap().to_owned();
        let first = read(path).unwrap();
        assert!(kept().contains_key(path), "procfs files are kept open");
        let started = std::time::Instant::now();
        let before: u64 = utime().parse().unwrap();
        while started.elapsed() < std::time::Duration::from_millis(60) {} // burn user time
        let after: u64 = utime().parse().unwrap();
        assert!(after > before, "utime {before} -> {after}: a kept file must be regenerated");
        assert!(first.starts_with(&std::process::id().to_string()));
    }

    #[test]
    fn within_a_scrape_a_file_is_read_once() {
        let tree = TempTree::new("kernel-file-scrape");
        tree.write("value", "first");
        let path = tree.path("value");
        let during = within_one_scrape(|| {
            let first = read(&path).unwrap();
            std::fs::write(&path, "second").unwrap();
            first + &read(&path).unwrap()
        });
        assert_eq!(during, "firstfirst");
        assert_eq!(read(&path).unwrap(), "second", "the next scrape reads it again");
    }

    #[test]
    fn regular_files_are_not_kept_and_changes_are_seen() {
        let tree = TempTree::new("kernel-file");
        tree.write("value", "1\n");
        let path = tree.path("value");
        assert_eq!(read(&path).unwrap(), "1\n");
        assert!(!kept().contains_key(&path));
        tree.write("next", "a longer second value\n".repeat(400));
        std::fs::rename(tree.path("next"), &path).unwrap();
        assert_eq!(read(&path).unwrap().len(), 22 * 400, "a file larger than one read buffer is read whole");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read(&path).unwrap_err().kind(), io::ErrorKind::NotFound);
        std::fs::remove_dir(tree.root()).unwrap();
    }
}
