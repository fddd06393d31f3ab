//! An allocation request: size, alignment, window, flags, tag, phase and
//! boundary (vmem's `vmem_xalloc` arguments), with a builder, and the
//! checks that need no space but its quantum.

use crate::area::Flags;
use crate::error::Error;

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
    /// `Flags::ALLOC`, tag 0. [`Space::request`](crate::Space::request) and
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
    pub(crate) fn check_kind(&self) -> Result<(), Error> {
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
    /// `quantum` is a power of two (every space's is).
    #[inline]
    pub(crate) fn check_fit(&self, quantum: usize, align: usize) -> Result<usize, Error> {
        debug_assert!(quantum.is_power_of_two());
        let guard = if self.flags.contains(Flags::NO_GUARD) {
            0
        } else {
            quantum
        };
        let need = align_up(self.size, quantum)
            .and_then(|s| s.checked_add(guard))
            .filter(|s| s.checked_add(align).is_some())
            .ok_or(Error::Overflow)?;
        // The common request (no phase, no boundary): nothing more to check.
        if self.phase | self.nocross == 0 {
            return Ok(need);
        }
        if self.phase >= align || self.phase & (quantum - 1) != 0 {
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

/// `x` rounded up to the power of two `a`, or None on overflow.
pub(crate) fn align_up(x: usize, a: usize) -> Option<usize> {
    Some(x.checked_add(a - 1)? & !(a - 1))
}
