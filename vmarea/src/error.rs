//! Typed refusals, and what a refusal may still have done (see [`Error`]).

use core::fmt;

/// Why a call was refused. After a refusal every area and its state are as
/// before, except for exactly these, which no later call can observe but
/// through `stats().lazy_*` and the flush hook:
/// - `NoSpace` with lazily freed areas pending: they were purged (the flush
///   hook saw them) before the retry that failed, as Linux does; through a
///   `SharedSpace`, the depot's cached areas were also returned to the space;
/// - a refused allocation may keep the area objects it reserved (at most
///   two) as the space's spares, and may have made a fresh space's first
///   free area (`iter()` lists that range as free either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
    /// The request sets flags in [`Flags::RESERVED`](crate::Flags::RESERVED).
    BadFlags,
    /// The address is not the start of a used area (unknown, interior, or
    /// already freed, including a pending lazy or deferred free).
    NotAllocated {
        /// The address given.
        addr: usize,
    },
    /// The area at this address is held by a per-CPU cache or the depot
    /// (or was handed out by a cache): only the cache may free it.
    Cached {
        /// The address given.
        addr: usize,
    },
    /// No free range satisfies the request.
    NoSpace,
    /// The node source could not supply an area object.
    NoNode,
    /// [`CpuCache::alloc`](crate::CpuCache::alloc) of a size no cache class
    /// holds (above [`CACHE_CLASSES`](crate::CACHE_CLASSES) quanta with the
    /// guard): allocate it from the shared space instead.
    NotCacheable {
        /// The size asked for.
        size: usize,
    },
    /// [`SharedSpace::find_fault`](crate::SharedSpace::find_fault) on a
    /// space made with [`AddressIndex::None`](crate::AddressIndex::None):
    /// it has no busy tree to read without the space's lock.
    NoAddressIndex,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadSpace => f.write_str("invalid space bounds or quantum"),
            Error::ZeroSize => f.write_str("zero-sized request"),
            Error::BadAlign => f.write_str("alignment is not a power of two or exceeds the space"),
            Error::Overflow => f.write_str("size and alignment overflow"),
            Error::BadRange => f.write_str("address window empty or outside the space"),
            Error::BadFlags => f.write_str("request sets flags reserved by the crate"),
            Error::NotAllocated { addr } => write!(f, "{addr:#x} is not the start of a used area"),
            Error::Cached { addr } => {
                write!(f, "{addr:#x} is held by a cache; free it through the cache")
            }
            Error::NoSpace => f.write_str("no free range fits"),
            Error::NoNode => f.write_str("out of area objects"),
            Error::NotCacheable { size } => write!(
                f,
                "{size} bytes is above the per-CPU caches' classes; allocate from the shared space"
            ),
            Error::NoAddressIndex => {
                f.write_str("the space keeps no busy tree (AddressIndex::None): use find")
            }
        }
    }
}

impl core::error::Error for Error {}

/// The invariant [`Space::validate`](crate::Space::validate) found broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidateError {
    /// The address-sorted list of all areas is not a well-formed list.
    AddressList,
    /// The list of lazily freed areas is not a well-formed list.
    LazyList,
    /// The busy tree fails its own validation.
    BusyTree(intrusive_avl::ValidateError),
    /// The free tree (`FirstFit`) fails its own validation.
    FreeTree(intrusive_avl::ValidateError),
    /// The free lists or hash chains are not well-formed.
    FreeChains,
    /// The bitmap of non-empty free lists disagrees with the lists.
    FreeBitmap,
    /// The area does not start where the previous one ends.
    Gap {
        /// Start of the offending area.
        addr: usize,
    },
    /// The area is empty or not quantum-aligned.
    Misaligned {
        /// Start of the offending area.
        addr: usize,
    },
    /// The area reaches past the end (or, under `Rfc`, the top).
    PastTop {
        /// Start of the offending area.
        addr: usize,
    },
    /// A used area is not in the busy tree, or a freed one still is.
    BusyMembership {
        /// Start of the offending area.
        addr: usize,
    },
    /// Two free areas are adjacent (a free did not merge).
    Unmerged {
        /// Start of the second one.
        addr: usize,
    },
    /// A used area is in the free index, or a free one in the wrong list.
    FreeMembership {
        /// Start of the offending area.
        addr: usize,
    },
    /// The areas do not reach the top, or the top is misplaced.
    Top,
    /// A count or byte total kept by the space disagrees with its areas.
    Counts,
}

impl fmt::Display for ValidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidateError::AddressList => f.write_str("address list links broken"),
            ValidateError::LazyList => f.write_str("lazy list links broken"),
            ValidateError::BusyTree(e) => write!(f, "busy tree invalid: {e}"),
            ValidateError::FreeTree(e) => write!(f, "free tree invalid: {e}"),
            ValidateError::FreeChains => f.write_str("free lists or hash chains broken"),
            ValidateError::FreeBitmap => f.write_str("non-empty bitmap disagrees with the lists"),
            ValidateError::Gap { addr } => {
                write!(f, "area {addr:#x} does not follow its predecessor")
            }
            ValidateError::Misaligned { addr } => {
                write!(f, "area {addr:#x} empty or not quantum-aligned")
            }
            ValidateError::PastTop { addr } => write!(f, "area {addr:#x} reaches past the top"),
            ValidateError::BusyMembership { addr } => {
                write!(
                    f,
                    "area {addr:#x} in the busy tree disagrees with its state"
                )
            }
            ValidateError::Unmerged { addr } => {
                write!(f, "free area {addr:#x} follows a free area")
            }
            ValidateError::FreeMembership { addr } => {
                write!(
                    f,
                    "area {addr:#x} in the free index disagrees with its state"
                )
            }
            ValidateError::Top => {
                f.write_str("areas do not reach the top, or the top is misplaced")
            }
            ValidateError::Counts => f.write_str("kept counts disagree with the areas"),
        }
    }
}

impl core::error::Error for ValidateError {}
