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

use crate::area::{Area, Flags, MAX_SPAN};
use crate::busy::{AddressIndex, UsedAreas};
use crate::containers::list::List;
use crate::error::{Error, ValidateError};
use crate::events::emit;
use crate::flush::{FlushHook, PurgeBatch};
use crate::info::{AreaInfo, Counters, Segments, Stats};
use crate::nodes::NodeSource;
use crate::policy::{align_up, Fit, FreeIndex, Geometry, Policy};
use crate::pools::{Pools, POOL_CLASSES};
use core::fmt;
use core::ptr::NonNull;

/// An allocation request: `size` bytes (rounded up to the quantum, plus a
/// guard quantum unless `Flags::NO_GUARD`), aligned to `align`, inside the
/// window `[lo, hi)` (Linux's `vstart`/`vend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Bytes wanted.
    pub size: usize,
    /// Alignment of the start: 0 (no constraint) or a power of two; values
    /// below the quantum mean the quantum.
    pub align: usize,
    /// Flags stored in the area.
    pub flags: Flags,
    /// Caller tag stored in the area (Linux keeps the caller's address).
    pub tag: u32,
    /// Lowest acceptable start.
    pub lo: usize,
    /// The area must end at or below this address.
    pub hi: usize,
    /// The start ≡ `phase` modulo the alignment (vmem's `phase`): a
    /// multiple of the quantum below the effective alignment; 0 for none.
    pub phase: usize,
    /// The area must not cross a multiple of `nocross` (vmem's `nocross`,
    /// e.g. a DMA boundary): 0 for none, else a power of two at least the
    /// area's size (guard included).
    pub nocross: usize,
}

impl Request {
    /// `size` bytes anywhere in `[lo, hi)`, no alignment beyond the quantum,
    /// `Flags::ALLOC`, tag 0. [`Space::request`] and
    /// [`SharedSpace::request`](crate::SharedSpace::request) fill in the
    /// space's bounds.
    ///
    /// ```
    /// use vmarea::{Flags, Request};
    /// let r = Request::new(8192, 0x1000, 0x10_0000).align(0x4000).flags(Flags::IOREMAP).tag(7);
    /// assert_eq!((r.size, r.align, r.flags, r.tag), (8192, 0x4000, Flags::IOREMAP, 7));
    /// ```
    pub const fn new(size: usize, lo: usize, hi: usize) -> Self {
        Request {
            size,
            align: 0,
            flags: Flags::ALLOC,
            tag: 0,
            lo,
            hi,
            phase: 0,
            nocross: 0,
        }
    }

    /// With alignment `align` (0 or a power of two).
    #[must_use]
    pub const fn align(mut self, align: usize) -> Self {
        self.align = align;
        self
    }

    /// With `flags` stored in the area.
    #[must_use]
    pub const fn flags(mut self, flags: Flags) -> Self {
        self.flags = flags;
        self
    }

    /// With the caller tag `tag`.
    #[must_use]
    pub const fn tag(mut self, tag: u32) -> Self {
        self.tag = tag;
        self
    }

    /// With the start ≡ `phase` modulo the alignment.
    #[must_use]
    pub const fn phase(mut self, phase: usize) -> Self {
        self.phase = phase;
        self
    }

    /// Not crossing a multiple of `nocross` (a power of two).
    #[must_use]
    pub const fn nocross(mut self, nocross: usize) -> Self {
        self.nocross = nocross;
        self
    }

    /// Inside the window `[lo, hi)`.
    #[must_use]
    pub const fn window(mut self, lo: usize, hi: usize) -> Self {
        self.lo = lo;
        self.hi = hi;
        self
    }

    /// Every check that needs no space but its quantum: what any space of
    /// that quantum would refuse (a sharded space refuses these before it
    /// asks a node). Returns (bytes with guard, effective alignment).
    pub(crate) fn check_alone(&self, quantum: usize) -> Result<(usize, usize), Error> {
        self.check_kind()?;
        let align = self.align.max(quantum);
        Ok((self.check_fit(quantum, align)?, align))
    }

    /// The size, flags and alignment in themselves.
    fn check_kind(&self) -> Result<(), Error> {
        if self.size == 0 {
            return Err(Error::ZeroSize);
        }
        if self.flags.intersects(Flags::RESERVED) {
            return Err(Error::BadFlags);
        }
        if !self.align.is_power_of_two() && self.align != 0 {
            return Err(Error::BadAlign);
        }
        Ok(())
    }

    /// The bytes the area takes (guard included) at the effective alignment
    /// `align`, and vmem_xalloc's constraints: a phase below the alignment,
    /// in quanta; a power-of-two boundary the area fits between.
    fn check_fit(&self, quantum: usize, align: usize) -> Result<usize, Error> {
        let guard = if self.flags.contains(Flags::NO_GUARD) {
            0
        } else {
            quantum
        };
        let need = align_up(self.size, quantum)
            .and_then(|s| s.checked_add(guard))
            .filter(|s| s.checked_add(align).is_some())
            .ok_or(Error::Overflow)?;
        if self.phase >= align || self.phase % quantum != 0 {
            return Err(Error::BadAlign);
        }
        if self.nocross != 0
            && (!self.nocross.is_power_of_two()
                || self.nocross < need
                || self.phase % self.nocross.min(align) + need > self.nocross)
        {
            return Err(Error::BadAlign);
        }
        Ok(need)
    }
}

/// A space `[start, end)` carved into areas, with one free-space policy.
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

/// The end of the fresh area `u`.
fn fit_end(u: NonNull<Area>) -> usize {
    // SAFETY: a fresh area just cut by the space.
    unsafe { u.as_ref() }.end()
}

