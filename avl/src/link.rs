//! The link a user embeds in each node: three words.
//!
//! ```text
//!   word 0   child[LEFT]    (null or another node's Link)
//!   word 1   child[RIGHT]
//!   word 2   parent address | code      code: 0 balanced, 1 leans left,
//!                                             2 leans right, 3 unlinked
//! ```
//!
//! `Link` is 8-byte aligned on 64-bit targets (4 on 32-bit), so the two low
//! bits of a parent address are always zero and hold the balance factor
//! `b = height(right) − height(left)` as a code: 0 for `b = 0`, 1 + dir for
//! a lean towards `dir` (1 for −1, 2 for +1). The fourth code, `3`, is never
//! stored by a linked node: a link whose parent word is exactly `UNLINKED`
//! is not in any tree. That makes `is_linked` O(1) and impossible to confuse
//! with a lone root (parent null, code 0: the word is 0), the role
//! `RB_CLEAR_NODE` plays in Linux.
//!
//! Balanced is code 0 so that the parent word of a balanced node *is* its
//! parent's address: the insert retrace, which climbs through balanced
//! nodes, reads the parent without masking and tests the code with one
//! `test` (`docs/benchmarks.md`).
//!
//! The fields are `Cell`s: the tree rewrites links of nodes the user still
//! holds shared references to, so the link must permit mutation through `&`.

use core::cell::Cell;
use core::fmt;
use core::ptr::{self, NonNull};

/// Index of the left child in [`Link`]'s child array (keys before the node).
pub(crate) const LEFT: usize = 0;
/// Index of the right child (keys after the node).
pub(crate) const RIGHT: usize = 1;

const BALANCE_MASK: usize = 0b11;
/// Balance code of a link that is in no tree (with a null parent).
const UNLINKED: usize = 0b11;

/// The intrusive AVL link: embed one in each struct that goes into a tree.
///
/// Three machine words. A new link is unlinked; the tree marks it linked
/// while the node is a member and unlinked again when the node leaves.
/// A link carries no lifetime or owner: which tree a linked node belongs
/// to is known only to that tree.
#[repr(C)]
pub struct Link {
    child: [Cell<Option<NonNull<Link>>>; 2],
    /// Parent pointer tagged with the balance code in its low bits (by
    /// wrapping byte offsets, so the pointer keeps its provenance).
    parent_balance: Cell<*mut Link>,
}

static_assertions::assert_eq_size!(Link, [usize; 3]);
static_assertions::const_assert_eq!(
    core::mem::offset_of!(Link, parent_balance),
    Link::PARENT_OFFSET
);
static_assertions::const_assert!(core::mem::align_of::<Link>() >= 4);

// SAFETY: a `Link` holds addresses only; moving it to another thread moves
// no data. A linked node cannot be moved out from under its tree by safe
// code (the tree owns or borrows it), so `Send` adds no new access. `Link`
// is deliberately not `Sync`: its `Cell`s are rewritten by the tree.
unsafe impl Send for Link {}

impl Link {
    /// Byte offset of the parent word, the only word
    /// [`is_linked`](Self::is_linked) reads.
    ///
    /// The word layout is a stable contract, for code that overlays its own
    /// data on a link while the node is in no tree (as `vmarea` chains a
    /// free area through the first two words): a `Link` is three `usize`
    /// words, `repr(C)`; words 0 and 1 (bytes `0..PARENT_OFFSET`) are the
    /// children, word 2 the tagged parent. An unlinked link's children are
    /// never read: inserting a node writes all three words first, and
    /// [`is_linked`](Self::is_linked) reads word 2 only. So the first two
    /// words of an unlinked link may hold anything, provided word 2 is left
    /// as [`Link::new`] or the tree's removal wrote it.
    pub const PARENT_OFFSET: usize = 2 * core::mem::size_of::<usize>();

    /// A new, unlinked link.
    pub const fn new() -> Self {
        Link {
            child: [Cell::new(None), Cell::new(None)],
            parent_balance: Cell::new(ptr::without_provenance_mut(UNLINKED)),
        }
    }

