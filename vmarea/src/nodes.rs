//! Where area objects come from: `Box` (feature `alloc`), a pool over
//! caller memory ([`PoolNodes`]), or a pool in a `static` ([`AreaPool`]).
//! The space reserves the nodes an operation may need *before* it touches
//! any index (as Linux preloads a `vmap_area` and vmem pre-populates
//! boundary tags), so running out of nodes is a clean error, never half an
//! operation. A [`SharedSpace`](crate::SharedSpace) calls its source only
//! with its lock released: its space draws on a [`Stash`] the shared layer
//! fills beforehand.

use crate::area::Area;
use crate::containers::list::ListLink;
use crate::sync::RawSpinlock;
use core::cell::{Cell, UnsafeCell};
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

#[cfg(feature = "alloc")]
mod slab;
#[cfg(feature = "alloc")]
pub use slab::{SlabNodes, SLAB_AREAS};

/// A supplier of area objects. Its methods take `&self`: a source shared by
/// many CPUs (a `Sync` one) synchronises inside.
///
/// # Safety
/// `take` returns a pointer to a live, initialised `Area` that nothing else
/// uses until it is passed back to `give` (or the source is dropped after
/// every space using it is); `give` receives only such pointers.
pub unsafe trait NodeSource {
    /// A fresh area, or `None` when out of memory.
    fn take(&self) -> Option<NonNull<Area>>;

    /// Takes back an area from `take`.
    ///
    /// # Safety
    /// `area` came from this source's `take` and is in no index.
    unsafe fn give(&self, area: NonNull<Area>);
}

/// Areas from the global allocator, one `Box` each.
#[cfg(feature = "alloc")]
#[derive(Debug, Default, Clone, Copy)]
pub struct BoxNodes;

#[cfg(feature = "alloc")]
// SAFETY: each area is a fresh allocation, returned to the allocator in
// `give`; the global allocator is thread-safe.
unsafe impl NodeSource for BoxNodes {
    fn take(&self) -> Option<NonNull<Area>> {
        let layout = core::alloc::Layout::new::<Area>();
        // SAFETY: `Area` has a non-zero size.
        let p = NonNull::new(unsafe { alloc::alloc::alloc(layout) }.cast::<Area>())?;
        // SAFETY: freshly allocated for one `Area`.
        unsafe { p.as_ptr().write(Area::new()) };
        Some(p)
    }

    unsafe fn give(&self, area: NonNull<Area>) {
        // SAFETY: `area` came from `take` (caller contract): same layout.
        unsafe { alloc::alloc::dealloc(area.as_ptr().cast(), core::alloc::Layout::new::<Area>()) }
    }
}

/// The free list and bump index of a pool of `cap` slots, behind its own
/// spinlock (never the space's: a shared space calls its source only with
/// its own lock released). Given-back slots wait in a [`Stash`], the same
/// intrusive stack a shared space keeps its preloaded objects in.
struct Slots {
    cap: usize,
    lock: RawSpinlock,
    /// Slots `[fresh, cap)` were never handed out.
    fresh: Cell<usize>,
    /// Given-back slots.
    free: Stash,
}

/// The body of `Slots::new`, shared by the `const` and the loom constructor.
macro_rules! new_slots {
    ($cap:expr) => {
        Slots {
            cap: $cap,
            lock: RawSpinlock::new(),
            fresh: Cell::new(0),
            free: Stash::new(),
        }
    };
}

impl Slots {
    #[cfg(not(loom))]
    const fn new(cap: usize) -> Self {
        new_slots!(cap)
    }

    /// Not `const` under loom: its spinlock's atomic cannot be built in `const`.
    #[cfg(loom)]
    fn new(cap: usize) -> Self {
        new_slots!(cap)
    }

    /// Runs `f` under the pool's lock.
    fn locked<R>(&self, f: impl FnOnce() -> R) -> R {
        self.lock.acquire();
        let r = f();
        // SAFETY: acquired just above.
        unsafe { self.lock.release() };
        r
    }

    /// A slot of the storage at `base`: a given-back one, else a fresh one.
    fn take(&self, base: NonNull<MaybeUninit<Area>>) -> Option<NonNull<Area>> {
        let slot = self.locked(|| {
            self.free.pop().or_else(|| {
                let i = self.fresh.get();
                (i < self.cap).then(|| {
                    self.fresh.set(i + 1);
                    // SAFETY: `i < cap`: a slot inside the storage at `base`.
                    unsafe { base.add(i) }.cast::<Area>()
                })
            })
        })?;
        // SAFETY: the slot is ours alone now; (re)initialise it.
        unsafe { slot.as_ptr().write(Area::new()) };
        Some(slot)
    }

    /// # Safety
    /// `area` came from `take` and is in no index.
    unsafe fn give(&self, area: NonNull<Area>) {
        // SAFETY: `area` is ours again (caller contract); the stash only
        // relinks it.
        self.locked(|| unsafe { self.free.give(area) });
    }

    /// Slots never handed out plus slots given back.
    fn available(&self) -> usize {
        self.locked(|| self.cap - self.fresh.get() + self.free.len())
    }
}

