//! Typed refusals. A refused call changes nothing.

use core::fmt;

/// Why a call was refused. The space is exactly as it was before the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// `Space::new`: the quantum is not a power of two, the bounds are not
    /// quantum-aligned, the span is empty, or it is longer than
    /// `usize::MAX / 4` bytes.
    BadSpace,
    /// A zero-byte request.
    ZeroSize,
    /// Alignment not a power of two, or larger than the space.
    BadAlign,
    /// Size plus guard plus alignment overflows the address type.
    Overflow,
    /// The `[lo, hi)` window is empty or not inside the space.
    BadRange,
    /// The address is not the start of a used area (unknown, interior, or
    /// already freed).
    NotAllocated {
        /// The address given.
        addr: usize,
    },
    /// No free range satisfies the request.
    NoSpace,
    /// The node source could not supply an area object.
    NoNode,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadSpace => f.write_str("invalid space bounds or quantum"),
            Error::ZeroSize => f.write_str("zero-sized request"),
            Error::BadAlign => f.write_str("alignment is not a power of two or exceeds the space"),
            Error::Overflow => f.write_str("size and alignment overflow"),
            Error::BadRange => f.write_str("address window empty or outside the space"),
            Error::NotAllocated { addr } => write!(f, "{addr:#x} is not the start of a used area"),
            Error::NoSpace => f.write_str("no free range fits"),
            Error::NoNode => f.write_str("out of area objects"),
        }
    }
}
