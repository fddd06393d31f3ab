//! [`SlabNodes`]: area objects carved from slabs of the global allocator,
//! as a kernel's `kmem_cache` carves `vmap_area`s from pages.

use super::{NodeSource, Stash};
use crate::area::Area;
use core::alloc::Layout;
use core::cell::Cell;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

/// Area objects per slab: with the line holding the chain word, a slab is 64 KiB on 64-bit
/// targets, below glibc's default `mmap` threshold (128 KiB), so slabs come
/// from the heap like any other allocation.
pub const SLAB_AREAS: usize = 1023;

/// One slab: the area slots, then the chain word in the last line. Aligned
/// to 64 bytes with the slots first, so that with 64-byte areas (64-bit
/// targets) every slot is one whole cache line.
#[repr(C, align(64))]
struct Slab {
    slots: [MaybeUninit<Area>; SLAB_AREAS],
    /// The slab allocated before this one.
    older: Option<NonNull<Slab>>,
}

/// Areas carved from 64 KiB slabs taken from the global allocator (feature
/// `alloc`): one allocation per [`SLAB_AREAS`] areas instead of one per
/// area, no allocator header between areas, and each area on a cache line
/// of its own (the areas are 64 bytes on 64-bit targets and the slabs
/// 64-byte aligned; a `Box`ed area from glibc sits 80 bytes from the next,
/// straddling two lines three times in four). Measured on the random-frees
/// workload at 1e5 live areas in `docs/benchmarks.md`.
///
/// A given-back area is handed out again before a fresh slot (last in,
/// first out). Slabs go back to the allocator only when the source is
/// dropped, which is after the space that owns it has given back every
/// area: a space holds its source by value. A new slab is allocated inside
/// [`take`](NodeSource::take), at the point where [`BoxNodes`](crate::BoxNodes)
/// would allocate one area; a space never calls its source while a lock of
/// it is held (a [`SharedSpace`](crate::SharedSpace) releases its lock
/// first).
///
/// `Send` but not `Sync`: its free list is plain cells. It feeds a space
/// one CPU owns; a space shared by many CPUs takes [`BoxNodes`](crate::BoxNodes),
/// a [`PoolNodes`](crate::PoolNodes) or an [`AreaPool`](crate::AreaPool).
///
/// ```
/// use vmarea::{Flags, Policy, SlabNodes, Space};
///
/// let mut space = Space::new(0x1000_0000, 0x2000_0000, 4096, Policy::InstantFit, SlabNodes::new())
///     .unwrap();
/// let a = space.alloc(4096, 0, Flags::ALLOC).unwrap();
/// space.free(a.addr).unwrap();
/// space.validate().unwrap();
/// ```
pub struct SlabNodes {
    /// The newest slab, chained to older ones through `Slab::older`.
    newest: Cell<Option<NonNull<Slab>>>,
    /// Slots of the newest slab never handed out: `[fresh, SLAB_AREAS)`.
    fresh: Cell<usize>,
    /// Given-back areas.
    free: Stash,
    /// Slabs allocated.
    slabs: Cell<usize>,
}

impl SlabNodes {
    /// A source with no slab yet (the first `take` allocates one).
    pub const fn new() -> Self {
        SlabNodes {
            newest: Cell::new(None),
            fresh: Cell::new(SLAB_AREAS),
            free: Stash::new(),
            slabs: Cell::new(0),
        }
    }

    /// Slabs allocated so far (each holds [`SLAB_AREAS`] areas).
    pub fn slabs(&self) -> usize {
        self.slabs.get()
    }

    /// Areas ready without a new slab: given back, or never handed out.
    pub fn available(&self) -> usize {
        self.free.len() + (SLAB_AREAS - self.fresh.get())
    }

    /// The next never-used slot, allocating a slab when the newest is used
    /// up; `None` when the allocator has no memory.
    fn fresh_slot(&self) -> Option<NonNull<Area>> {
        if self.fresh.get() == SLAB_AREAS {
            // SAFETY: `Slab` has a non-zero size.
            let slab = NonNull::new(unsafe { alloc::alloc::alloc(Layout::new::<Slab>()) })?;
            let slab = slab.cast::<Slab>();
            // SAFETY: `slab` is a fresh allocation for one `Slab`; writing
            // its header field initialises nothing else (the slots stay
            // uninitialised until handed out).
            unsafe { (&raw mut (*slab.as_ptr()).older).write(self.newest.get()) };
            self.newest.set(Some(slab));
            self.fresh.set(0);
            self.slabs.set(self.slabs.get() + 1);
        }
        let slab = self.newest.get()?;
        let i = self.fresh.get();
        self.fresh.set(i + 1);
        // No reference to the slab is made, so the slots already handed out
        // are not retagged.
        // SAFETY: `i < SLAB_AREAS`: a slot inside the newest slab, not null.
        Some(unsafe {
            NonNull::new_unchecked((&raw mut (*slab.as_ptr()).slots).cast::<Area>().add(i))
        })
    }
}

impl Default for SlabNodes {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every slot is handed out at most once until it is given back (a
// fresh slot once, by the `fresh` index; a given-back one once, by the
// stash); slabs are freed only in `drop`, when the space that owned the
// source has given every area back.
unsafe impl NodeSource for SlabNodes {
    #[inline]
    fn take(&self) -> Option<NonNull<Area>> {
        let slot = match self.free.pop() {
            Some(a) => a,
            None => self.fresh_slot()?,
        };
        // SAFETY: the slot is ours alone now; (re)initialise it.
        unsafe { slot.as_ptr().write(Area::new()) };
        Some(slot)
    }

    #[inline]
    unsafe fn give(&self, area: NonNull<Area>) {
        // SAFETY: `area` came from `take` and is in no index (caller
        // contract): the stash may chain it.
        unsafe { self.free.give(area) }
    }
}

impl Drop for SlabNodes {
    fn drop(&mut self) {
        let mut next = self.newest.take();
        while let Some(slab) = next {
            // Its slots hold plain data, and none is in use any more: the
            // owning space gave every area back before its source drops.
            // SAFETY: allocated in `fresh_slot` with this layout; freed once.
            unsafe {
                next = (*slab.as_ptr()).older;
                alloc::alloc::dealloc(slab.as_ptr().cast(), Layout::new::<Slab>());
            }
        }
    }
}

// SAFETY: the source owns its slabs; moving it to another thread moves
// that ownership (the areas it handed out belong to the space that owns
// the source and move with it). Not `Sync`: `take`/`give` use plain cells.
unsafe impl Send for SlabNodes {}

impl core::fmt::Debug for SlabNodes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlabNodes")
            .field("slabs", &self.slabs())
            .field("available", &self.available())
            .finish()
    }
}

#[cfg(all(target_pointer_width = "64", not(loom)))]
static_assertions::const_assert_eq!(core::mem::size_of::<Slab>(), 64 * 1024);