// SAFETY: the cells are only touched under `lock`; the slots are reached
// only through `take`/`give`, which hand each slot to one owner at a time.
unsafe impl Sync for Slots {}
// SAFETY: as above: `Slots` holds counters and a list of slots it owns.
unsafe impl Send for Slots {}

// SAFETY: `base` names the slice lent for 'a; the slots are reached only
// through `Slots`, which serialises and hands each to one owner at a time.
unsafe impl Sync for PoolNodes<'_> {}
// SAFETY: as above; the slice stays lent to the pool wherever it moves.
unsafe impl Send for PoolNodes<'_> {}

/// Areas from a slice the caller provides: no allocation at all. `Send` and
/// `Sync` (it serialises `take`/`give` on its own spinlock), so one pool
/// can feed a space shared by many CPUs.
///
/// ```
/// use vmarea::{Area, Error, Flags, Policy, PoolNodes, Space};
///
/// // Memory the caller owns (a kernel would use a reserved region).
/// let mut slots: [Area; 4] = core::array::from_fn(|_| Area::new());
/// let pool = PoolNodes::new(&mut slots);
/// let mut space = Space::new(0x1000, 0x10_0000, 0x1000, Policy::FirstFit, pool).unwrap();
/// // Each area is one object (and an allocation keeps two spares ready):
/// // four objects run out after a few areas, with a typed refusal.
/// let mut made = 0;
/// let refused = loop {
///     match space.alloc(0x1000, 0, Flags::ALLOC) {
///         Ok(_) => made += 1,
///         Err(e) => break e,
///     }
/// };
/// assert_eq!(refused, Error::NoNode);
/// assert_eq!(space.used_count(), made);
/// space.validate().unwrap(); // refused, nothing changed
/// ```
pub struct PoolNodes<'a> {
    base: NonNull<MaybeUninit<Area>>,
    slots: Slots,
    _storage: PhantomData<&'a mut [Area]>,
}

impl<'a> PoolNodes<'a> {
    /// A pool over `slots`; every slot becomes available (their contents
    /// are overwritten when handed out).
    pub fn new(slots: &'a mut [Area]) -> Self {
        let cap = slots.len();
        let base = NonNull::from(slots).cast::<MaybeUninit<Area>>();
        PoolNodes {
            base,
            slots: Slots::new(cap),
            _storage: PhantomData,
        }
    }

    /// Areas still available.
    pub fn available(&self) -> usize {
        self.slots.available()
    }
}

// SAFETY: `Slots` hands out each slot at most once until it is given back;
// the slots live for 'a, which outlives the pool (and so the space).
unsafe impl NodeSource for PoolNodes<'_> {
    fn take(&self) -> Option<NonNull<Area>> {
        self.slots.take(self.base)
    }

    unsafe fn give(&self, area: NonNull<Area>) {
        // SAFETY: forwarded contract.
        unsafe { self.slots.give(area) }
    }
}

impl core::fmt::Debug for PoolNodes<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PoolNodes")
            .field("available", &self.available())
            .finish()
    }
}

/// `N` area objects for a `static`: built by a `const fn`, in `.bss` (the
/// slots start uninitialised and are written when first handed out), and
/// used by reference: `&'static AreaPool<N>` is a [`NodeSource`] any
/// number of spaces on any number of CPUs can share.
///
/// **Sizing.** Every area object is one range: each allocated area (cached
/// ones included), each lazily freed or pooled area, each free range
/// between them, and one mark between spans. A space with `L` such areas
/// in use holds at most `2·L + 1` objects (free ranges never touch, so at
/// most one between two areas), plus 2 spares for its next allocation,
/// plus 2 per span added after the first. A `SharedSpace` also keeps up to
/// 4 (or what `lock_for(n)` reserved, `2·(n − 1)` more) in its stash, and a
/// `CpuCache` refill reserves a magazine's worth (`2·(ROUNDS − 1)` more)
/// while it holds the lock. So `N = 2·L + 3` suffices for a plain space;
/// for a shared one with caches, `N = 2·L + 2·spans + 3 + 4 + 2·ROUNDS`.
/// (A pool of 16 serves about 14 allocations made front to back, which
/// leave one free range; 6 if every other one is freed, which leave one
/// free range each.) Short of objects, a call answers
/// [`Error::NoNode`](crate::Error::NoNode) and changes nothing; a shared
/// space purges first, since merging lazily freed areas gives objects
/// back.
///
/// ```
/// use vmarea::{AreaPool, Flags, Policy, Space};
///
/// static AREAS: AreaPool<64> = AreaPool::new();
///
/// let mut space = Space::new(0x1000_0000, 0x2000_0000, 4096, Policy::FirstFit, &AREAS).unwrap();
/// let a = space.alloc(4096, 0, Flags::ALLOC).unwrap();
/// assert!(AREAS.available() < 64);
/// space.free(a.addr).unwrap();
/// ```
pub struct AreaPool<const N: usize> {
    storage: UnsafeCell<[MaybeUninit<Area>; N]>,
    slots: Slots,
}

