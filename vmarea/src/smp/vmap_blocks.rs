//! `vm_map_ram`-style small mappings carved from per-CPU blocks (Linux's
//! `vmap_block`, `mm/vmalloc.c`).
//!
//! - A **block** is one area of [`BLOCK_QUANTA`] quanta, aligned to its
//!   size, allocated from the [`SharedSpace`] and held (as a cache holds its
//!   areas: [`SharedSpace::free`] refuses it with [`Error::Cached`]).
//! - [`VmapBlocks::map`] carves a piece of `2^order` quanta (the request
//!   rounded up to a power of two, at most [`MAX_BLOCK_MAP`] quanta) from
//!   the first block with room, after the pieces carved before it, as
//!   `vb_alloc` does: no lock, no search. A bitmap records the live pieces.
//! - [`VmapBlocks::unmap`] marks a piece **dirty**: its range is not handed
//!   out again while the block lives, so no stale TLB entry can see it
//!   reused. When every quantum of a block is dirty the block goes back to
//!   the space lazily (`free_vmap_block` → `free_vmap_area_noflush`): the
//!   flush hook sees the whole block before any of it is reusable.
//! - [`VmapBlocks::purge`] gives back every block with no live piece, dirty
//!   or never carved (`purge_fragmented_blocks`).
//! - Larger requests, and any request once all [`BLOCK_SLOTS`] blocks lack
//!   room, are areas of the space itself (as `vm_map_ram` calls
//!   `alloc_vmap_area` above `VMAP_MAX_ALLOC`), held the same way and freed
//!   lazily by `unmap`.
//!
//! One `VmapBlocks` per CPU, as Linux keeps a `vmap_block_queue` per CPU.
//! It is not itself synchronised: a kernel that unmaps on another CPU than
//! the one that mapped puts each CPU's `VmapBlocks` behind a lock of its
//! own (Linux takes the block's spinlock in `vb_free` for the same reason).

use super::shared::{RawLock, SharedSpace};
use crate::area::Flags;
use crate::error::Error;
use crate::nodes::NodeSource;
use crate::request::Request;
use crate::space::Handle;
use core::marker::PhantomData;

/// Quanta per block: one bit each in a `u128` (Linux sizes its blocks
/// between 128 and 1024 pages, `VMAP_BBMAP_BITS`).
pub const BLOCK_QUANTA: usize = 128;

/// The largest piece carved from a block, in quanta (Linux's
/// `VMAP_MAX_ALLOC`, `BITS_PER_LONG` pages); larger mappings are areas of
/// the space.
pub const MAX_BLOCK_MAP: usize = 64;

/// Blocks one [`VmapBlocks`] holds at a time (fixed: no allocation).
pub const BLOCK_SLOTS: usize = 8;

/// Every quantum of a block.
const FULL: u128 = u128::MAX;

/// One held block: where it is, how far it is carved, and which carved
/// quanta are live or dirty.
#[derive(Clone, Copy)]
struct Block {
    handle: Handle,
    addr: usize,
    /// Quanta carved so far, from the start (`BLOCK_QUANTA - vb->free`).
    carved: u32,
    /// Quanta of pieces mapped now.
    live: u128,
    /// Quanta of pieces unmapped since the block was made.
    dirty: u128,
}

/// The bits of quanta `[from, from + n)` of a block.
fn bits(from: u32, n: u32) -> u128 {
    let ones = if n as usize == BLOCK_QUANTA {
        FULL
    } else {
        (1u128 << n) - 1
    };
    ones << from
}