/// # Safety
/// `a` is a live area of the space.
#[inline(always)]
unsafe fn a<'x>(p: NonNull<Area>) -> &'x Area {
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
        match Self::check_bounds(start, end, quantum) {
            Ok(()) => Ok(Self::build(
                start,
                end,
                quantum,
                policy,
                AddressIndex::BusyTree,
                source,
            )),
            Err(e) => Err(e),
        }
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

    /// The address index chosen at creation.
    pub fn address_index(&self) -> AddressIndex {
        self.busy.index()
    }

    /// As [`new`](Self::new), for a `const` or `static` initialiser: invalid
    /// bounds are a panic, so a build error in a `static`.
    ///
    /// ```
    /// use vmarea::{AreaPool, Flags, Policy, Space};
    /// static AREAS: AreaPool<16> = AreaPool::new();
    /// const FRESH: Space<&AreaPool<16>> =
    ///     Space::new_const(0x10_0000, 0x20_0000, 4096, Policy::FirstFit, &AREAS);
    /// let mut s = FRESH;
    /// assert!(s.alloc(4096, 0, Flags::ALLOC).is_ok());
    /// ```
    pub const fn new_const(
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

    /// Allocates `size` bytes aligned to `align` anywhere in the space
    /// (`get_vm_area`). Returns the area, guard included in its size.
    pub fn alloc(&mut self, size: usize, align: usize, flags: Flags) -> Result<AreaInfo, Error> {
        self.alloc_request(&Request {
            size,
            align,
            flags,
            tag: 0,
            lo: self.start,
            hi: self.end,
            phase: 0,
            nocross: 0,
        })
    }

    /// Allocates inside the window `[lo, hi)` (`__get_vm_area_caller`'s
    /// `start`/`end`).
    pub fn alloc_in(
        &mut self,
        size: usize,
        align: usize,
        flags: Flags,
        lo: usize,
        hi: usize,
    ) -> Result<AreaInfo, Error> {
        self.alloc_request(&Request {
            size,
            align,
            flags,
            tag: 0,
            lo,
            hi,
            phase: 0,
            nocross: 0,
        })
    }

    /// Allocates as `req` says. A refusal changes no area (see [`Error`] for
    /// the spares it may keep), except that
    /// when no space is left and lazily freed areas are pending, they are
    /// purged and the allocation retried once (as Linux does).
    pub fn alloc_request(&mut self, req: &Request) -> Result<AreaInfo, Error> {
        self.alloc_handle(req).map(|(info, _)| info)
    }

    /// As [`alloc_request`](Space::alloc_request), also returning a handle
    /// for [`free_handle`](Space::free_handle).
    pub fn alloc_handle(&mut self, req: &Request) -> Result<(AreaInfo, Handle), Error> {
        let r = self.try_alloc(req);
        match r {
            Ok(_) => self.counters.allocs += 1,
            Err(_) => self.counters.failures += 1,
        }
        #[cfg(feature = "events")]
        if let Some(hook) = self.events {
            self.report_alloc(hook, req, &r);
        }
        r
    }

    /// Hands the `Alloc` event to the hook. If the hook panics, the
    /// allocation is undone as the panic unwinds (its caller never learns
    /// of it, so it could never free it): the space is as if the request
    /// had been refused, with its range free again.
    #[cfg(feature = "events")]
    #[cold]
    fn report_alloc(
        &mut self,
        hook: crate::events::EventHook,
        req: &Request,
        r: &Result<(AreaInfo, Handle), Error>,
    ) {
        /// Undoes the allocation unless forgotten.
        struct Undo<'s, S: NodeSource>(&'s mut Space<S>, Handle);
        impl<S: NodeSource> Drop for Undo<'_, S> {
            fn drop(&mut self) {
                // SAFETY: the handle was allocated by this call and
                // reached nobody.
                unsafe { self.0.undo_alloc(self.1) };
            }
        }
        let event = crate::events::Event::Alloc {
            addr: r.as_ref().map_or(0, |(i, _)| i.addr),
            size: r.as_ref().map_or(req.size, |(i, _)| i.size),
            align: req.align,
            lo: req.lo,
            hi: req.hi,
            failed: r.is_err(),
        };
        let undo = r.as_ref().ok().map(|&(_, h)| Undo(self, h));
        hook(&event);
        core::mem::forget(undo);
    }

    /// Takes back an allocation its caller never received: out of the busy
    /// tree and merged into free space (not pooled), uncounted.
    ///
    /// # Safety
    /// `h` names a used area just allocated by this space, known to no one.
    #[cfg(feature = "events")]
    unsafe fn undo_alloc(&mut self, h: Handle) {
        let u = h.0;
        // SAFETY: caller contract: a used area in the busy tree.
        unsafe {
            self.busy.remove(u);
            self.used_bytes -= a(u).size();
            self.merge_free(u);
        }
        self.counters.allocs -= 1;
        self.counters.failures += 1;
    }

    fn try_alloc(&mut self, req: &Request) -> Result<(AreaInfo, Handle), Error> {
        let (need, align) = self.check(req)?;
        if self.pools.max != 0 {
            if let Some(u) = self.take_pooled(need, align, req) {
                return Ok((self.mark_used(u, req), Handle(u)));
            }
        }
        self.materialize()?;
        self.reserve()?;
        let u = match self.place(need, align, req) {
            Some(u) => u,
            None => self.place_under_pressure(need, align, req)?,
        };
        Ok((self.mark_used(u, req), Handle(u)))
    }

    /// No room at first: purge the lazy frees (as Linux does), drain the
    /// pools, import a span, retrying after each step that changed
    /// anything. Off the common path.
    #[cold]
    fn place_under_pressure(
        &mut self,
        need: usize,
        align: usize,
        req: &Request,
    ) -> Result<NonNull<Area>, Error> {
        // A request for anywhere in the space still means anywhere once an
        // import has grown it.
        let anywhere = req.lo == self.start && req.hi == self.end;
        if !self.lazy.is_empty() {
            self.purge();
            if let Some(u) = self.place(need, align, req) {
                return Ok(u);
            }
        }
        if self.drain_pools() > 0 {
            if let Some(u) = self.place(need, align, req) {
                return Ok(u);
            }
        }
        if anywhere && self.import_span(need, align, req) {
            let (lo, hi) = (self.start, self.end);
            let wide = Request { lo, hi, ..*req };
            return self.place(need, align, &wide).ok_or(Error::NoSpace);
        }
        Err(Error::NoSpace)
    }

    /// The most recently pooled area of the request's size, if it meets
    /// the request's alignment, phase, boundary and window (only that one
    /// is looked at, as Linux's `node_pool_del_va` looks at the head).
    fn take_pooled(&mut self, need: usize, align: usize, req: &Request) -> Option<NonNull<Area>> {
        let c = self.pools.class(need >> self.shift)?;
        let top = self.pools.peek(c)?;
        // SAFETY: pool members are live areas of the space.
        let ta = unsafe { a(top) };
        let at = ta.addr.get();
        if align == self.quantum && req.phase == 0 && req.nocross == 0 {
            // The common case: only the window to check.
            return (req.lo <= at && at + need <= req.hi)
                .then(|| self.pools.pop(c, need))
                .flatten();
        }
        let fit = Fit::of(need, align, req);
        if fit.place_in(ta) != Some(at) {
            return None;
        }
        self.pools.pop(c, need)
    }

    /// Turns on exact-size pools for areas of up to `max_quanta` quanta
    /// (guard included; at most [`POOL_CLASSES`](crate::POOL_CLASSES)),
    /// each keeping at most `per_class` areas; `0` turns them off. An area
    /// of a pooled size freed at once ([`free`](Self::free),
    /// [`free_handle`](Self::free_handle)) waits in its pool, and a request
    /// of that size takes the most recent one in O(1), without a search, a
    /// split or a merge, when it meets the request's alignment, phase,
    /// boundary and window (only that one is looked at, as Linux 6.9's
    /// per-node pools do; vmem puts its quantum caches inside `vmem_alloc`
    /// the same way).
    /// Pools decay by a quarter (rounded up, oldest first) at every purge
    /// and are drained whole when an allocation finds no room, or by
    /// [`drain_pools`](Self::drain_pools). Placement is then no longer the
    /// policy's alone: a pooled area is reused wherever it lies. Lowering
    /// the limits drains what no longer fits them. `BadRange` (nothing
    /// changed) above `POOL_CLASSES`.
    pub fn set_pools(&mut self, max_quanta: usize, per_class: usize) -> Result<(), Error> {
        if max_quanta > POOL_CLASSES {
            return Err(Error::BadRange);
        }
        let (max, cap) = if per_class == 0 {
            (0, 0)
        } else {
            (max_quanta, per_class)
        };
        for c in 0..POOL_CLASSES {
            let keep = if c < max { cap } else { 0 };
            while self.pools.class_len(c) > keep {
                self.unpool_oldest(c);
            }
        }
        (self.pools.max, self.pools.cap) = (max, cap);
        Ok(())
    }

    /// Merges every pooled area back into free space; returns how many.
    pub fn drain_pools(&mut self) -> usize {
        let mut n = 0;
        for c in 0..POOL_CLASSES {
            while self.pools.class_len(c) > 0 {
                self.unpool_oldest(c);
                n += 1;
            }
        }
        n
    }

    /// A quarter of each pool (rounded up, oldest first) back to free
    /// space, after a purge.
    fn decay_pools(&mut self) {
        for c in 0..POOL_CLASSES {
            for _ in 0..self.pools.class_len(c).div_ceil(4) {
                self.unpool_oldest(c);
            }
        }
    }

    /// The oldest area of pool `c` merged back into free space.
    fn unpool_oldest(&mut self, c: usize) {
        let size = (c + 1) << self.shift;
        if let Some(u) = self.pools.pop_oldest(c, size) {
            // SAFETY: a pooled area is a live member of the address list in
            // no index; `merge_free` makes it free.
            unsafe { self.merge_free(u) };
        }
    }

    /// Asks the import source for a span that surely holds the request and
    /// adds it; false if there is no source, it has nothing, or its range
    /// cannot be added (then it is given straight back).
    fn import_span(&mut self, need: usize, align: usize, req: &Request) -> bool {
        let Some(imp) = self.import else {
            return false;
        };
        let Some(size) = Fit::of(need, align, req)
            .sure_room(self.quantum)
            .map(|r| r.max(imp.quantum))
            .and_then(|r| align_up(r, self.quantum))
        else {
            return false;
        };
        let Some((lo, hi)) = (imp.take)(size) else {
            return false;
        };
        if hi.checked_sub(lo).is_none_or(|n| n < size) || self.add_span(lo, hi).is_err() {
            (imp.give)(lo, hi);
            return false;
        }
        self.counters.imports += 1;
        true
    }

    /// Finds room and cuts the area out; None when nothing fits. Next fit
    /// first tries `[rotor, hi)`, then wraps to the whole window.
    fn place(&mut self, need: usize, align: usize, req: &Request) -> Option<NonNull<Area>> {
        let fit = Fit::of(need, align, req);
        if let Some(r) = self.free.rotor().filter(|&r| r > fit.lo) {
            if let Some(u) = self.place_sure_first(&Fit { lo: r, ..fit }) {
                return Some(u);
            }
        }
        self.place_sure_first(&fit)
    }

    /// First and next fit ask for an area that surely holds the request
    /// (O(log n)) before the exact lowest fit (a walk): Linux searches
    /// `size + align - 1` and fails there; this space fails only when no
    /// free area holds the request at all. The other policies search once.
    fn place_sure_first(&mut self, fit: &Fit) -> Option<NonNull<Area>> {
        if self.policy.sure_room_first() {
            if let Some(room) = fit.sure_room(self.quantum).filter(|&r| r > fit.need) {
                if let Some(u) = self.place_from(&Fit { room, ..*fit }) {
                    return Some(u);
                }
            }
        }
        self.place_from(fit)
    }

    /// The policy's index is asked first; a policy that bumps then places
    /// the request after the used areas, and the RFC, once that reaches
    /// the top, scans the address list.
    fn place_from(&mut self, fit: &Fit) -> Option<NonNull<Area>> {
        let found = match self.free.search(fit, &self.geometry()) {
            Some(hit) => hit,
            None if self.policy.bumps() => {
                if let Some(u) = self.bump(fit) {
                    self.free.placed(fit_end(u));
                    return Some(u);
                }
                if !self.policy.scans_when_full() {
                    return None;
                }
                self.scan_fit(fit)?
            }
            None => return None,
        };
        let (f, x) = found;
        self.free.placed(x + fit.need);
        // SAFETY: `f` is a free area in the index and `x` a fitting placement.
        Some(unsafe { self.carve(f, x, fit.need) })
    }

    fn geometry(&self) -> Geometry {
        Geometry {
            shift: self.shift,
            start: self.start,
            end: self.end,
        }
    }

    /// Free areas the first-fit tree's searches have stopped at so far.
    #[cfg(test)]
    pub(crate) fn tree_visits(&self) -> usize {
        self.free.tree_visits()
    }

    /// Validates a request; returns (bytes with guard, effective alignment).
    fn check(&self, req: &Request) -> Result<(usize, usize), Error> {
        req.check_kind()?;
        let align = req.align.max(self.quantum);
        if align > self.end - self.start {
            return Err(Error::BadAlign);
        }
        if req.lo >= req.hi || req.lo < self.start || req.hi > self.end {
            return Err(Error::BadRange);
        }
        Ok((req.check_fit(self.quantum, align)?, align))
    }

    /// Fills the spares so that any allocation can finish without asking
    /// the source mid-way.
    fn reserve(&mut self) -> Result<(), Error> {
        for slot in 0..self.spares.len() {
            if self.spares[slot].is_none() {
                self.spares[slot] = Some(self.source.take().ok_or(Error::NoNode)?);
            }
        }
        Ok(())
    }

    fn spare(&mut self) -> NonNull<Area> {
        let slot = self.spares.iter_mut().find(|s| s.is_some());
        // The spares were filled by `reserve` and an allocation takes at
        // most two.
        let p = slot.and_then(Option::take).expect("reserved spare");
        // SAFETY: spares are fresh or released areas in no index.
        unsafe { p.as_ptr().write(Area::new()) };
        p
    }

    /// A reserved spare, initialised as the range `[addr, addr + size)`.
    fn spare_with(&mut self, addr: usize, size: usize) -> NonNull<Area> {
        let p = self.spare();
        // SAFETY: a fresh spare, in no index.
        let pa = unsafe { a(p) };
        pa.addr.set(addr);
        pa.set_size(size);
        p
    }

    fn release(&mut self, p: NonNull<Area>) {
        match self.spares.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(p),
            // SAFETY: `p` came from the source and is in no index.
            None => unsafe { self.source.give(p) },
        }
    }

    /// The RFC's bump: place the area right after the end of the used
    /// areas. A gap left by alignment becomes (or extends) a free area.
    fn bump(&mut self, fit: &Fit) -> Option<NonNull<Area>> {
        let (from, to) = (self.top.max(fit.lo), self.end.min(fit.hi));
        if to.saturating_sub(from) < fit.room {
            return None;
        }
        let x = fit.first_at(from, to)?;
        let end = x + fit.need;
        if x > self.top {
            let gap = x - self.top;
            // SAFETY: the list tail, if any, is a live area of the space.
            let last = self.all.back().map(|l| unsafe { Area::from_list(l) });
            // SAFETY: as above.
            match last.filter(|&l| !unsafe { a(l) }.is_used()) {
                Some(last) => {
                    // SAFETY: `last` is a free indexed area ending at `top`:
                    // the alignment gap extends it.
                    unsafe {
                        let old = a(last).size();
                        a(last).set_size(old + gap);
                        self.free.resized(last, old, self.shift);
                    }
                }
                None => {
                    let g = self.spare_with(self.top, gap);
                    // SAFETY: a fresh spare, in no index.
                    unsafe {
                        self.all.push_back(Area::list_link(g));
                        self.free.insert(g, self.shift);
                    }
                }
            }
        }
        let u = self.spare_with(x, fit.need);
        // SAFETY: a fresh spare, in no index.
        unsafe { self.all.push_back(Area::list_link(u)) };
        self.top = end;
        Some(u)
    }

    /// The RFC's fallback once the bump reaches the top: the first free
    /// area in address order that fits. O(areas).
    fn scan_fit(&self, fit: &Fit) -> Option<(NonNull<Area>, usize)> {
        self.all.iter().find_map(|l| {
            // SAFETY: list members are live areas.
            let f = unsafe { Area::from_list(l) };
            let fa = unsafe { a(f) };
            if fa.is_used() {
                return None;
            }
            fit.place_in(fa).map(|x| (f, x))
        })
    }

    /// Cuts `[x, x + need)` out of free area `f`; returns the new used-to-be
    /// area (not yet marked used). The four cases of Linux's
    /// `va_clip`: FL, LE, RE, NE.
    ///
    /// # Safety
    /// `f` is a free area in the index; `[x, x + need)` lies inside it.
    unsafe fn carve(&mut self, f: NonNull<Area>, x: usize, need: usize) -> NonNull<Area> {
        // SAFETY (whole body): `f` is a live indexed free area; spares are
        // fresh areas in no index; list operations name members.
        unsafe {
            let fa = a(f);
            let (start, end) = (fa.addr.get(), fa.end());
            let old = fa.size();
            let cut_end = x + need;
            let flink = Area::list_link(f);
            match (x > start, cut_end < end) {
                (false, false) => {
                    // FL: the whole area becomes the allocation.
                    self.free.remove(f, old, self.shift);
                    f
                }
                (false, true) => {
                    // LE: the allocation takes the left edge.
                    let u = self.spare_with(x, need);
                    self.all.insert_before(flink, Area::list_link(u));
                    fa.addr.set(cut_end);
                    fa.set_size(end - cut_end);
                    self.free.resized(f, old, self.shift);
                    u
                }
                (true, false) => {
                    // RE: the allocation takes the right edge.
                    let u = self.spare_with(x, need);
                    self.all.insert_after(flink, Area::list_link(u));
                    fa.set_size(x - start);
                    self.free.resized(f, old, self.shift);
                    u
                }
                (true, true) => {
                    // NE: the area splits in three; the right part is new.
                    let u = self.spare_with(x, need);
                    let rest = self.spare_with(cut_end, end - cut_end);
                    self.all.insert_after(flink, Area::list_link(u));
                    self.all
                        .insert_after(Area::list_link(u), Area::list_link(rest));
                    fa.set_size(x - start);
                    self.free.resized(f, old, self.shift);
                    self.free.insert(rest, self.shift);
                    u
                }
            }
        }
    }

    fn mark_used(&mut self, u: NonNull<Area>, req: &Request) -> AreaInfo {
        // SAFETY: `u` is a live area just cut for this allocation, in no index.
        let ua = unsafe { a(u) };
        ua.set_used(req.flags, req.tag);
        self.used_bytes += ua.size();
        // SAFETY: `u` is live, used and in no index; the space keeps it
        // live while it is used; `busy_neighbour` returns members.
        unsafe { self.busy.insert(u, || Self::busy_neighbour(u)) };
        // Just marked used: neither lazy nor deferred.
        AreaInfo::of_used(ua, self.quantum)
    }

    /// The busy-tree neighbour of `u` found on the address list, so that
    /// `u` is linked beside it with no key search: the nearest used area
    /// before `u` (link after it), else the nearest after (link before it,
    /// `true`). Free areas are never adjacent, so it is at most two steps
    /// away unless lazily freed areas sit between; then `None` (search).
    fn busy_neighbour(u: NonNull<Area>) -> Option<(NonNull<Area>, bool)> {
        for before in [false, true] {
            let mut at = u;
            for _ in 0..3 {
                // SAFETY: list members are live areas of the space.
                let link = &unsafe { a(at) }.list;
                let Some(next) = (if before { link.next() } else { link.prev() }) else {
                    break;
                };
                // SAFETY: as above.
                at = unsafe { Area::from_list(next) };
                // SAFETY: as above.
                let na = unsafe { a(at) };
                if na.is_used() && !na.is_lazy() {
                    return Some((at, before));
                }
            }
        }
        None
    }

    /// Frees the used area starting at `addr` (`vfree`), merging it with
    /// free neighbours (RFC step 4). Returns what was freed.
    pub fn free(&mut self, addr: usize) -> Result<AreaInfo, Error> {
        let u = self.take_used(addr)?;
        // SAFETY: `u` just left the busy tree: a live used area.
        Ok(unsafe { self.release_used(u) })
    }

    /// Frees the area `handle` names, without searching for it.
    ///
    /// # Safety
    /// `handle` came from [`alloc_handle`](Space::alloc_handle) on this
    /// space, and its area has not been freed since (by any means).
    pub unsafe fn free_handle(&mut self, handle: Handle) -> AreaInfo {
        let u = handle.0;
        // SAFETY: caller contract: `u` is a used area of the space.
        unsafe { self.busy.remove(u) };
        // SAFETY: as above; it has just left the busy tree.
        unsafe { self.release_used(u) }
    }

    /// Frees the area at `addr` lazily (Linux's `free_vmap_area_noflush`):
    /// it leaves the busy tree at once but its range is not reusable until
    /// the next purge, which runs when pending bytes reach the threshold,
    /// when an allocation would otherwise fail, or on [`purge`](Space::purge).
    pub fn free_lazy(&mut self, addr: usize) -> Result<AreaInfo, Error> {
        let u = self.take_used(addr)?;
        // SAFETY: `u` just left the busy tree: a live used area.
        Ok(unsafe { self.retire_lazy(u) })
    }

    /// As [`free_lazy`](Self::free_lazy), for the area `handle` names (the
    /// shared layer's drain of deferred frees: a deferred free is a `vfree`,
    /// so its range, too, is reused only after the flush hook saw it).
    ///
    /// # Safety
    /// As for [`free_handle`](Self::free_handle).
    pub(crate) unsafe fn free_lazy_handle(&mut self, handle: Handle) -> AreaInfo {
        let u = handle.0;
        // SAFETY: caller contract: `u` is a used area of the space.
        unsafe { self.busy.remove(u) };
        // SAFETY: as above; it has just left the busy tree.
        unsafe { self.retire_lazy(u) }
    }

    /// Puts a used area that has left the busy tree on the lazy list; purges
    /// once the pending bytes reach the threshold.
    ///
    /// # Safety
    /// `u` is a live used area of the space, on the address list, in no index.
    unsafe fn retire_lazy(&mut self, u: NonNull<Area>) -> AreaInfo {
        self.counters.lazy_frees += 1;
        // SAFETY: caller contract; its chain view is free now.
        let freed = unsafe {
            let ua = a(u);
            let freed = AreaInfo::of(ua, self.quantum);
            // A lazily freed area keeps no flags (a deferred one's `aux` held
            // the stack's link).
            ua.set_cached(Flags::NONE, false);
            ua.set_lazy();
            self.lazy.push_back(Area::chain_link(u));
            freed
        };
        self.used_bytes -= freed.size;
        self.lazy_bytes += freed.size;
        emit!(
            self,
            crate::events::Event::FreeLazy {
                addr: freed.addr,
                nr_lazy: self.lazy_bytes >> self.shift,
                nr_lazy_max: self.lazy_max >> self.shift,
            }
        );
        if self.lazy_bytes >= self.lazy_max {
            self.purge();
        }
        freed
    }

    /// Takes the used area starting at `addr` out of the busy tree; refuses
    /// an area a cache holds or whose deferred free is pending.
    fn take_used(&mut self, addr: usize) -> Result<NonNull<Area>, Error> {
        let u = self
            .busy
            .starting_at(addr, &self.all)
            .ok_or(Error::NotAllocated { addr })?;
        // SAFETY: a used area of the space.
        let ua = unsafe { a(u) };
        if ua.is_deferred() {
            return Err(Error::NotAllocated { addr });
        }
        if ua.is_cached() {
            return Err(Error::Cached { addr });
        }
        // SAFETY: `u` is a used area the index holds.
        unsafe { self.busy.remove(u) };
        Ok(u)
    }

    /// Marks the used area `handle` names as held by a cache (or released by
    /// it), reporting `flags`.
    ///
    /// # Safety
    /// `handle` names a live used area of this space.
    pub(crate) unsafe fn set_cached(&mut self, handle: Handle, flags: Flags, cached: bool) {
        // SAFETY: caller contract.
        unsafe { a(handle.0) }.set_cached(flags, cached);
    }

    /// Accounts for and merges a used area that has left the busy tree.
    ///
    /// # Safety
    /// `u` is a live used area of the space, on the address list, in no index.
    unsafe fn release_used(&mut self, u: NonNull<Area>) -> AreaInfo {
        self.counters.frees += 1;
        // SAFETY: caller contract (a used area: a lazy one is not used, and
        // one awaiting a deferred free is not the caller's to free).
        let freed = AreaInfo::of_used(unsafe { a(u) }, self.quantum);
        self.used_bytes -= freed.size;
        // SAFETY: caller contract.
        if self.pools.max == 0 || !unsafe { self.pool_freed(u, freed.size) } {
            // SAFETY: caller contract.
            unsafe { self.merge_free(u) };
        }
        // Last, once the space is whole again: a hook that panics finds
        // the range free (or pooled), not half merged.
        emit!(
            self,
            crate::events::Event::Free {
                addr: freed.addr,
                size: freed.size,
            }
        );
        freed
    }

    /// Puts a freed used area of `size` bytes in its pool, if it has one
    /// with room. Out of line: the free path stays small without pools.
    ///
    /// # Safety
    /// As `release_used`.
    #[inline(never)]
    unsafe fn pool_freed(&mut self, u: NonNull<Area>, size: usize) -> bool {
        let Some(c) = self.pools.class(size >> self.shift) else {
            return false;
        };
        if !self.pools.has_room(c) {
            return false;
        }
        // SAFETY: caller contract: a live area in no index; its chain view
        // is unused.
        unsafe {
            a(u).set_pooled();
            self.pools.push(c, u, size);
        }
        true
    }

    /// Adds `[lo, hi)` to the space as a span of its own (vmem's
    /// `vmem_add`), above its end or below its start: the range between, if
    /// any, stays out of the space (never allocated, listed or found), and
    /// a boundary mark sits between the spans even when they are adjacent,
    /// so no free area ever merges across it.
    /// [`bounds`](Self::bounds) then covers every span; a request's window
    /// may cross the ranges between spans, its area never does.
    ///
    /// Refused with nothing changed: `BadRange` for a range that is empty,
    /// not quantum-aligned, or overlapping the space;
    /// `BadSpace` if the bounds would exceed [`MAX_SPAN`](crate::MAX_SPAN);
    /// `NoNode` if the source has not the area objects it needs (up to 3).
    ///
    /// ```
    /// use vmarea::{AreaPool, Flags, Policy, Space};
    /// static AREAS: AreaPool<16> = AreaPool::new();
    /// let mut s = Space::new(0x10_0000, 0x10_2000, 0x1000, Policy::FirstFit, &AREAS).unwrap();
    /// s.add_span(0x20_0000, 0x20_4000).unwrap();
    /// assert_eq!(s.bounds(), (0x10_0000, 0x20_4000));
    /// // Two pages and a guard fit only in the second span.
    /// assert_eq!(s.alloc(0x2000, 0, Flags::ALLOC).unwrap().addr, 0x20_0000);
    /// assert_eq!(s.stats().free_bytes, 0x3000);
    /// ```
    pub fn add_span(&mut self, lo: usize, hi: usize) -> Result<(), Error> {
        let q = self.quantum;
        if lo >= hi || lo % q != 0 || hi % q != 0 {
            return Err(Error::BadRange);
        }
        let (above, below) = (lo >= self.end, hi <= self.start);
        if !above && !below {
            return Err(Error::BadRange);
        }
        let (start, end) = if above {
            (self.start, hi)
        } else {
            (lo, self.end)
        };
        if end - start > MAX_SPAN {
            return Err(Error::BadSpace);
        }
        let bumps = self.policy.bumps();
        let unmaterialized = !bumps && self.top != self.end;
        let old_top = bumps && above && self.top < self.end;
        let new_area = below || !bumps;
        let want = 1 + usize::from(unmaterialized) + usize::from(old_top) + usize::from(new_area);
        let mut taken: [Option<NonNull<Area>>; SPAN_NODES] = [None; SPAN_NODES];
        for slot in taken.iter_mut().take(want) {
            match self.source.take() {
                Some(p) => *slot = Some(p),
                None => {
                    for p in taken.into_iter().flatten() {
                        // SAFETY: just taken from the source, in no index.
                        unsafe { self.source.give(p) };
                    }
                    return Err(Error::NoNode);
                }
            }
        }
        let mut nodes = taken.into_iter().flatten();
        let mut fresh = |addr: usize, size: usize| {
            let p = nodes.next().expect("counted above");
            // SAFETY: a fresh object from the source, in no index.
            unsafe {
                p.as_ptr().write(Area::new());
                a(p).addr.set(addr);
                a(p).set_size(size);
            }
            p
        };
        // SAFETY (whole block): the areas are fresh, each pushed on the
        // address list once and indexed once if free.
        unsafe {
            if unmaterialized {
                let whole = fresh(self.start, self.end - self.start);
                self.all.push_back(Area::list_link(whole));
                self.free.insert(whole, self.shift);
                self.top = self.end;
            }
            if above {
                if old_top {
                    // The untracked region above the used areas becomes a
                    // free area: the top moves to the new span.
                    let f = fresh(self.top, self.end - self.top);
                    self.all.push_back(Area::list_link(f));
                    self.free.insert(f, self.shift);
                }
                let g = fresh(self.end, lo - self.end);
                a(g).set_gap();
                self.all.push_back(Area::list_link(g));
                self.gap_bytes += lo - self.end;
                if new_area {
                    let n = fresh(lo, hi - lo);
                    self.all.push_back(Area::list_link(n));
                    self.free.insert(n, self.shift);
                    self.top = hi;
                } else {
                    self.top = lo;
                }
            } else {
                let g = fresh(hi, self.start - hi);
                a(g).set_gap();
                self.all.push_front(Area::list_link(g));
                self.gap_bytes += self.start - hi;
                let n = fresh(lo, hi - lo);
                self.all.push_front(Area::list_link(n));
                self.free.insert(n, self.shift);
            }
        }
        (self.start, self.end) = (start, end);
        Ok(())
    }

    /// Sets the parent source the space imports spans from when it has no
    /// room (see [`Import`]); `None` for none. Spans added with
    /// [`add_span`](Self::add_span) count as imported too: every span but
    /// the first (the range given to `new`) may be released.
    pub fn set_import(&mut self, import: Option<Import>) {
        self.import = import;
    }

    /// Gives every wholly free span back to the import source (vmem
    /// releases a span once it is all free), except the space's own first
    /// span; returns how many. Lazily freed areas keep their span (purge
    /// first). O(areas). Without an import source, nothing.
    pub fn release_spans(&mut self) -> usize {
        let Some(imp) = self.import else {
            return 0;
        };
        let mut released = 0;
        // The last span, when the bump region is all that is left of it
        // (again after each release: the span below may then be too).
        while self.policy.bumps() {
            // SAFETY: list members are live areas of the space.
            let last = self.all.back().map(|l| unsafe { Area::from_list(l) });
            if let Some(g) = last.filter(|&g| unsafe { a(g) }.is_gap()) {
                // SAFETY: as above.
                let (g_addr, g_end) = unsafe { (a(g).addr.get(), a(g).end()) };
                if self.top == g_end && g_end != self.home {
                    (imp.give)(g_end, self.end);
                    // SAFETY: `g` is a member in no index.
                    unsafe { self.all.remove(Area::list_link(g)) };
                    self.gap_bytes -= g_end - g_addr;
                    self.release(g);
                    (self.end, self.top) = (g_addr, g_addr);
                    // The bump region now reaches down past a free area
                    // that ended at the old boundary: absorb it.
                    // SAFETY: as above.
                    let back = self.all.back().map(|l| unsafe { Area::from_list(l) });
                    if let Some(f) = back.filter(|&f| {
                        let fa = unsafe { a(f) };
                        !fa.is_used() && fa.end() == g_addr
                    }) {
                        // SAFETY: a free, indexed member.
                        unsafe {
                            self.free.remove(f, a(f).size(), self.shift);
                            self.all.remove(Area::list_link(f));
                            self.top = a(f).addr.get();
                        }
                        self.release(f);
                    }
                    released += 1;
                    self.counters.releases += 1;
                    continue;
                }
            }
            break;
        }
        let mut cur = self.all.front();
        while let Some(l) = cur {
            // SAFETY (these five): `l` and its list neighbours are members
            // of the address list, live areas of the space.
            let f = unsafe { Area::from_list(l) };
            let fa = unsafe { a(f) };
            cur = fa.list.next();
            // SAFETY: as above.
            let prev = fa.list.prev().map(|p| unsafe { Area::from_list(p) });
            // SAFETY: as above.
            let next = fa.list.next().map(|n| unsafe { Area::from_list(n) });
            // SAFETY: as above.
            let boundary = |x: Option<NonNull<Area>>| x.is_none_or(|x| unsafe { a(x) }.is_gap());
            // A free area between two boundaries is a whole span, unless it
            // is the last one and the space bumps (its top is beyond it).
            // (With neither neighbour it would be the only span, the home.)
            let whole = !fa.is_used()
                && boundary(prev)
                && boundary(next)
                && (prev.is_some() || next.is_some())
                && (next.is_some() || !self.policy.bumps())
                && fa.addr.get() != self.home;
            if !whole {
                continue;
            }
            let (lo, hi) = (fa.addr.get(), fa.end());
            (imp.give)(lo, hi);
            // SAFETY (block): `f` is a free indexed member; `prev` and
            // `next` are gap members in no index.
            unsafe {
                self.free.remove(f, hi - lo, self.shift);
                self.all.remove(l);
                match (prev, next) {
                    (Some(p), Some(n)) => {
                        // Two gaps and the span between become one gap.
                        a(p).set_size(a(n).end() - a(p).addr.get());
                        self.gap_bytes += hi - lo;
                        cur = a(n).list.next();
                        self.all.remove(Area::list_link(n));
                        self.release(n);
                    }
                    (None, Some(n)) => {
                        // The first span: the space now starts after it.
                        self.start = a(n).end();
                        self.gap_bytes -= a(n).size();
                        cur = a(n).list.next();
                        self.all.remove(Area::list_link(n));
                        self.release(n);
                    }
                    (Some(p), None) => {
                        // The last span (no bump region): the space ends
                        // where the gap before it began.
                        self.end = a(p).addr.get();
                        self.top = self.end;
                        self.gap_bytes -= a(p).size();
                        self.all.remove(Area::list_link(p));
                        self.release(p);
                    }
                    (None, None) => {}
                }
            }
            self.release(f);
            released += 1;
            self.counters.releases += 1;
        }
        released
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

    /// Merges every lazily freed area back into free space, as one batch
    /// (Linux's `purge_vmap_area_lazy`), after handing the batch to the flush
    /// hook. Returns how many were purged.
    pub fn purge(&mut self) -> usize {
        if self.lazy.is_empty() {
            return 0;
        }
        // The hook sees the batch before any of it is merged: if it
        // panics, every range stays lazy (flushed again by the next purge)
        // and nothing is counted as purged.
        if let Some(flush) = self.flush {
            flush(&PurgeBatch {
                lazy: &self.lazy,
                bytes: self.lazy_bytes,
            });
        }
        self.counters.purges += 1;
        self.counters.purged_bytes += self.lazy_bytes as u64;
        let mut n = 0;
        #[cfg(feature = "events")]
        let (mut lowest, mut highest) = (usize::MAX, 0);
        while let Some(l) = self.lazy.front() {
            // SAFETY: `l` is a member of the lazy list; the area is live,
            // marked used-and-lazy, and in no index.
            unsafe {
                self.lazy.remove(l);
                let u = Area::from_chain(l);
                #[cfg(feature = "events")]
                {
                    lowest = lowest.min(a(u).addr.get());
                    highest = highest.max(a(u).end());
                }
                self.lazy_bytes -= a(u).size();
                self.merge_free(u);
            }
            n += 1;
        }
        self.counters.purged_areas += n as u64;
        self.decay_pools();
        emit!(
            self,
            crate::events::Event::Purge {
                start: lowest,
                end: highest,
                num_purged: n,
            }
        );
        n
    }

    /// Marks `u` free and merges it with free list neighbours (RFC step 4).
    /// As Linux's `merge_or_add_vmap_area`, a free neighbour keeps its index
    /// entry and only grows (re-summarised in place); only an area with no
    /// free neighbour is inserted. Under `Rfc`, a result ending at `top` is
    /// absorbed by the untracked top instead.
    ///
    /// # Safety
    /// `u` is a live area of the space on the address list, in no index.
    unsafe fn merge_free(&mut self, u: NonNull<Area>) {
        // SAFETY (whole body): `u` and its list neighbours are live areas of
        // the space; free neighbours are in the index under their sizes.
        unsafe {
            a(u).set_free();
            let free_at = |l: Option<NonNull<crate::containers::list::ListLink>>| {
                l.map(|l| Area::from_list(l)).filter(|&x| !a(x).is_used())
            };
            let (prev, next) = (free_at(a(u).list.prev()), free_at(a(u).list.next()));
            // The surviving area, and the size it is indexed under (None: not
            // indexed yet).
            let (keep, indexed) = match (prev, next) {
                (Some(p), next) => {
                    let old = a(p).size();
                    let mut size = old + a(u).size();
                    self.all.remove(Area::list_link(u));
                    self.release(u);
                    if let Some(n) = next {
                        self.free.remove(n, a(n).size(), self.shift);
                        size += a(n).size();
                        self.all.remove(Area::list_link(n));
                        self.release(n);
                    }
                    a(p).set_size(size);
                    (p, Some(old))
                }
                (None, Some(n)) => {
                    // `n` grows leftwards over `u`; its order among free areas
                    // is unchanged.
                    let old = a(n).size();
                    a(n).addr.set(a(u).addr.get());
                    a(n).set_size(old + a(u).size());
                    self.all.remove(Area::list_link(u));
                    self.release(u);
                    (n, Some(old))
                }
                (None, None) => (u, None),
            };
            // The last area only: a span boundary (a gap, perhaps of size
            // 0) between it and the top keeps the spans apart.
            if self.policy.bumps() && a(keep).end() == self.top && a(keep).list.next().is_none() {
                // The RFC keeps no free area at the top: the bump retreats.
                if let Some(old) = indexed {
                    self.free.remove(keep, old, self.shift);
                }
                self.top = a(keep).addr.get();
                self.all.remove(Area::list_link(keep));
                self.release(keep);
            } else {
                match indexed {
                    Some(old) => self.free.resized(keep, old, self.shift),
                    None => self.free.insert(keep, self.shift),
                }
            }
        }
    }

    /// The used area containing `addr` (`find_vm_area`): O(log n) with the
    /// busy tree, a walk of the address list without one.
    ///
    /// An area whose deferred free is pending (pushed since the lock was
    /// taken) is freed already and is not found.
    pub fn find(&self, addr: usize) -> Option<AreaInfo> {
        let p = self.busy.containing(addr, &self.all)?;
        // SAFETY: a used area of the space.
        let a = unsafe { a(p) };
        (!a.is_deferred()).then(|| AreaInfo::of(a, self.quantum))
    }

    /// Every tracked area, used and free, in address order, then the free
    /// range above them, `[top, end)`, as one free area (for `Rfc`, that
    /// untouched top is not an area and is not listed). A space no
    /// allocation has touched yet lists its whole range as one free area.
    pub fn iter(&self) -> impl Iterator<Item = AreaInfo> + '_ {
        let unmaterialized = (!self.policy.hides_top() && self.top != self.end)
            .then(|| AreaInfo::free_range(self.top, self.end - self.top));
        // SAFETY: list members are live areas of the space.
        self.all
            .iter()
            .map(|l| unsafe { a(Area::from_list(l)) })
            .filter(|ar| !ar.is_gap())
            .map(|ar| AreaInfo::of(ar, self.quantum))
            .chain(unmaterialized)
    }

    /// The segments of the kinds `which` selects, in address order (vmem's
    /// `vmem_walk`): e.g. `walk(Segments::FREE | Segments::LAZY)`.
    ///
    /// ```
    /// use vmarea::{AreaPool, Flags, Policy, Segments, Space};
    /// static AREAS: AreaPool<16> = AreaPool::new();
    /// let mut s = Space::new(0x10_0000, 0x20_0000, 0x1000, Policy::FirstFit, &AREAS).unwrap();
    /// let a = s.alloc(0x1000, 0, Flags::ALLOC).unwrap();
    /// let b = s.alloc(0x1000, 0, Flags::ALLOC).unwrap();
    /// s.free_lazy(a.addr).unwrap();
    /// let used: Vec<_> = s.walk(Segments::USED).map(|i| i.addr).collect();
    /// assert_eq!(used, [b.addr]);
    /// assert_eq!(s.walk(Segments::LAZY).count(), 1);
    /// assert_eq!(s.walk(Segments::ALL).count(), s.iter().count());
    /// ```
    pub fn walk(&self, which: Segments) -> impl Iterator<Item = AreaInfo> + '_ {
        self.iter().filter(move |i| which.selects(i))
    }

    /// The used areas in address order (not those whose deferred free is
    /// pending).
    pub fn used(&self) -> impl Iterator<Item = AreaInfo> + '_ {
        self.busy
            .iter(&self.all)
            .filter(|a| !a.is_deferred())
            .map(|a| AreaInfo::of(a, self.quantum))
    }

    /// Number of areas in the busy tree. O(1). Under a
    /// [`SharedSpace`](crate::SharedSpace) this includes areas whose deferred
    /// free was pushed after the lock was taken (drained at the next
    /// acquisition).
    pub fn used_count(&self) -> usize {
        self.busy.len()
    }

    /// Bytes in used areas, guards included. O(1).
    pub fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    /// What the space has done since it was made. O(1).
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Occupancy figures. O(areas): walks the list.
    pub fn stats(&self) -> Stats {
        let mut s = Stats {
            used_bytes: self.used_bytes,
            free_bytes: (self.end - self.start)
                - self.used_bytes
                - self.lazy_bytes
                - self.gap_bytes
                - self.pools.bytes,
            used_areas: self.busy.len(),
            free_ranges: self.free.len(),
            largest_free: 0,
            lazy_bytes: self.lazy_bytes,
            lazy_areas: self.lazy.len(),
            pooled_bytes: self.pools.bytes,
            pooled_areas: self.pools.len(),
        };
        for info in self.iter().filter(|i| !i.used && !i.lazy && !i.pooled) {
            s.largest_free = s.largest_free.max(info.size);
        }
        if self.top < self.end {
            s.free_ranges += 1;
            s.largest_free = s.largest_free.max(self.end - self.top);
        }
        s
    }

    /// Checks every invariant; the error names the broken one and where.
    /// O(n log n).
    pub fn validate(&self) -> Result<(), ValidateError> {
        self.all
            .validate()
            .map_err(|_| ValidateError::AddressList)?;
        self.busy.validate()?;
        self.free.validate(self.shift)?;
        self.lazy.validate().map_err(|_| ValidateError::LazyList)?;
        let (mut expect, mut busy, mut used_bytes, mut free, mut prev_free) =
            (self.start, 0, 0, 0, false);
        let (mut lazy, mut lazy_bytes, mut gap_bytes) = (0, 0, 0);
        let (mut pooled, mut pooled_bytes) = (0, 0);
        for l in self.all.iter() {
            // SAFETY: list members are live areas of the space.
            let ar = unsafe { a(Area::from_list(l)) };
            let (addr, size) = (ar.addr.get(), ar.size());
            if addr != expect {
                return Err(ValidateError::Gap { addr });
            }
            if (size == 0 && !ar.is_gap()) || addr % self.quantum != 0 || size % self.quantum != 0 {
                return Err(ValidateError::Misaligned { addr });
            }
            if ar.end() > self.top {
                return Err(ValidateError::PastTop { addr });
            }
            let in_busy = ar.is_used() && !ar.is_lazy() && self.busy.holds(ar);
            if ar.is_gap() {
                gap_bytes += size;
            } else if ar.is_pooled() {
                if self.pools.class(size >> self.shift).is_none() {
                    return Err(ValidateError::Counts);
                }
                pooled += 1;
                pooled_bytes += size;
            } else if ar.is_lazy() {
                lazy += 1;
                lazy_bytes += size;
            } else if ar.is_used() {
                // Counted used until drained, when a deferred free is pending.
                busy += 1;
                used_bytes += size;
            } else {
                if prev_free {
                    return Err(ValidateError::Unmerged { addr });
                }
                free += 1;
            }
            if in_busy != (ar.is_used() && !ar.is_lazy()) {
                return Err(ValidateError::BusyMembership { addr });
            }
            prev_free = !ar.is_used();
            expect = ar.end();
        }
        if expect != self.top
            || (self.policy.bumps() && prev_free)
            || (!self.policy.bumps()
                && self.top != self.end
                && !(self.top == self.start && self.all.is_empty()))
        {
            return Err(ValidateError::Top);
        }
        if !self.pools.lists_valid() {
            return Err(ValidateError::Counts);
        }
        for c in 0..POOL_CLASSES {
            for m in self.pools.members(c) {
                // SAFETY: pool members are live areas of the space.
                let ma = unsafe { a(m) };
                if !ma.is_pooled() || ma.size() != (c + 1) << self.shift {
                    return Err(ValidateError::FreeMembership {
                        addr: ma.addr.get(),
                    });
                }
            }
        }
        if busy != self.busy.len()
            || used_bytes != self.used_bytes
            || lazy != self.lazy.len()
            || lazy_bytes != self.lazy_bytes
            || gap_bytes != self.gap_bytes
            || pooled != self.pools.len()
            || pooled_bytes != self.pools.bytes
            || free != self.free.len()
        {
            return Err(ValidateError::Counts);
        }
        Ok(())
    }
}

