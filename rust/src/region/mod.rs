//! Where a series' values live: a block of 8-byte atomic cells, in anonymous memory or, in
//! multiprocess mode, in this process' shared file. This is the only module that knows which;
//! a family holds an opaque [`FamilySlot`] and its series hold [`Cells`].
//!
//! A Python child object keeps a [`Cells`] handle and updates its cells with one atomic
//! instruction, so the cells must stay put for as long as any handle exists. Both homes keep
//! that rule: anonymous chunks are never freed ([`anonymous`]), and the shared file is mapped
//! once and never moved ([`file`]); a freed block is reused for a series of the same size.
//!
//! - [`layout`]: the shared file's format (header, metadata log records, cells);
//! - [`file`]: one mapped file, its log and its lock;
//! - [`writer`]: this process' own file, and what a forked child does to get its own.

mod anonymous;
pub mod file;
pub mod layout;
pub mod writer;

use crate::metric::Meta;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A family's place in this process' multiprocess file: its number there once written.
#[derive(Debug, Default)]
pub struct FamilySlot(AtomicU32);

/// A family that is never written to the file (the reader's own merged families).
const NEVER: u32 = u32::MAX;

impl FamilySlot {
    /// A family whose series go to the multiprocess file while the mode is on.
    pub fn new() -> FamilySlot {
        FamilySlot(AtomicU32::new(0))
    }

    /// A family whose cells stay in this process' memory whatever the mode.
    pub fn process_local() -> FamilySlot {
        FamilySlot(AtomicU32::new(NEVER))
    }
}

/// A block of zeroed cells owned by one series; given back when dropped.
pub struct Cells {
    ptr: NonNull<AtomicU64>,
    len: u32,
    /// In this process' multiprocess file rather than anonymous memory.
    shared: bool,
}

// SAFETY: the cells are atomics in memory that is never freed or moved while a handle exists,
// so sharing the handle across threads is as safe as sharing `&'static [AtomicU64]`.
unsafe impl Send for Cells {}
unsafe impl Sync for Cells {}

impl Cells {
    /// Cells for a new series of the family `meta` with label `values`: in this process'
    /// multiprocess file when the mode is on and the kind is shared, else in anonymous memory.
    pub fn for_series<V: AsRef<str>>(slot: &FamilySlot, meta: &Meta, values: &[V]) -> Cells {
        let len = u32::try_from(meta.kind.cells()).expect("cell block too large");
        match writer::new_series(&slot.0, meta, values, len) {
            Some(ptr) => Cells { ptr, len, shared: true },
            None => Cells { ptr: anonymous::alloc(len), len, shared: false },
        }
    }

    /// The cells as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[AtomicU64] {
        // SAFETY: `ptr..ptr+len` lies in a block handed to this handle only, never moved.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len as usize) }
    }

    /// A block of `len` zeroed cells in this process' multiprocess file for this series'
    /// exemplars, announced to readers; `None` when the series is not in the file (or it is
    /// full). Never freed: exemplars are rare, and a reader may still be reading it.
    pub fn exemplar_block(&self, len: usize, slots: u32) -> Option<&'static [AtomicU64]> {
        if !self.shared {
            return None;
        }
        let ptr = writer::new_exemplar_block(self.ptr, len, slots)?;
        // SAFETY: `len` cells of the mapped file, which is never unmapped or moved.
        Some(unsafe { std::slice::from_raw_parts(ptr.as_ptr(), len) })
    }

    /// Tells readers of the multiprocess file that this series is no longer exported (its
    /// handles may still update it).
    pub fn forget(&self) {
        if self.shared {
            writer::forget(self.ptr);
        }
    }
}

impl Drop for Cells {
    fn drop(&mut self) {
        if self.shared {
            writer::release(self.ptr, self.len);
        } else {
            anonymous::free(self.ptr, self.len);
        }
    }
}

/// Whether a family's slot says it stays out of the file.
fn process_local(slot: &AtomicU32) -> bool {
    slot.load(Ordering::Relaxed) == NEVER
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::Kind;

    fn meta(kind: Kind) -> Meta {
        Meta { name: "m".into(), help: String::new(), unit: String::new(), kind, label_names: Box::new([]) }
    }

    #[test]
    fn blocks_are_zeroed_and_reused() {
        let slot = FamilySlot::process_local();
        // A size of its own (36 bounds and the sum), so no other test's block is reused here.
        let bounds: Vec<f64> = (1..36).map(f64::from).collect();
        let kind = Kind::Histogram { bounds: crate::metric::histogram::bounds(&bounds).unwrap() };
        let first = Cells::for_series::<&str>(&slot, &meta(kind.clone()), &[]);
        first.as_slice()[1].store(42, Ordering::Relaxed);
        let address = first.as_slice().as_ptr();
        drop(first);
        let second = Cells::for_series::<&str>(&slot, &meta(kind), &[]);
        assert_eq!(second.as_slice().as_ptr(), address);
        assert!(second.as_slice().iter().all(|c| c.load(Ordering::Relaxed) == 0));
    }

    #[test]
    fn large_blocks_get_their_own_chunk() {
        let big = anonymous::alloc(anonymous::CHUNK_CELLS as u32);
        // SAFETY: a block of CHUNK_CELLS cells just handed out.
        let cells = unsafe { std::slice::from_raw_parts(big.as_ptr(), anonymous::CHUNK_CELLS) };
        assert!(cells.iter().all(|c| c.load(Ordering::Relaxed) == 0));
        anonymous::free(big, anonymous::CHUNK_CELLS as u32);
    }
}
