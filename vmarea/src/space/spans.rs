//! Spans (vmem's `vmem_add`): ranges added above or below the space with a
//! boundary mark between, imported from a parent source when no room is
//! left, and given back once wholly free.

use super::{a, Import, Space, SPAN_NODES};
use crate::area::{Area, MAX_SPAN};
use crate::error::Error;
use crate::nodes::NodeSource;
use crate::policy::Fit;
use crate::request::{align_up, Request};
use core::ptr::NonNull;

impl<S: NodeSource> Space<S> {
    /// Asks the import source for a span that surely holds the request and
    /// adds it; false if there is no source, it has nothing, or its range
    /// cannot be added (then it is given straight back).
    pub(super) fn import_span(&mut self, need: usize, align: usize, req: &Request) -> bool {
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
}
