//! Why a unique-key insert was refused: above the cursors, since a
//! duplicate key is reported with a cursor on the node holding it (the
//! cursors' own errors, in `error.rs`, stay below them).

use crate::adapter::Adapter;
use crate::cursor::CursorMut;
use core::fmt;

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

impl<A: Adapter> core::error::Error for InsertError<'_, A> {}
