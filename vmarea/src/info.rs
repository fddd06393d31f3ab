//! What callers see of an area, and of the whole space.

use crate::area::{Area, Flags};

/// A snapshot of one area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AreaInfo {
    /// First byte.
    pub addr: usize,
    /// Length in bytes, guard quantum included (as `/proc/vmallocinfo`).
    pub size: usize,
    /// Whether the area is allocated (false for a lazily freed one).
    pub used: bool,
    /// Freed lazily and awaiting a purge: not allocatable yet.
    pub lazy: bool,
    /// Flags given at allocation (none for a free area).
    pub flags: Flags,
    /// Caller tag given at allocation (0 for a free area).
    pub tag: u32,
}

impl AreaInfo {
    pub(crate) fn of(a: &Area) -> Self {
        AreaInfo {
            addr: a.addr.get(),
            size: a.size(),
            used: a.is_used() && !a.is_lazy(),
            lazy: a.is_lazy(),
            flags: if a.is_used() { a.flags() } else { Flags::NONE },
            tag: if a.is_used() { a.tag() } else { 0 },
        }
    }

    /// One past the last byte.
    pub fn end(&self) -> usize {
        self.addr + self.size
    }

    /// Usable bytes: the size less the guard quantum, if the area has one.
    pub fn usable(&self, quantum: usize) -> usize {
        if self.flags.contains(Flags::NO_GUARD) {
            self.size
        } else {
            self.size - quantum
        }
    }
}

/// Occupancy of a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Bytes in used areas (guards included).
    pub used_bytes: usize,
    /// Bytes not in used areas.
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
