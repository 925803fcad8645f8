//! Where metric values live: 8-byte atomic cells handed out in blocks from chunks that are
//! never moved or freed.
//!
//! A Python child object keeps a [`Cells`] handle and updates its cells with one atomic
//! instruction, so the cells must stay put for as long as any handle exists. Chunks are
//! allocated once and leaked on purpose; a dropped block goes to a free list of its size and is
//! zeroed when reused. In multiprocess mode a series' block comes from this process' file
//! instead (`shm::writer`), which keeps the same rules: never moved, reused by size.

use parking_lot::Mutex;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// Cells per chunk: 64 KiB, big enough that the allocator lock is rare on the miss path.
const CHUNK_CELLS: usize = 8192;

struct Allocator {
    current: &'static [AtomicU64],
    used: usize,
    /// Freed blocks by size; few distinct sizes exist (one per metric shape), so a list will do.
    free: Vec<(u32, Vec<NonNull<AtomicU64>>)>,
}

// SAFETY: the pointers in `free` point into leaked chunks that live for the whole process.
unsafe impl Send for Allocator {}

static REGION: Mutex<Allocator> = Mutex::new(Allocator { current: &[], used: 0, free: Vec::new() });

fn new_chunk(len: usize) -> &'static [AtomicU64] {
    Box::leak((0..len).map(|_| AtomicU64::new(0)).collect::<Box<[AtomicU64]>>())
}

/// A block of zeroed cells owned by one series; given back to the region when dropped.
pub struct Cells {
    ptr: NonNull<AtomicU64>,
    len: u32,
    /// In this process' multiprocess file rather than anonymous memory.
    shared: bool,
}

// SAFETY: the cells are atomics in memory that is never freed, so sharing the handle across
// threads is as safe as sharing `&'static [AtomicU64]`.
unsafe impl Send for Cells {}
unsafe impl Sync for Cells {}

impl Cells {
    /// Takes `len` zeroed cells from the region.
    pub fn alloc(len: usize) -> Cells {
        let len32 = u32::try_from(len).expect("cell block too large");
        let mut region = REGION.lock();
        let reused = region.free.iter_mut().find(|(size, _)| *size == len32).and_then(|(_, blocks)| blocks.pop());
        if let Some(ptr) = reused {
            drop(region);
            let cells = Cells { ptr, len: len32, shared: false };
            cells.as_slice().iter().for_each(|cell| cell.store(0, Ordering::Relaxed));
            return cells;
        }
        if len > CHUNK_CELLS / 4 {
            let chunk = new_chunk(len);
            return Cells { ptr: NonNull::from(&chunk[0]), len: len32, shared: false };
        }
        if region.used + len > region.current.len() {
            region.current = new_chunk(CHUNK_CELLS);
            region.used = 0;
        }
        let ptr = NonNull::from(&region.current[region.used]);
        region.used += len;
        Cells { ptr, len: len32, shared: false }
    }

    /// A block in this process' multiprocess file, handed out by `shm::writer`.
    pub fn shared(ptr: NonNull<AtomicU64>, len: u32) -> Cells {
        Cells { ptr, len, shared: true }
    }

    /// Whether the block is in the multiprocess file.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Where the block starts.
    pub fn first(&self) -> NonNull<AtomicU64> {
        self.ptr
    }

    /// The cells as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[AtomicU64] {
        // SAFETY: `ptr..ptr+len` lies inside a leaked chunk handed out to this block only.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len as usize) }
    }
}

impl Drop for Cells {
    fn drop(&mut self) {
        if self.shared {
            return crate::shm::writer::release(self.ptr, self.len);
        }
        let mut region = REGION.lock();
        match region.free.iter_mut().find(|(size, _)| *size == self.len) {
            Some((_, blocks)) => blocks.push(self.ptr),
            None => region.free.push((self.len, vec![self.ptr])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_zeroed_and_reused() {
        let first = Cells::alloc(37);
        first.as_slice()[1].store(42, Ordering::Relaxed);
        let address = first.as_slice().as_ptr();
        drop(first);
        let second = Cells::alloc(37);
        assert_eq!(second.as_slice().as_ptr(), address);
        assert!(second.as_slice().iter().all(|c| c.load(Ordering::Relaxed) == 0));
    }

    #[test]
    fn large_blocks_get_their_own_chunk() {
        let big = Cells::alloc(CHUNK_CELLS);
        assert_eq!(big.as_slice().len(), CHUNK_CELLS);
    }
}
