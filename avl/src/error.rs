//! Typed refusals. Every refused call leaves the tree exactly as it was and
//! hands back whatever pointer it was given.

use crate::adapter::Adapter;
use crate::cursor::CursorMut;
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

/// Why a unique-key [`insert`](crate::AvlTree::insert) was refused.
#[non_exhaustive]
pub enum InsertError<'a, A: Adapter> {
    /// The node's link is already linked.
    AlreadyLinked(A::Pointer),
    /// A node with the same key is in the tree.
    Duplicate {
        /// Cursor on the node already holding the key.
        existing: CursorMut<'a, A>,
        /// The pointer that was not inserted.
        rejected: A::Pointer,
    },
}

impl<A: Adapter> InsertError<'_, A> {
    /// The pointer that was not inserted.
    pub fn into_rejected(self) -> A::Pointer {
        match self {
            InsertError::AlreadyLinked(p) => p,
            InsertError::Duplicate { rejected, .. } => rejected,
        }
    }
}

impl<A: Adapter> fmt::Debug for InsertError<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::AlreadyLinked(_) => f.write_str("AlreadyLinked(..)"),
            InsertError::Duplicate { .. } => f.write_str("Duplicate { .. }"),
        }
    }
}

impl<A: Adapter> fmt::Display for InsertError<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::AlreadyLinked(_) => f.write_str("node is already linked into a tree"),
            InsertError::Duplicate { .. } => {
                f.write_str("a node with this key is already in the tree")
            }
        }
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
impl<A: Adapter> core::error::Error for InsertError<'_, A> {}
impl<P> core::error::Error for LinkError<P> {}