impl<S: NodeSource> Space<S> {
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

/// `/proc/vmallocinfo` form: one line per used area,
/// `0xSTART-0xEND SIZE tag=0xTAG [ioremap] [vmalloc] [vmap] [user]`, and one
/// per freed area awaiting a purge or drain, `0xSTART-0xEND SIZE unpurged
/// vm_area`, as Linux prints them.
impl<S: NodeSource> fmt::Display for Space<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in self.iter().filter(|i| i.used || i.lazy) {
            if i.lazy {
                // As Linux shows freed areas awaiting a purge.
                writeln!(
                    f,
                    "{:#018x}-{:#018x} {:>8} unpurged vm_area",
                    i.addr,
                    i.end(),
                    i.size
                )?;
                continue;
            }
            write!(
                f,
                "{:#018x}-{:#018x} {:>8} tag={:#x}",
                i.addr,
                i.end(),
                i.size,
                i.tag
            )?;
            for (flag, word) in [
                (Flags::IOREMAP, "ioremap"),
                (Flags::ALLOC, "vmalloc"),
                (Flags::MAP, "vmap"),
                (Flags::USERMAP, "user"),
            ] {
                if i.flags.contains(flag) {
                    write!(f, " {word}")?;
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl<S: NodeSource> fmt::Debug for Space<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Space")
            .field("policy", &self.policy)
            .field("start", &self.start)
            .field("end", &self.end)
            .field("stats", &self.stats())
            .finish()
    }
}
