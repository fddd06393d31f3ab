//! The link a user embeds in each node: three words.
//!
//! ```text
//!   word 0   child[LEFT]    (null or another node's Link)
//!   word 1   child[RIGHT]
//!   word 2   parent address | (balance + 1)      balance ∈ {-1, 0, +1}
//! ```
//!
//! `Link` is 8-byte aligned on 64-bit targets (4 on 32-bit), so the two low
//! bits of a parent address are always zero and hold the balance factor,
//! encoded as `balance + 1` ∈ {0, 1, 2}. The fourth code, `3`, is never
//! stored by a linked node: a link whose parent word is exactly `UNLINKED`
//! is not in any tree. That makes `is_linked` O(1) and impossible to confuse
//! with a lone root (parent null, code 1), the role `RB_CLEAR_NODE` plays in
//! Linux.
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
    /// Parent pointer tagged with `balance + 1` in its low bits (`map_addr`,
    /// so the pointer keeps its provenance).
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
        self.balance_code() as i8 - 1
    }

    /// Raw balance code, for the validator: 3 means unlinked or corrupt.
    #[inline]
    pub(crate) fn balance_code(&self) -> usize {
        self.parent_balance.get().addr() & BALANCE_MASK
    }

    #[inline]
    pub(crate) fn set_parent_balance(&self, parent: Option<NonNull<Link>>, balance: i8) {
        debug_assert!((-1..=1).contains(&balance));
        let code = (balance + 1) as usize;
        let tagged = match parent {
            // `p` is 4-aligned, so adding the code sets the low bits.
            Some(p) => p.as_ptr().wrapping_byte_add(code),
            None => ptr::without_provenance_mut(code),
        };
        self.parent_balance.set(tagged);
    }

    #[inline]
    pub(crate) fn set_parent(&self, parent: Option<NonNull<Link>>) {
        self.set_parent_balance(parent, self.balance());
    }

    /// Balance code of a factor: `b + 1`, so −1, 0, +1 are 0, 1, 2.
    pub(crate) const BALANCED: usize = 1;

    /// The balance code a factor of `sign(dir)` has: 0 for LEFT, 2 for
    /// RIGHT.
    #[inline]
    pub(crate) fn lean_code(dir: usize) -> usize {
        2 * dir
    }

    /// Moves the balance factor one step towards side `dir`, whose current
    /// code is `code`: from balanced to leaning towards `dir`, or from
    /// leaning away from `dir` to balanced. Returns the parent.
    ///
    /// Both moves add `2·dir − 1` to the code (1 → 2·dir, or 2 − 2·dir → 1),
    /// so the word changes by one wrapping byte offset and the parent is the
    /// word less the known code: no masking, which through `map_addr`
    /// compiled to several instructions per level of the insert retrace.
    #[inline]
    pub(crate) fn tilt(&self, dir: usize, code: usize) -> Option<NonNull<Link>> {
        let word = self.parent_balance.get();
        debug_assert!(dir < 2 && code == word.addr() & BALANCE_MASK);
        debug_assert!(code == Self::BALANCED || code == Self::lean_code(1 - dir));
        self.parent_balance
            .set(word.wrapping_byte_add(2 * dir).wrapping_byte_sub(1));
        NonNull::new(word.wrapping_byte_sub(code))
    }

    #[inline]
    pub(crate) fn set_balance(&self, balance: i8) {
        debug_assert!((-1..=1).contains(&balance));
        let code = (balance + 1) as usize;
        let word = self.parent_balance.get();
        let parent = word.wrapping_byte_sub(word.addr() & BALANCE_MASK);
        self.parent_balance.set(parent.wrapping_byte_add(code));
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

/// Direction `dir` as the sign of a balance factor: LEFT → −1, RIGHT → +1.
#[inline]
pub(crate) fn sign(dir: usize) -> i8 {
    (dir as i8) * 2 - 1
}
