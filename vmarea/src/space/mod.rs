//! The space: the RFC's allocator of virtually contiguous areas.
//!
//! Theory of operation.
//!
//! - Every area, used or free, is one [`Area`] object on `all`, the
//!   address-sorted list (RFC step 3). The areas tile `[start, top)`
//!   without gaps: each area begins where the previous one ends. Under
//!   `Rfc` and `FirstFit`, `[top, end)` is the untracked region after the
//!   end of the used areas that the RFC allocates from (step 5); a free
//!   area reaching `top` is absorbed into it. Under the list policies `top`
//!   is `end` once the first allocation made the whole space one area.
//! - Used areas are in the busy AVL tree by address (free in O(log n),
//!   RFC step 4); free areas are in the policy's index (`policy/`). No two
//!   free areas are adjacent: a free merges with free list neighbours.
//! - An allocation finds a free area and a placement `x` in it, then
//!   carves. The four cases (Linux's names) are handled in one place,
//!   `carve`: FL (the whole area), LE (at its left edge), RE (right edge),
//!   NE (no edge: the area splits in three).
//! - Nodes: an allocation may need two new area objects (NE). They are
//!   reserved as spares *before* any index is touched; a free returns
//!   merged-away objects to the spares first. So a refused call, including
//!   `NoNode`, leaves every structure as it was.
//! - Nothing recurses and nothing allocates except through the node source.
//!
//! The files, one part of the story each: this one holds the space's
//! state, construction and teardown; `alloc` finds room and carves it
//! (Linux's four split cases); `free` frees at once or lazily, purges
//! through the flush hook and merges; `pools` keeps exact-size pools of
//! freed areas; `spans` adds, imports and releases spans; `query` answers
//! lookups, walks, statistics and `validate`. The request itself and its
//! checks are `crate::request`.

mod alloc;
mod free;
mod pools;
mod purge;
mod query;
mod spans;

use crate::area::Area;
use crate::busy::{AddressIndex, SharedBusy, UsedAreas};
use crate::containers::list::List;
use crate::error::Error;
use crate::flush::FlushHook;
use crate::info::Counters;
use crate::nodes::NodeSource;
use crate::policy::{FreeIndex, Policy};
use crate::pools::Pools;
use crate::request::Request;
use core::ptr::NonNull;
pub(crate) use purge::Detached;

/// A space `[start, end)` carved into areas, with one free-space policy.
///
/// Single-threaded (`Send`, not `Sync`); share it across CPUs with
/// [`SharedSpace`](crate::SharedSpace). Area objects come from its
/// [`NodeSource`]; here a `static` pool, so nothing allocates:
///
/// ```
/// use vmarea::{AreaPool, Flags, Policy, Space};
///
/// static AREAS: AreaPool<32> = AreaPool::new();
/// let mut s = Space::new(0x10_0000, 0x20_0000, 0x1000, Policy::InstantFit, &AREAS).unwrap();
/// let a = s.alloc(0x3000, 0, Flags::ALLOC).unwrap(); // three pages and a guard
/// assert_eq!((a.size, a.usable()), (0x4000, 0x3000));
/// let b = s.alloc_request(&s.request(0x1000).align(0x1_0000)).unwrap();
/// assert_eq!(b.addr % 0x1_0000, 0);
/// assert_eq!(s.find(a.addr + 0x2fff).map(|i| i.addr), Some(a.addr)); // O(log n)
/// s.free(a.addr).unwrap(); // merged with its free neighbours
/// s.free_lazy(b.addr).unwrap(); // reusable after the next purge
/// assert_eq!(s.purge(), 1);
/// s.validate().unwrap();
/// assert_eq!(s.used_count(), 0);
/// ```
pub struct Space<S: NodeSource> {
    start: usize,
    end: usize,
    quantum: usize,
    shift: u32,
    policy: Policy,
    busy: UsedAreas,
    free: FreeIndex,
    all: List,
    /// `Rfc`: `[top, end)` is untracked and free. Otherwise `end`.
    top: usize,
    spares: [Option<NonNull<Area>>; 2],
    source: S,
    used_bytes: usize,
    /// Lazily freed areas: out of the busy tree, not yet merged, chained
    /// through the free-chain view of their node link.
    lazy: List,
    lazy_bytes: usize,
    /// Areas (and their bytes) of a batch detached for a purge whose flush
    /// runs outside the lock: still lazy, off the lazy list.
    purging_areas: usize,
    purging_bytes: usize,
    /// Inside a `SharedSpace`: the space itself never calls the flush hook
    /// (it would run under the lock); its holder purges after unlocking.
    purge_outside: bool,
    /// The lazy threshold was reached with `purge_outside` set.
    purge_wanted: bool,
    /// Bytes between spans (`add_span`): inside `[start, end)`, not in it.
    gap_bytes: usize,
    /// Where spans come from when no room is left, and go back to.
    import: Option<Import>,
    /// The first span's start: that span is the space's own, never given
    /// back.
    home: usize,
    /// Exact-size pools of ready areas (off unless `set_pools`).
    pools: Pools,
    /// Purge once `lazy_bytes` reaches this (Linux's `lazy_max_pages`).
    lazy_max: usize,
    /// Called with each purge batch before it is merged back.
    flush: Option<FlushHook>,
    /// Called with each event (feature `events`).
    #[cfg(feature = "events")]
    events: Option<crate::events::EventHook>,
    /// Event counts.
    counters: Counters,
}