impl<const N: usize> AreaPool<N> {
    /// An empty pool of `N` slots.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        AreaPool {
            storage: UnsafeCell::new([const { MaybeUninit::uninit() }; N]),
            slots: Slots::new(N),
        }
    }

    /// An empty pool of `N` slots.
    #[cfg(loom)]
    pub fn new() -> Self {
        AreaPool {
            storage: UnsafeCell::new([const { MaybeUninit::uninit() }; N]),
            slots: Slots::new(N),
        }
    }

    /// Areas still available.
    pub fn available(&self) -> usize {
        self.slots.available()
    }

    /// The storage, as the slots' base (a `const` cannot name the address
    /// of the value it builds, so it is taken at each use).
    fn base(&self) -> NonNull<MaybeUninit<Area>> {
        NonNull::new(self.storage.get().cast::<MaybeUninit<Area>>())
            .unwrap_or_else(|| unreachable!("a field's address is not null"))
    }
}

impl<const N: usize> Default for AreaPool<N> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: the storage is reached only through `take`/`give` below, which
// `Slots` serialises and which hand each slot to one owner at a time.
unsafe impl<const N: usize> Sync for AreaPool<N> {}
// SAFETY: a pool that is not borrowed owns no outstanding slot, so moving it
// moves plain storage.
unsafe impl<const N: usize> Send for AreaPool<N> {}

// SAFETY: as for `PoolNodes`; the borrow keeps the pool alive and in place
// while any space holds its areas.
unsafe impl<const N: usize> NodeSource for &AreaPool<N> {
    fn take(&self) -> Option<NonNull<Area>> {
        self.slots.take(self.base())
    }

    unsafe fn give(&self, area: NonNull<Area>) {
        // SAFETY: forwarded contract.
        unsafe { self.slots.give(area) }
    }
}

impl<const N: usize> core::fmt::Debug for AreaPool<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AreaPool")
            .field("capacity", &N)
            .field("available", &self.available())
            .finish()
    }
}

/// The node source of the space inside a [`SharedSpace`](crate::SharedSpace):
/// only the area objects the shared layer put in beforehand, taken from the
/// real source with the lock released. Areas a free releases collect here
/// and go back to the real source after the lock is released.
pub struct Stash {
    head: Cell<Option<NonNull<ListLink>>>,
    len: Cell<usize>,
}

impl Stash {
    pub(crate) const fn new() -> Self {
        Stash {
            head: Cell::new(None),
            len: Cell::new(0),
        }
    }

    /// Areas in the stash.
    pub fn len(&self) -> usize {
        self.len.get()
    }

    /// Whether the stash is empty.
    pub fn is_empty(&self) -> bool {
        self.len.get() == 0
    }

    /// The most recently stashed area, as it is.
    fn pop(&self) -> Option<NonNull<Area>> {
        let link = self.head.get()?;
        // SAFETY: stashed areas are owned by the stash, chained by list link.
        self.head.set(unsafe { link.as_ref() }.next());
        self.len.set(self.len.get() - 1);
        // SAFETY: `link` came from `Area::list_link`.
        Some(unsafe { Area::from_list(link) })
    }

    /// Moves every area of `other` here.
    pub(crate) fn take_all(&self, other: &Stash) {
        while let Some(a) = other.pop() {
            // SAFETY: owned by `other` until now, in no index.
            unsafe { self.give(a) };
        }
    }

    /// Moves the areas beyond the first `keep` to `out`.
    pub(crate) fn move_surplus(&self, keep: usize, out: &Stash) {
        while self.len() > keep {
            if let Some(a) = self.pop() {
                // SAFETY: owned by `self` until now, in no index.
                unsafe { out.give(a) };
            }
        }
    }

    /// Gives every stashed area to `source`.
    pub(crate) fn give_all<S: NodeSource>(&self, source: &S) {
        while let Some(a) = self.pop() {
            // SAFETY: every area the stash holds came from `source` (the
            // shared layer fills the stash from it alone) and is in no index.
            unsafe { source.give(a) };
        }
    }
}

// SAFETY: the stash owns the areas chained in it; it is only reached by the
// holder of the shared space's lock, so moving it moves owned nodes.
unsafe impl Send for Stash {}

// SAFETY: `take` hands out an area given to the stash (by the shared layer,
// from the real source, or by the space), each once.
unsafe impl NodeSource for Stash {
    fn take(&self) -> Option<NonNull<Area>> {
        let area = self.pop()?;
        // SAFETY: the area is ours alone; hand it out fresh.
        unsafe { area.as_ptr().write(Area::new()) };
        Some(area)
    }

    unsafe fn give(&self, area: NonNull<Area>) {
        let link = Area::list_link(area);
        // SAFETY: `area` is live and in no index (caller contract).
        unsafe { link.as_ref() }.set(None, self.head.get());
        self.head.set(Some(link));
        self.len.set(self.len.get() + 1);
    }
}

impl core::fmt::Debug for Stash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Stash").field("len", &self.len()).finish()
    }
}