    /// Whether the node holding this link is currently in a tree. O(1).
    #[inline]
    pub fn is_linked(&self) -> bool {
        self.parent_balance.get().addr() != UNLINKED
    }

    /// Marks the link unlinked without touching any other node.
    ///
    /// # Safety
    /// The node must not be reachable from any tree any more (its tree, or
    /// a [`crate::Drain`] of it, was forgotten with `mem::forget`), or that
    /// tree would later read a link that no longer describes it.
    #[inline]
    pub unsafe fn force_unlink(&self) {
        self.mark_unlinked();
    }

    #[inline]
    pub(crate) fn mark_unlinked(&self) {
        self.child[LEFT].set(None);
        self.child[RIGHT].set(None);
        self.parent_balance
            .set(ptr::without_provenance_mut(UNLINKED));
    }

    #[inline]
    pub(crate) fn child(&self, dir: usize) -> Option<NonNull<Link>> {
        self.child[dir].get()
    }

    #[inline]
    pub(crate) fn set_child(&self, dir: usize, c: Option<NonNull<Link>>) {
        self.child[dir].set(c)
    }

    #[inline]
    pub(crate) fn parent(&self) -> Option<NonNull<Link>> {
        let word = self.parent_balance.get();
        NonNull::new(word.wrapping_byte_sub(word.addr() & BALANCE_MASK))
    }

    /// Balance factor, height(right) − height(left), in {-1, 0, +1}.
    #[inline]
    pub(crate) fn balance(&self) -> i8 {
        const FACTOR: [i8; 4] = [0, -1, 1, 0];
        FACTOR[self.balance_code()]
    }

    /// Raw balance code (see the module docs); 3 means unlinked or corrupt.
    #[inline]
    pub(crate) fn balance_code(&self) -> usize {
        self.parent_balance.get().addr() & BALANCE_MASK
    }

    /// Stores `parent` with balance code `code`.
    #[inline]
    pub(crate) fn set_parent_code(&self, parent: Option<NonNull<Link>>, code: usize) {
        debug_assert!(code < 3);
        let tagged = match parent {
            // `p` is 4-aligned, so adding the code sets the low bits.
            Some(p) => p.as_ptr().wrapping_byte_add(code),
            None => ptr::without_provenance_mut(code),
        };
        self.parent_balance.set(tagged);
    }

    #[inline]
    pub(crate) fn set_parent(&self, parent: Option<NonNull<Link>>) {
        self.set_parent_code(parent, self.balance_code());
    }

    /// The code of a balanced node.
    pub(crate) const BALANCED: usize = 0;

    /// The code of a node leaning towards `dir` (balance factor −1 towards
    /// `LEFT`, +1 towards `RIGHT`).
    #[inline]
    pub(crate) fn lean_code(dir: usize) -> usize {
        1 + dir
    }

    /// A balanced node now leans towards `dir`; returns its parent.
    ///
    /// A balanced node's parent word is its parent's address (code 0), so
    /// this is one add to the word and no masking: the step of the insert
    /// retrace, which climbs through balanced nodes.
    #[inline]
    pub(crate) fn lean_from_balanced(&self, dir: usize) -> Option<NonNull<Link>> {
        let word = self.parent_balance.get();
        debug_assert!(dir < 2 && word.addr() & BALANCE_MASK == Self::BALANCED);
        self.parent_balance
            .set(word.wrapping_byte_add(Self::lean_code(dir)));
        NonNull::new(word)
    }

    /// A node whose code is `code` is now balanced.
    #[inline]
    pub(crate) fn settle(&self, code: usize) {
        let word = self.parent_balance.get();
        debug_assert!(code == word.addr() & BALANCE_MASK && code < 3);
        self.parent_balance.set(word.wrapping_byte_sub(code));
    }
}

impl Default for Link {
    fn default() -> Self {
        Link::new()
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("linked", &self.is_linked())
            .finish()
    }
}