/// A mapping served by [`VmapBlocks::map`]. Move-only and unforgeable:
/// it goes back through [`VmapBlocks::unmap`] of the same `VmapBlocks`
/// instance, wherever that has moved since (dropping it keeps its range
/// mapped for good: a leak, never a reuse).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a dropped mapping stays mapped for good: unmap it with VmapBlocks::unmap"]
pub struct MappedRam<'a> {
    addr: usize,
    size: usize,
    /// The space's own area, for mappings not carved from a block.
    area: Option<Handle>,
    /// The instance that served it: the `SharedSpace`'s address (unique
    /// among live spaces while `'a` borrows it) and the instance number
    /// that space gave the `VmapBlocks` (kept across moves). Only compared.
    space: *const (),
    instance: usize,
    _space: PhantomData<&'a ()>,
}

impl MappedRam<'_> {
    /// Start address.
    pub fn addr(&self) -> usize {
        self.addr
    }
    /// Bytes: the request rounded up to a power of two of quanta inside a
    /// block, to the quantum otherwise. No guard quantum follows.
    pub fn size(&self) -> usize {
        self.size
    }
    /// Whether it was carved from a block (small), not an area of its own.
    pub fn in_block(&self) -> bool {
        self.area.is_none()
    }
}

// SAFETY: `space` is only compared, never dereferenced; the handle is an
// address token used only by `unmap` under the space's lock. Plain data.
unsafe impl Send for MappedRam<'_> {}
// SAFETY: as above; `&MappedRam` exposes only copies of plain fields.
unsafe impl Sync for MappedRam<'_> {}

/// [`VmapBlocks::unmap`] was given a mapping another `VmapBlocks` served;
/// it is handed back unchanged.
#[derive(Debug, PartialEq, Eq)]
pub struct ForeignMapped<'a>(pub MappedRam<'a>);

impl core::fmt::Display for ForeignMapped<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x} was mapped by another VmapBlocks", self.0.addr)
    }
}

impl core::error::Error for ForeignMapped<'_> {}

/// A broken invariant of a [`VmapBlocks`], found by
/// [`VmapBlocks::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockError {
    /// Start of the offending block.
    pub addr: usize,
}

impl core::fmt::Display for BlockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "vmap block {:#x} is inconsistent", self.addr)
    }
}

impl core::error::Error for BlockError {}

/// One CPU's blocks for `vm_map_ram`-style mappings over a [`SharedSpace`].
///
/// ```
/// use vmarea::{AreaPool, Policy, RawSpinlock, SharedSpace, Space, VmapBlocks};
///
/// static AREAS: AreaPool<16> = AreaPool::new();
/// let shared: SharedSpace<RawSpinlock, _> = SharedSpace::new(
///     Space::new(0x100_0000, 0x200_0000, 0x1000, Policy::FirstFit, &AREAS).unwrap());
/// let mut cpu0 = VmapBlocks::new(&shared);
/// let a = cpu0.map(3 * 0x1000).unwrap(); // four pages of a block
/// let b = cpu0.map(0x1000).unwrap(); // right after it, no lock taken
/// assert_eq!((a.size(), b.addr()), (4 * 0x1000, a.addr() + 4 * 0x1000));
/// assert!(shared.free(a.addr()).is_err()); // only the blocks unmap it
/// cpu0.unmap(a).unwrap(); // dirty: not reused before the block is purged
/// cpu0.unmap(b).unwrap();
/// assert_eq!(cpu0.purge(), 1); // no live piece left: back to the space
/// assert_eq!(shared.lock().used_count(), 0);
/// ```
pub struct VmapBlocks<'a, L: RawLock, S: NodeSource> {
    shared: &'a SharedSpace<L, S>,
    /// This instance's number, from the space at its first `map` (0 until
    /// then: no mapping names it). Its address is no identity: it moves.
    instance: usize,
    blocks: [Option<Block>; BLOCK_SLOTS],
}

impl<'a, L: RawLock, S: NodeSource> VmapBlocks<'a, L, S> {
    /// No blocks yet; `const`, so a kernel can keep one per CPU in a
    /// `static`.
    pub const fn new(shared: &'a SharedSpace<L, S>) -> Self {
        VmapBlocks {
            shared,
            instance: 0,
            blocks: [None; BLOCK_SLOTS],
        }
    }

