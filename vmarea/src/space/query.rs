//! What callers read: lookups (`find`), walks of every area or the used
//! ones, counts and statistics, the vmallocinfo-style listing, and
//! `validate`, which checks every invariant of the space.

use super::{a, Space};
use crate::area::{Area, Flags};
use crate::error::ValidateError;
use crate::info::{AreaInfo, Counters, Segments, Stats};
use crate::nodes::NodeSource;
use crate::pools::POOL_CLASSES;
use core::fmt;

impl<S: NodeSource> Space<S> {
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
                - self.purging_bytes
                - self.gap_bytes
                - self.pools.bytes,
            used_areas: self.busy.len(),
            free_ranges: self.free.len(),
            largest_free: 0,
            lazy_bytes: self.lazy_bytes + self.purging_bytes,
            lazy_areas: self.lazy.len() + self.purging_areas,
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
            || lazy != self.lazy.len() + self.purging_areas
            || lazy_bytes != self.lazy_bytes + self.purging_bytes
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