/// A parent source of spans (vmem's `vmem_create(…, source, afunc, ffunc,
/// …)`): when a request for anywhere in the space finds no room, the space
/// asks `take(size)` for a range of at least `size` bytes (enough to hold
/// the request at any alignment, and at least `quantum`) and adds it as a
/// span; [`Space::release_spans`] gives wholly free imported spans back
/// with `give(lo, hi)`. A range `take` returns that cannot be added
/// (overlapping, misaligned, too small) goes straight back through `give`.
/// Both run inside the space's call: they must not call back into it.
/// Either may panic: `take` runs before the space changes, and `give`
/// before the span leaves it, so a panic leaves the space valid with every
/// span it had (a span `give` panicked on is still the space's).
#[derive(Debug, Clone, Copy)]
pub struct Import {
    /// Hands out a range `(lo, hi)` of at least the given bytes, or None.
    pub take: fn(usize) -> Option<(usize, usize)>,
    /// Takes back a range `take` handed out.
    pub give: fn(usize, usize),
    /// The least the space asks for at once (vmem's import quantum).
    pub quantum: usize,
}

/// The most area objects [`Space::add_span`] takes (the area over the
/// range between the spans, and the areas the old top and the new span
/// become).
pub(crate) const SPAN_NODES: usize = 4;

/// An allocated area, for [`Space::free_handle`]: frees without a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle(NonNull<Area>);

// SAFETY: a handle is an address token; every use of it is behind an
// `unsafe` call whose contract covers the area's liveness.
unsafe impl Send for Handle {}
// SAFETY: as above.
unsafe impl Sync for Handle {}

impl Handle {
    pub(crate) fn as_ptr(self) -> NonNull<Area> {
        self.0
    }

    pub(crate) fn from_ptr(p: NonNull<Area>) -> Self {
        Handle(p)
    }
}

// SAFETY: the space owns every area it points to (through its source) and
// gives out only copies of their fields; it can move to another thread
// whenever its source can.
unsafe impl<S: NodeSource + Send> Send for Space<S> {}

/// # Safety
/// `a` is a live area of the space.
#[inline(always)]
pub(super) unsafe fn a<'x>(p: NonNull<Area>) -> &'x Area {
    // SAFETY: caller contract; areas are only accessed through `&`.
    unsafe { p.as_ref() }
}
impl<S: NodeSource> Space<S> {
    /// A space over `[start, end)` with allocation unit `quantum` (a power
    /// of two; both bounds multiples of it; at most `usize::MAX / 4` bytes:
    /// 4 EiB on 64-bit targets, 1 GiB on 32-bit ones). Takes no area object
    /// yet: the first allocation does.
    pub fn new(
        start: usize,
        end: usize,
        quantum: usize,
        policy: Policy,
        source: S,
    ) -> Result<Self, Error> {
        Self::with_address_index(start, end, quantum, policy, AddressIndex::BusyTree, source)
    }

    /// As [`new`](Self::new), with the given [`AddressIndex`]: drop the busy
    /// tree (`AddressIndex::None`) when frees go by handle only.
    ///
    /// ```
    /// use vmarea::{AddressIndex, AreaPool, Flags, Policy, Space};
    /// static AREAS: AreaPool<16> = AreaPool::new();
    /// let mut s = Space::with_address_index(
    ///     0x10_0000, 0x20_0000, 4096, Policy::InstantFit, AddressIndex::None, &AREAS,
    /// ).unwrap();
    /// let (a, h) = s.alloc_handle(&s.request(8192)).unwrap();
    /// // SAFETY: `h` was just returned by this space and not freed.
    /// unsafe { s.free_handle(h) };
    /// let b = s.alloc(4096, 0, Flags::ALLOC).unwrap();
    /// assert_eq!(s.find(b.addr + 10).unwrap().addr, b.addr); // a list walk
    /// s.free(b.addr).unwrap();                                 // a list walk
    /// s.validate().unwrap();
    /// # let _ = a;
    /// ```
    pub fn with_address_index(
        start: usize,
        end: usize,
        quantum: usize,
        policy: Policy,
        index: AddressIndex,
        source: S,
    ) -> Result<Self, Error> {
        match Self::check_bounds(start, end, quantum) {
            Ok(()) => Ok(Self::build(start, end, quantum, policy, index, source)),
            Err(e) => Err(e),
        }
    }

