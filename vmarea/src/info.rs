//! What callers see of an area, and of the whole space.

use crate::area::{Area, Flags};

/// A snapshot of one area. `Debug` prints addresses and sizes in hex.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AreaInfo {
    /// First byte.
    pub addr: usize,
    /// Length in bytes, guard quantum included (as `/proc/vmallocinfo`).
    pub size: usize,
    /// Bytes of guard at the end of the area (0, or the quantum); 0 for an
    /// area that is not used.
    pub guard: usize,
    /// Whether the area is allocated. False once it is freed, including
    /// while its lazy or deferred free is pending.
    pub used: bool,
    /// Freed, awaiting a purge (lazy free) or a drain (deferred free): not
    /// allocatable yet. Linux reports these as `unpurged vm_area`.
    pub lazy: bool,
    /// Freed into a size pool ([`Space::set_pools`](crate::Space::set_pools)):
    /// ready for the next request of its size, not free to others until the
    /// pool decays or drains. Never `lazy` at the same time (a pool holds
    /// only purged or immediately freed areas).
    pub pooled: bool,
    /// Held by a per-CPU cache or the depot of a
    /// [`SharedSpace`](crate::SharedSpace) (also while a caller has it from
    /// [`CpuCache::alloc`](crate::CpuCache::alloc)): only the cache frees it.
    pub cached: bool,
    /// Flags given at allocation (none for an area that is not used).
    pub flags: Flags,
    /// Caller tag given at allocation (0 for an area that is not used).
    pub tag: u32,
}

impl core::fmt::Debug for AreaInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AreaInfo")
            .field("addr", &format_args!("{:#x}", self.addr))
            .field("size", &format_args!("{:#x}", self.size))
            .field("guard", &format_args!("{:#x}", self.guard))
            .field("used", &self.used)
            .field("lazy", &self.lazy)
            .field("pooled", &self.pooled)
            .field("cached", &self.cached)
            .field("flags", &self.flags)
            .field("tag", &self.tag)
            .finish()
    }
}

impl AreaInfo {
    pub(crate) fn of(a: &Area, quantum: usize) -> Self {
        let deferred = a.is_deferred();
        if a.is_used() && !a.is_lazy() && !deferred {
            return Self::of_used(a, quantum);
        }
        let pooled = a.is_pooled();
        AreaInfo {
            lazy: (a.is_lazy() && !pooled) || deferred,
            pooled,
            ..Self::free_range(a.addr.get(), a.size())
        }
    }

    /// [`of`](Self::of) for an area the caller knows is used, neither lazy
    /// nor awaiting a deferred free: the allocation and free paths, which
    /// skip the state tests (measured: 104 of 451 instructions per step of
    /// the random-frees workload went to two calls of `of`).
    #[inline]
    pub(crate) fn of_used(a: &Area, quantum: usize) -> Self {
        debug_assert!(a.is_used() && !a.is_lazy() && !a.is_deferred());
        let flags = a.flags();
        AreaInfo {
            addr: a.addr.get(),
            size: a.size(),
            guard: if flags.contains(Flags::NO_GUARD) {
                0
            } else {
                quantum
            },
            used: true,
            lazy: false,
            pooled: false,
            cached: a.is_cached(),
            flags,
            tag: a.tag(),
        }
    }

    /// A free range that is not an area object (yet).
    pub(crate) fn free_range(addr: usize, size: usize) -> Self {
        AreaInfo {
            addr,
            size,
            guard: 0,
            used: false,
            lazy: false,
            pooled: false,
            cached: false,
            flags: Flags::NONE,
            tag: 0,
        }
    }

    /// One past the last byte.
    pub fn end(&self) -> usize {
        self.addr + self.size
    }

    /// Usable bytes: the size less the guard.
    pub fn usable(&self) -> usize {
        self.size.saturating_sub(self.guard)
    }
}

/// Which segments [`Space::walk`](crate::Space::walk) visits (vmem_walk's
/// type mask): combine with `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Segments(u8);

impl Segments {
    /// Allocated areas (including cached ones).
    pub const USED: Segments = Segments(1);
    /// Free ranges (including a space's untracked top, except under `Rfc`).
    pub const FREE: Segments = Segments(2);
    /// Freed areas awaiting a purge or drain (`unpurged vm_area`).
    pub const LAZY: Segments = Segments(4);
    /// Freed areas waiting in a size pool for a request of their size.
    pub const POOLED: Segments = Segments(8);
    /// Every segment.
    pub const ALL: Segments = Segments(15);

    /// Whether `info`'s kind is selected.
    pub fn selects(self, info: &AreaInfo) -> bool {
        let kind = if info.used {
            Self::USED
        } else if info.lazy {
            Self::LAZY
        } else if info.pooled {
            Self::POOLED
        } else {
            Self::FREE
        };
        self.0 & kind.0 != 0
    }
}

impl core::ops::BitOr for Segments {
    type Output = Segments;
    fn bitor(self, o: Segments) -> Segments {
        Segments(self.0 | o.0)
    }
}

/// What a space has done since it was made, counted as it happens:
/// reading them is O(1) (unlike [`Stats`], which walks the areas).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Counters {
    /// Allocations that succeeded.
    pub allocs: u64,
    /// Allocation requests refused (any [`Error`](crate::Error)).
    pub failures: u64,
    /// Areas freed at once (`free`, `free_handle`).
    pub frees: u64,
    /// Areas freed lazily (`free_lazy`, and drained deferred frees).
    pub lazy_frees: u64,
    /// Purges that found lazily freed areas (each calls the flush hook).
    pub purges: u64,
    /// Areas merged back by those purges.
    pub purged_areas: u64,
    /// Bytes merged back by those purges.
    pub purged_bytes: u64,
    /// Spans imported from the parent source ([`Import`](crate::Import)).
    pub imports: u64,
    /// Wholly free spans given back to it.
    pub releases: u64,
}

/// Occupancy of a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Bytes in used areas (guards included).
    pub used_bytes: usize,
    /// Bytes in free ranges (not used, lazily freed or pooled).
    pub free_bytes: usize,
    /// The largest free range in bytes.
    pub largest_free: usize,
    /// Number of used areas.
    pub used_areas: usize,
    /// Number of free ranges (for `Rfc`, the untouched top counts as one).
    pub free_ranges: usize,
    /// Bytes freed lazily and not yet purged (neither used nor free).
    pub lazy_bytes: usize,
    /// Number of lazily freed areas awaiting a purge.
    pub lazy_areas: usize,
    /// Bytes held in the size pools ([`Space::set_pools`](crate::Space::set_pools)):
    /// ready for requests of their size, not free to others until drained.
    pub pooled_bytes: usize,
    /// Number of areas in the size pools.
    pub pooled_areas: usize,
}

impl Stats {
    /// External fragmentation: 1 − largest free range ÷ free bytes (0 when
    /// all free space is one range or there is none).
    pub fn fragmentation(&self) -> f64 {
        if self.free_bytes == 0 {
            0.0
        } else {
            1.0 - self.largest_free as f64 / self.free_bytes as f64
        }
    }
}
