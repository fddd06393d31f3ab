//! Typed refusals. Every refused call leaves the tree exactly as it was and
//! hands back whatever pointer it was given.

use core::fmt;

/// The node's link is already linked (in this or another tree); the pointer
/// is given back.
pub struct AlreadyLinked<P>(pub P);

impl<P> fmt::Debug for AlreadyLinked<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AlreadyLinked(..)")
    }
}

impl<P> fmt::Display for AlreadyLinked<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("node is already linked into a tree")
    }
}

/// Why a cursor operation was refused; the pointer is given back.
#[non_exhaustive]
pub enum LinkError<P> {
    /// The node's link is already linked.
    AlreadyLinked(P),
    /// The cursor is at the null position, where there is nothing to replace.
    NoCurrent(P),
}

impl<P> LinkError<P> {
    /// The pointer that was not linked.
    pub fn into_inner(self) -> P {
        match self {
            LinkError::AlreadyLinked(p) | LinkError::NoCurrent(p) => p,
        }
    }
}

impl<P> From<AlreadyLinked<P>> for LinkError<P> {
    fn from(e: AlreadyLinked<P>) -> Self {
        LinkError::AlreadyLinked(e.0)
    }
}

impl<P> fmt::Debug for LinkError<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::AlreadyLinked(_) => f.write_str("AlreadyLinked(..)"),
            LinkError::NoCurrent(_) => f.write_str("NoCurrent(..)"),
        }
    }
}

impl<P> fmt::Display for LinkError<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::AlreadyLinked(_) => f.write_str("node is already linked into a tree"),
            LinkError::NoCurrent(_) => f.write_str("cursor is at the null position"),
        }
    }
}

impl<P> core::error::Error for AlreadyLinked<P> {}
impl<P> core::error::Error for LinkError<P> {}