    /// The same space, purging outside its lock (`yes`: it is being shared)
    /// or inline (it is a plain space again).
    pub(crate) const fn purging_outside(mut self, yes: bool) -> Self {
        self.purge_outside = yes;
        self
    }

    /// The address index chosen at creation.
    pub const fn address_index(&self) -> AddressIndex {
        self.busy.index()
    }

    /// As [`new`](Self::new), for a `const` or `static` initialiser: invalid
    /// bounds are a panic, so a build error in a `static`.
    ///
    /// ```
    /// use vmarea::{AreaPool, Flags, Policy, Space};
    /// static AREAS: AreaPool<16> = AreaPool::new();
    /// const FRESH: Space<&AreaPool<16>> =
    ///     Space::const_new(0x10_0000, 0x20_0000, 4096, Policy::FirstFit, &AREAS);
    /// let mut s = FRESH;
    /// assert!(s.alloc(4096, 0, Flags::ALLOC).is_ok());
    /// ```
    pub const fn const_new(
        start: usize,
        end: usize,
        quantum: usize,
        policy: Policy,
        source: S,
    ) -> Self {
        if Self::check_bounds(start, end, quantum).is_err() {
            panic!("vmarea: invalid space bounds or quantum (see Space::new)");
        }
        Self::build(start, end, quantum, policy, AddressIndex::BusyTree, source)
    }

    /// The old name of [`const_new`](Self::const_new), kept for one
    /// release.
    #[deprecated(since = "0.1.0", note = "renamed `const_new`, as lock_api names it")]
    pub const fn new_const(
        start: usize,
        end: usize,
        quantum: usize,
        policy: Policy,
        source: S,
    ) -> Self {
        Self::const_new(start, end, quantum, policy, source)
    }

    const fn check_bounds(start: usize, end: usize, quantum: usize) -> Result<(), Error> {
        let mask = quantum.wrapping_sub(1);
        if !quantum.is_power_of_two()
            || start & mask != 0
            || end & mask != 0
            || start >= end
            || end - start > crate::area::MAX_SPAN
        {
            return Err(Error::BadSpace);
        }
        Ok(())
    }

    /// The space, with no area object yet: `[start, end)` is one untracked
    /// free range above `top`, which the first allocation turns into an
    /// area (`materialize`), except under `Rfc`, which bumps through it.
    const fn build(
        start: usize,
        end: usize,
        quantum: usize,
        policy: Policy,
        index: AddressIndex,
        source: S,
    ) -> Self {
        Space {
            start,
            end,
            quantum,
            shift: quantum.trailing_zeros(),
            policy,
            busy: UsedAreas::new(index),
            free: FreeIndex::new(policy),
            all: List::new(),
            top: start,
            spares: [None, None],
            source,
            used_bytes: 0,
            lazy: List::new(),
            lazy_bytes: 0,
            purging_areas: 0,
            purging_bytes: 0,
            purge_outside: false,
            purge_wanted: false,
            gap_bytes: 0,
            import: None,
            home: start,
            pools: Pools::new(),
            lazy_max: (end - start) / 64,
            flush: None,
            #[cfg(feature = "events")]
            events: None,
            counters: Counters {
                allocs: 0,
                failures: 0,
                frees: 0,
                lazy_frees: 0,
                purges: 0,
                purged_areas: 0,
                purged_bytes: 0,
                imports: 0,
                releases: 0,
            },
        }
    }

    /// Outside `Rfc`, the first allocation makes one free area of the whole
    /// space, as Linux starts its free tree. Refused with `NoNode` (and
    /// nothing changed) if the source has no object.
    fn materialize(&mut self) -> Result<(), Error> {
        if self.policy.bumps() || self.top == self.end {
            return Ok(());
        }
        let whole = self.source.take().ok_or(Error::NoNode)?;
        // SAFETY: a fresh area from the source, in no index.
        unsafe {
            a(whole).addr.set(self.start);
            a(whole).set_size(self.end - self.start);
            a(whole).set_free();
            self.all.push_back(Area::list_link(whole));
            self.free.insert(whole, self.shift);
        }
        self.top = self.end;
        Ok(())
    }

    /// How many area objects the next allocation may still need from the
    /// source: the empty spares, one for `materialize`, and with an import
    /// source the most a span takes (so that a shared space, whose source
    /// is not called under the lock, can import).
    pub(crate) fn nodes_wanted(&self) -> usize {
        let unmaterialized = !self.policy.bumps() && self.top != self.end;
        let import = if self.import.is_some() { SPAN_NODES } else { 0 };
        self.spares.iter().filter(|s| s.is_none()).count() + usize::from(unmaterialized) + import
    }

