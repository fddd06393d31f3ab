//! Allocation: check the request, take a pooled area or find room (the
//! policy's index, the RFC's bump, a scan), carve it out of its free area
//! in one of Linux's four split cases, and link it into the busy tree; with
//! no room, purge, drain the pools and import a span, then retry.

use super::{a, Handle, Space};
use crate::area::{Area, Flags};
use crate::error::Error;
use crate::info::AreaInfo;
use crate::nodes::NodeSource;
use crate::policy::{Fit, FreeIndex, Geometry};
use crate::request::Request;
use core::ptr::NonNull;

/// The end of the fresh area `u`.
fn fit_end(u: NonNull<Area>) -> usize {
    // SAFETY: a fresh area just cut by the space.
    unsafe { u.as_ref() }.end()
}

impl<S: NodeSource> Space<S> {
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
    pub(super) fn report_alloc(
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
    pub(super) unsafe fn undo_alloc(&mut self, h: Handle) {
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

    pub(super) fn try_alloc(&mut self, req: &Request) -> Result<(AreaInfo, Handle), Error> {
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
    pub(super) fn place_under_pressure(
        &mut self,
        need: usize,
        align: usize,
        req: &Request,
    ) -> Result<NonNull<Area>, Error> {
        // A request for anywhere in the space still means anywhere once an
        // import has grown it.
        let anywhere = req.lo == self.start && req.hi == self.end;
        // A shared space purges outside its lock: it retries there.
        if !self.lazy.is_empty() && !self.purge_outside {
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
    pub(super) fn take_pooled(
        &mut self,
        need: usize,
        align: usize,
        req: &Request,
    ) -> Option<NonNull<Area>> {
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

    /// Finds room and cuts the area out; None when nothing fits. Next fit
    /// first tries `[rotor, hi)`, then wraps to the whole window.
    pub(super) fn place(
        &mut self,
        need: usize,
        align: usize,
        req: &Request,
    ) -> Option<NonNull<Area>> {
        // The common request (anywhere in the space, no alignment above
        // the quantum, no phase or boundary) goes straight to the index,
        // with no search state: instant fit takes the head of the first
        // list whose every area holds it; first fit the lowest area that
        // does. The size lists have no rotor and no sure-room pass, so every
        // other request to them goes to their search at once; next fit, the
        // RFC and first fit's other requests take the general path.
        let anywhere = align == self.quantum
            && req.phase | req.nocross == 0
            && req.lo == self.start
            && req.hi == self.end;
        let f = match &self.free {
            FreeIndex::Lists(l) => match l.instant(need >> self.shift).filter(|_| anywhere) {
                Some(f) => f,
                None => return self.place_from(&Fit::of(need, align, req)),
            },
            FreeIndex::FirstFit(t) if anywhere && t.rotor().is_none() => match t.lowest(need) {
                Some(f) => f,
                // No free area holds `need` at all: the general search
                // would find none either.
                None => return self.place_past_index(&Fit::of(need, align, req)),
            },
            _ => return self.place_searched(need, align, req),
        };
        // SAFETY: `f` is a free area in the index, at least `need` long:
        // its first `need` bytes fit.
        Some(unsafe { self.carve(f, a(f).addr.get(), need) })
    }

    /// [`place`](Self::place) for next fit, the RFC, and first fit's
    /// requests with an alignment, phase, boundary or window: next fit's
    /// rotor first, then the sure-room pass, then the exact search.
    #[inline(never)]
    fn place_searched(
        &mut self,
        need: usize,
        align: usize,
        req: &Request,
    ) -> Option<NonNull<Area>> {
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
    pub(super) fn place_sure_first(&mut self, fit: &Fit) -> Option<NonNull<Area>> {
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
    pub(super) fn place_from(&mut self, fit: &Fit) -> Option<NonNull<Area>> {
        match self.free.search(fit, &self.geometry()) {
            Some((f, x)) => {
                self.free.placed(x + fit.need);
                // SAFETY: `f` is a free area in the index and `x` a fitting
                // placement.
                Some(unsafe { self.carve(f, x, fit.need) })
            }
            None => self.place_past_index(fit),
        }
    }

    /// The index holds no fit: a policy that bumps places the request after
    /// the used areas; the RFC, once that reaches the top, scans the
    /// address list.
    fn place_past_index(&mut self, fit: &Fit) -> Option<NonNull<Area>> {
        if !self.policy.bumps() {
            return None;
        }
        if let Some(u) = self.bump(fit) {
            self.free.placed(fit_end(u));
            return Some(u);
        }
        if !self.policy.scans_when_full() {
            return None;
        }
        let (f, x) = self.scan_fit(fit)?;
        self.free.placed(x + fit.need);
        // SAFETY: `f` is a free area in the index and `x` a fitting placement.
        Some(unsafe { self.carve(f, x, fit.need) })
    }

    pub(super) fn geometry(&self) -> Geometry {
        Geometry {
            shift: self.shift,
            start: self.start,
            end: self.end,
        }
    }

    /// For a request of `size` bytes anywhere: the free area the fast path
    /// of [`place`](Self::place) picks and the one the general search does
    /// (tests hold them equal).
    #[cfg(all(test, feature = "alloc"))]
    pub(crate) fn fast_and_general_choice(
        &self,
        size: usize,
    ) -> (Option<NonNull<Area>>, Option<NonNull<Area>>) {
        let req = self.request(size);
        let (need, align) = self.check(&req).unwrap();
        let fast = match &self.free {
            FreeIndex::Lists(l) => l.instant(need >> self.shift),
            FreeIndex::FirstFit(t) => t.lowest(need),
            FreeIndex::Hash(_) => None,
        };
        let general = self
            .free
            .search(&Fit::of(need, align, &req), &self.geometry())
            .map(|(f, _)| f);
        (fast, general)
    }

    /// Free areas the searches have stopped at so far.
    #[cfg(all(test, feature = "alloc"))]
    pub(crate) fn search_visits(&self) -> usize {
        self.free.search_visits()
    }

    /// Validates a request; returns (bytes with guard, effective alignment).
    pub(super) fn check(&self, req: &Request) -> Result<(usize, usize), Error> {
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
    pub(super) fn reserve(&mut self) -> Result<(), Error> {
        for slot in 0..self.spares.len() {
            if self.spares[slot].is_none() {
                self.spares[slot] = Some(self.source.take().ok_or(Error::NoNode)?);
            }
        }
        Ok(())
    }

    pub(super) fn spare(&mut self) -> NonNull<Area> {
        let slot = self.spares.iter_mut().find(|s| s.is_some());
        // The spares were filled by `reserve` and an allocation takes at
        // most two.
        let p = slot.and_then(Option::take).expect("reserved spare");
        // SAFETY: spares are fresh or released areas in no index.
        unsafe { p.as_ptr().write(Area::new()) };
        p
    }

    /// A reserved spare, initialised as the range `[addr, addr + size)`.
    pub(super) fn spare_with(&mut self, addr: usize, size: usize) -> NonNull<Area> {
        let p = self.spare();
        // SAFETY: a fresh spare, in no index.
        let pa = unsafe { a(p) };
        pa.addr.set(addr);
        pa.set_size(size);
        p
    }

    pub(super) fn release(&mut self, p: NonNull<Area>) {
        match self.spares.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(p),
            // SAFETY: `p` came from the source and is in no index.
            None => unsafe { self.source.give(p) },
        }
    }

    /// The RFC's bump: place the area right after the end of the used
    /// areas. A gap left by alignment becomes (or extends) a free area.
    pub(super) fn bump(&mut self, fit: &Fit) -> Option<NonNull<Area>> {
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
    pub(super) fn scan_fit(&self, fit: &Fit) -> Option<(NonNull<Area>, usize)> {
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
    #[inline(always)]
    pub(super) unsafe fn carve(
        &mut self,
        f: NonNull<Area>,
        x: usize,
        need: usize,
    ) -> NonNull<Area> {
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

    pub(super) fn mark_used(&mut self, u: NonNull<Area>, req: &Request) -> AreaInfo {
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
    pub(super) fn busy_neighbour(u: NonNull<Area>) -> Option<(NonNull<Area>, bool)> {
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
}
