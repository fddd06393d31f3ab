//! Where area objects come from: `Box` (feature `alloc`) or a pool of
//! caller memory. The space reserves the nodes an operation may need
//! *before* it touches any index (as Linux preloads a `vmap_area` and vmem
//! pre-populates boundary tags), so running out of nodes is a clean error,
//! never half an operation.

use crate::area::Area;
use crate::list::ListLink;
use core::marker::PhantomData;
use core::ptr::NonNull;

/// A supplier of area objects.
///
/// # Safety
/// `take` returns a pointer to a live, initialised `Area` that nothing else
/// uses until it is passed back to `give` (or the source is dropped after
/// the space is); `give` receives only such pointers.
pub unsafe trait NodeSource {
    /// A fresh area, or `None` when out of memory.
    fn take(&mut self) -> Option<NonNull<Area>>;

    /// Takes back an area from `take`.
    ///
    /// # Safety
    /// `area` came from this source's `take` and is in no index.
    unsafe fn give(&mut self, area: NonNull<Area>);
}

/// Areas from the global allocator, one `Box` each.
#[cfg(feature = "alloc")]
#[derive(Debug, Default)]
pub struct BoxNodes;

#[cfg(feature = "alloc")]
// SAFETY: each area is a fresh `Box`, returned to the allocator in `give`.
unsafe impl NodeSource for BoxNodes {
    fn take(&mut self) -> Option<NonNull<Area>> {
        let layout = core::alloc::Layout::new::<Area>();
        // SAFETY: `Area` has a non-zero size.
        let p = NonNull::new(unsafe { alloc::alloc::alloc(layout) }.cast::<Area>())?;
        // SAFETY: freshly allocated for one `Area`.
        unsafe { p.as_ptr().write(Area::new()) };
        Some(p)
    }

    unsafe fn give(&mut self, area: NonNull<Area>) {
        // SAFETY: `area` came from `take` (caller contract): same layout.
        unsafe { alloc::alloc::dealloc(area.as_ptr().cast(), core::alloc::Layout::new::<Area>()) }
    }
}

/// Areas from a slice the caller provides: no allocation at all. The pool
/// threads its free areas through their list links.
pub struct PoolNodes<'a> {
    free: Option<NonNull<ListLink>>,
    available: usize,
    _slots: PhantomData<&'a mut [Area]>,
}

impl<'a> PoolNodes<'a> {
    /// A pool over `slots`; every slot becomes available.
    pub fn new(slots: &'a mut [Area]) -> Self {
        let mut pool = PoolNodes {
            free: None,
            available: 0,
            _slots: PhantomData,
        };
        for slot in slots.iter_mut() {
            *slot = Area::new();
            // SAFETY: the slot is live for 'a and now owned by the pool.
            unsafe { pool.give(NonNull::from(slot)) };
        }
        pool
    }

    /// Areas still available.
    pub fn available(&self) -> usize {
        self.available
    }
}

// SAFETY: the pool hands out each slot at most once until it is given back;
// the slots live for 'a, which outlives the pool (and so the space).
unsafe impl NodeSource for PoolNodes<'_> {
    fn take(&mut self) -> Option<NonNull<Area>> {
        let link = self.free?;
        // SAFETY: `link` is the list link of a pooled area.
        let area = unsafe { Area::from_list(link) };
        // SAFETY: pooled areas are live; their list link chains the pool.
        self.free = unsafe { link.as_ref() }.next();
        self.available -= 1;
        // SAFETY: the slot is ours to reinitialise.
        unsafe { area.as_ptr().write(Area::new()) };
        Some(area)
    }

    unsafe fn give(&mut self, area: NonNull<Area>) {
        let link = Area::list_link(area);
        // SAFETY: `area` is live and in no index (caller contract).
        unsafe { link.as_ref() }.set(None, self.free);
        self.free = Some(link);
        self.available += 1;
    }
}

impl core::fmt::Debug for PoolNodes<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PoolNodes")
            .field("available", &self.available)
            .finish()
    }
}