    /// Blocks held now.
    pub fn blocks(&self) -> usize {
        self.blocks.iter().flatten().count()
    }

    fn space_id(&self) -> *const () {
        core::ptr::from_ref(self.shared).cast()
    }

    fn mapped(&self, addr: usize, size: usize, area: Option<Handle>) -> MappedRam<'a> {
        debug_assert_ne!(self.instance, 0, "numbered before its first mapping");
        MappedRam {
            addr,
            size,
            area,
            space: self.space_id(),
            instance: self.instance,
            _space: PhantomData,
        }
    }

    /// Whether `m` was served by this very instance.
    fn served(&self, m: &MappedRam<'a>) -> bool {
        m.space == self.space_id() && m.instance == self.instance && self.instance != 0
    }

    /// Maps `size` bytes (`vm_map_ram`): up to [`MAX_BLOCK_MAP`] quanta
    /// from a block, larger ones (or with every slot's block lacking room)
    /// as an area of the space. The caller maps its pages there.
    pub fn map(&mut self, size: usize) -> Result<MappedRam<'a>, Error> {
        if size == 0 {
            return Err(Error::ZeroSize);
        }
        if self.instance == 0 {
            // `usize::MAX` instances over one space: unreachable in practice.
            self.instance = self.shared.new_instance().ok_or(Error::Overflow)?;
        }
        let q = self.shared.quantum();
        let quanta = size.div_ceil(q);
        if quanta <= MAX_BLOCK_MAP {
            let n = quanta.next_power_of_two() as u32;
            if let Some(addr) = self.carve(n) {
                return Ok(self.mapped(addr, n as usize * q, None));
            }
        }
        let bytes = quanta.checked_mul(q).ok_or(Error::Overflow)?;
        let (addr, handle) = self.held_area(bytes, 0)?;
        Ok(self.mapped(addr, bytes, Some(handle)))
    }

    /// `n` quanta after the pieces of the first block with room, or of a
    /// new block in an empty slot.
    fn carve(&mut self, n: u32) -> Option<usize> {
        let q = self.shared.quantum();
        let room = |b: &Block| BLOCK_QUANTA as u32 - b.carved >= n;
        let slot = match self
            .blocks
            .iter()
            .position(|b| b.as_ref().is_some_and(room))
        {
            Some(i) => i,
            None => {
                let i = self.blocks.iter().position(Option::is_none)?;
                let bytes = BLOCK_QUANTA * q;
                let (addr, handle) = self.held_area(bytes, bytes).ok()?;
                self.blocks[i] = Some(Block {
                    handle,
                    addr,
                    carved: 0,
                    live: 0,
                    dirty: 0,
                });
                i
            }
        };
        let b = self.blocks[slot].as_mut()?;
        let at = b.addr + b.carved as usize * q;
        b.live |= bits(b.carved, n);
        b.carved += n;
        Some(at)
    }

    /// An area of `bytes` (aligned to `align`, 0 for the quantum) from the
    /// space, held so that only this type frees it.
    fn held_area(&self, bytes: usize, align: usize) -> Result<(usize, Handle), Error> {
        self.shared.purging_on_no_space(|| {
            self.shared.with_depot(|space, depot| {
                let (lo, hi) = space.bounds();
                let req = Request::new(bytes, lo, hi)
                    .align(align)
                    .flags(Flags::MAP | Flags::NO_GUARD);
                let r = depot.alloc_or_flush(space, &req);
                r.map(|(info, h)| {
                    // SAFETY: `h` was just allocated in `space`.
                    unsafe { space.set_cached(h, Flags::MAP, true) };
                    (info.addr, h)
                })
            })
        })
    }

    /// Gives a held area back to the space, lazily: its range is reusable
    /// only after a purge has shown it to the flush hook.
    fn release(shared: &SharedSpace<L, S>, handle: Handle) {
        shared.with_depot(|space, _| {
            // SAFETY: a held area is a live used area of this space that
            // nothing else can free (it is marked cached); released once.
            unsafe {
                space.set_cached(handle, Flags::MAP, false);
                space.free_lazy_handle(handle);
            }
        });
    }

    /// Unmaps `m` (`vm_unmap_ram`): a block's piece turns dirty (the block
    /// goes back to the space once all of it is dirty); an area of its own
    /// is freed lazily. Unmap the pages first; the flush hook runs before
    /// the range is reused. Refused, with `m` handed back and nothing
    /// changed, if another `VmapBlocks` instance served it (over this space
    /// or another; one that was moved is the same instance).
    pub fn unmap(&mut self, m: MappedRam<'a>) -> Result<(), ForeignMapped<'a>> {
        if !self.served(&m) {
            return Err(ForeignMapped(m));
        }
        if let Some(h) = m.area {
            Self::release(self.shared, h);
            return Ok(());
        }
        let q = self.shared.quantum();
        let block = self.blocks.iter().position(|b| {
            b.as_ref()
                .is_some_and(|b| m.addr.wrapping_sub(b.addr) < BLOCK_QUANTA * q)
        });
        // This instance served the piece and never gives back a block with
        // a live piece, so the block is still here.
        let Some((i, b)) = block.and_then(|i| Some((i, self.blocks[i].as_mut()?))) else {
            debug_assert!(false, "a served piece's block is held");
            return Err(ForeignMapped(m));
        };
        let piece = bits(((m.addr - b.addr) / q) as u32, (m.size / q) as u32);
        debug_assert_eq!(b.live & piece, piece, "a MappedRam is live until unmapped");
        b.live &= !piece;
        b.dirty |= piece;
        if b.dirty == FULL {
            let h = b.handle;
            self.blocks[i] = None;
            Self::release(self.shared, h);
        }
        Ok(())
    }

    /// Gives back every block with no live piece, dirty or never carved
    /// (Linux's `purge_fragmented_blocks`); returns how many.
    pub fn purge(&mut self) -> usize {
        let mut n = 0;
        for slot in &mut self.blocks {
            if let Some(b) = slot.filter(|b| b.live == 0) {
                *slot = None;
                Self::release(self.shared, b.handle);
                n += 1;
            }
        }
        n
    }

    /// Checks each block: live and dirty quanta are disjoint and exactly
    /// the carved ones, the carved count is within the block, and the
    /// space holds the block as one cached used area of its size.
    pub fn validate(&self) -> Result<(), BlockError> {
        let q = self.shared.quantum();
        for b in self.blocks.iter().flatten() {
            let err = BlockError { addr: b.addr };
            let carved = if b.carved as usize == BLOCK_QUANTA {
                FULL
            } else {
                bits(0, b.carved)
            };
            if b.carved as usize > BLOCK_QUANTA
                || b.live & b.dirty != 0
                || b.live | b.dirty != carved
                || b.dirty == FULL
            {
                return Err(err);
            }
            let info = self.shared.find(b.addr).ok_or(err)?;
            if info.addr != b.addr || info.size != BLOCK_QUANTA * q || !info.cached {
                return Err(err);
            }
        }
        Ok(())
    }
}

impl<L: RawLock, S: NodeSource> core::fmt::Debug for VmapBlocks<'_, L, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VmapBlocks")
            .field("instance", &self.instance)
            .field("blocks", &self.blocks())
            .finish_non_exhaustive()
    }
}

impl<L: RawLock, S: NodeSource> Drop for VmapBlocks<'_, L, S> {
    /// Gives back the blocks with no live piece; a block with live pieces
    /// stays held for good (their `MappedRam`s can no longer be unmapped).
    fn drop(&mut self) {
        if crate::sync::model_failed() {
            return;
        }
        self.purge();
    }
}
