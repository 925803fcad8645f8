//! Anonymous memory for cells: blocks handed out from chunks that are never moved or freed.
//!
//! Chunks are allocated once and leaked on purpose, so a block's address stays valid for as
//! long as any handle to it exists; a dropped block goes to a free list of its size and is
//! zeroed when reused.

use parking_lot::Mutex;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// Cells per chunk: 64 KiB, big enough that the allocator lock is rare on the miss path.
pub(super) const CHUNK_CELLS: usize = 8192;

struct Allocator {
    current: &'static [AtomicU64],
    used: usize,
    /// Freed blocks by size; few distinct sizes exist (one per metric shape), so a list will do.
    free: Vec<(u32, Vec<NonNull<AtomicU64>>)>,
}

// SAFETY: the pointers in `free` point into leaked chunks that live for the whole process.
unsafe impl Send for Allocator {}

static ALLOCATOR: Mutex<Allocator> = Mutex::new(Allocator { current: &[], used: 0, free: Vec::new() });

fn new_chunk(len: usize) -> &'static [AtomicU64] {
    Box::leak((0..len).map(|_| AtomicU64::new(0)).collect::<Box<[AtomicU64]>>())
}

/// `len` zeroed cells.
pub(super) fn alloc(len: u32) -> NonNull<AtomicU64> {
    let mut allocator = ALLOCATOR.lock();
    let reused = allocator.free.iter_mut().find(|(size, _)| *size == len).and_then(|(_, blocks)| blocks.pop());
    if let Some(ptr) = reused {
        drop(allocator);
        // SAFETY: a block of `len` cells of a leaked chunk, handed back by `free`.
        let cells = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), len as usize) };
        cells.iter().for_each(|cell| cell.store(0, Ordering::Relaxed));
        return ptr;
    }
    let len = len as usize;
    if len > CHUNK_CELLS / 4 {
        return NonNull::from(&new_chunk(len)[0]);
    }
    if allocator.used + len > allocator.current.len() {
        allocator.current = new_chunk(CHUNK_CELLS);
        allocator.used = 0;
    }
    let ptr = NonNull::from(&allocator.current[allocator.used]);
    allocator.used += len;
    ptr
}

/// Takes back a block of `len` cells for reuse.
pub(super) fn free(ptr: NonNull<AtomicU64>, len: u32) {
    let mut allocator = ALLOCATOR.lock();
    match allocator.free.iter_mut().find(|(size, _)| *size == len) {
        Some((_, blocks)) => blocks.push(ptr),
        None => allocator.free.push((len, vec![ptr])),
    }
}