    /// The node source.
    pub(crate) fn source(&self) -> &S {
        &self.source
    }

    /// The policy chosen at creation.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The allocation unit.
    pub const fn quantum(&self) -> usize {
        self.quantum
    }

    /// The bounds `(start, end)`.
    pub const fn bounds(&self) -> (usize, usize) {
        (self.start, self.end)
    }

    /// A request for `size` bytes anywhere in this space (see
    /// [`Request::new`] for the rest), to adjust with `Request`'s builder
    /// methods and pass to [`alloc_request`](Self::alloc_request).
    pub const fn request(&self, size: usize) -> Request {
        Request::new(size, self.start, self.end)
    }

    /// Sets the lazy-purge threshold in bytes (default: 1/64 of the space).
    pub fn set_lazy_threshold(&mut self, bytes: usize) {
        self.lazy_max = bytes;
    }

    /// Sets the hook that flushes TLBs for lazily freed ranges before they
    /// become reusable (see [`FlushHook`] for when and where it runs);
    /// `None` for none.
    pub fn set_flush_hook(&mut self, hook: Option<FlushHook>) {
        self.flush = hook;
    }

    /// Sets the hook that sees every allocation, free, lazy free and purge
    /// (see [`Event`](crate::Event)); `None` for none. Feature `events`.
    #[cfg(feature = "events")]
    #[cfg_attr(docsrs, doc(cfg(feature = "events")))]
    pub fn set_event_hook(&mut self, hook: Option<crate::events::EventHook>) {
        self.events = hook;
    }
}

impl<S: NodeSource> Space<S> {
    /// Keeps the busy tree in `shared` (moving it there the first time):
    /// a shared space calls this each time it hands out the locked space.
    pub(crate) fn attach_busy(&mut self, shared: &SharedBusy) {
        self.busy.attach(shared);
    }

    /// Takes the busy tree back from `shared` into the space.
    pub(crate) fn detach_busy(&mut self, shared: &SharedBusy) {
        self.busy.detach(shared);
    }

    /// Hands every area object back to the source, leaving an empty,
    /// unmaterialized space (every area and handle of it is gone).
    pub(crate) fn release_all(&mut self) {
        // Trees first (they touch links), then hand every area back.
        self.busy.clear();
        self.free.clear();
        self.free = FreeIndex::new(self.policy);
        self.lazy = List::new();
        self.pools = Pools::new();
        while let Some(l) = self.all.front() {
            // SAFETY: `l` is a member; the area is in no index any more
            // (trees cleared; chains and the lazy list forgotten above).
            unsafe {
                self.all.remove(l);
                self.source.give(Area::from_list(l));
            }
        }
        for p in self.spares.iter_mut().filter_map(Option::take) {
            // SAFETY: spares came from the source and are in no index.
            unsafe { self.source.give(p) };
        }
        (self.top, self.used_bytes, self.lazy_bytes) = (self.start, 0, 0);
        // Only ever before the space is dropped: the marks between spans
        // went back with the other area objects.
        self.gap_bytes = 0;
    }

    /// The same space over another node source; returns the old source.
    /// Every area object stays where it is: they came from the old source,
    /// so the caller must ensure `source` may take them back (the shared
    /// layer swaps in a [`Stash`](crate::Stash) over the same objects, and back).
    pub(crate) fn replace_source<T: NodeSource>(self, source: T) -> (Space<T>, S) {
        let me = core::mem::ManuallyDrop::new(self);
        // SAFETY: every field is read exactly once out of `me`, which is
        // never used or dropped again; the indexes hold pointers to areas,
        // not to the space, so they survive the move.
        unsafe {
            let space = Space {
                start: me.start,
                end: me.end,
                quantum: me.quantum,
                shift: me.shift,
                policy: me.policy,
                busy: core::ptr::read(&me.busy),
                free: core::ptr::read(&me.free),
                all: core::ptr::read(&me.all),
                top: me.top,
                spares: me.spares,
                source,
                used_bytes: me.used_bytes,
                lazy: core::ptr::read(&me.lazy),
                lazy_bytes: me.lazy_bytes,
                purging_areas: me.purging_areas,
                purging_bytes: me.purging_bytes,
                purge_outside: me.purge_outside,
                purge_wanted: me.purge_wanted,
                gap_bytes: me.gap_bytes,
                import: me.import,
                home: me.home,
                pools: core::ptr::read(&me.pools),
                lazy_max: me.lazy_max,
                flush: me.flush,
                #[cfg(feature = "events")]
                events: me.events,
                counters: me.counters,
            };
            (space, core::ptr::read(&me.source))
        }
    }
}

impl<S: NodeSource> Drop for Space<S> {
    fn drop(&mut self) {
        self.release_all();
    }
}
