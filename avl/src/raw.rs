//! The raw core: an AVL tree of bare [`Link`]s that knows nothing of keys.
//!
//! Theory of operation (the short version; `docs/avl.md` has the long one).
//!
//! - Balance factor `b(n) = height(right) − height(left)` ∈ {−1, 0, +1},
//!   packed in the low bits of the parent word.
//! - **Insert** (`link_at`): the caller found an empty slot `(parent, dir)`
//!   by whatever search it likes; the node is linked there as a leaf and we
//!   retrace towards the root: each ancestor's factor moves towards the side
//!   that grew; reaching 0 stops the climb, reaching ±2 needs one single or
//!   double rotation, after which the subtree has its old height and the
//!   climb stops too.
//! - **Erase**: a node with two children is replaced by its in-order
//!   successor (relinked into its place, no data is copied: nodes are the
//!   user's), so the node actually cut out has at most one child. Then we
//!   retrace: a factor that becomes ±1 stops the climb (height unchanged),
//!   0 continues (height shrank), ±2 rotates and continues unless the
//!   sibling was balanced.
//! - Children are indexed by direction, so every mirror case shares code.
//! - **Augmentation**: with `H::ENABLED`, every node whose subtree changed is
//!   recomputed bottom-up: rotated pairs at the rotation, path nodes during
//!   the climb; once the climb is over, propagation continues only while a
//!   summary changes.
//! - Nothing here recurses or allocates; every loop climbs or descends one
//!   level per step, so stack use is constant.

use crate::link::{Link, LEFT, RIGHT};
use core::ptr::NonNull;

/// Recomputes augmented summaries; the tree instantiates it per adapter.
pub(crate) trait Hooks {
    /// False when there is nothing to maintain; lets the optimiser drop the
    /// propagation loops entirely.
    const ENABLED: bool;
    /// Recomputes `node`'s summary from its children; true if it changed.
    ///
    /// # Safety
    /// `node` and its children must be linked members of a live tree.
    unsafe fn recompute(node: NonNull<Link>) -> bool;
}

/// The tree head: root, cached extremes and the count.
pub(crate) struct RawTree {
    pub(crate) root: Option<NonNull<Link>>,
    pub(crate) first: Option<NonNull<Link>>,
    pub(crate) last: Option<NonNull<Link>>,
    pub(crate) len: usize,
}

/// Shorthand for reading a link through a raw pointer.
///
/// # Safety
/// `l` must point to a live `Link`.
#[inline(always)]
pub(crate) unsafe fn r<'a>(l: NonNull<Link>) -> &'a Link {
    // SAFETY: caller contract; `Link` is only ever accessed through shared
    // references (its fields are `Cell`s), so aliasing is fine.
    unsafe { l.as_ref() }
}

/// Which child of its parent `node` is.
///
/// # Safety
/// `node` and `parent` must be live, `parent` the parent of `node`.
#[inline(always)]
unsafe fn dir_in(parent: NonNull<Link>, node: NonNull<Link>) -> usize {
    // SAFETY: caller contract.
    (unsafe { r(parent) }.child(RIGHT) == Some(node)) as usize
}

/// The extreme node of the subtree at `n` in direction `dir` (leftmost for
/// LEFT).
///
/// # Safety
/// `n` must be a live linked node.
#[inline]
pub(crate) unsafe fn extreme(mut n: NonNull<Link>, dir: usize) -> NonNull<Link> {
    // SAFETY: children of live linked nodes are live linked nodes.
    while let Some(c) = unsafe { r(n) }.child(dir) {
        n = c;
    }
    n
}

/// In-order neighbour of `n` in direction `dir` (RIGHT = next, LEFT = prev).
/// O(1) amortised over a full walk.
///
/// # Safety
/// `n` must be a live linked node.
#[inline]
pub(crate) unsafe fn step(n: NonNull<Link>, dir: usize) -> Option<NonNull<Link>> {
    // SAFETY (whole body): all links reached are live members of n's tree.
    unsafe {
        if let Some(c) = r(n).child(dir) {
            return Some(extreme(c, 1 - dir));
        }
        let mut cur = n;
        while let Some(p) = r(cur).parent() {
            if r(p).child(1 - dir) == Some(cur) {
                return Some(p);
            }
            cur = p;
        }
        None
    }
}

impl RawTree {
    pub(crate) const fn new() -> Self {
        RawTree {
            root: None,
            first: None,
            last: None,
            len: 0,
        }
    }

    /// Makes `new` the child of `parent` that `old` was (or the root).
    ///
    /// # Safety
    /// `parent` must be `old`'s parent (None if `old` is the root).
    #[inline(always)]
    unsafe fn replace_child(
        &mut self,
        parent: Option<NonNull<Link>>,
        old: NonNull<Link>,
        new: Option<NonNull<Link>>,
    ) {
        match parent {
            // SAFETY: caller contract.
            Some(p) => unsafe { r(p).set_child(dir_in(p, old), new) },
            None => self.root = new,
        }
    }

    /// Restores balance at `p`, which is two levels taller on side `h`.
    /// Returns the new subtree root and whether the subtree got shorter than
    /// it was just before the rebalance.
    ///
    /// Each rotation is written out once, storing every moved node's parent
    /// together with its final balance factor in a single word. `INSERT`
    /// says the caller is the insert retrace, where the taller child always
    /// leans, so a single rotation leaves both nodes balanced. Out of line:
    /// inlined, it made every insert's climb save five callee-saved
    /// registers for a rotation that about half of them need.
    ///
    /// # Safety
    /// `p` is linked in this tree and its side `h` is two levels taller.
    #[inline(never)]
    unsafe fn rebalance<H: Hooks, const INSERT: bool>(
        &mut self,
        p: NonNull<Link>,
        h: usize,
    ) -> (NonNull<Link>, bool) {
        // `h` is 0 or 1; the mask drops the child index's bounds check.
        debug_assert!(h < 2);
        let h = h & 1;
        // SAFETY (whole body): `p` is two levels taller on side h, so
        // `p.child[h]` exists, and if that child leans the other way, its
        // child on that side exists too. All nodes touched are members.
        unsafe {
            let pl = r(p);
            let gp = pl.parent();
            let c = pl.child(h).unwrap_unchecked();
            let cl = r(c);
            let cc = cl.balance_code();
            if cc != Link::lean_code(1 - h) {
                // Single rotation (LL / RR; on erase also the balanced case):
                // c rises, p takes c's inner subtree.
                let inner = cl.child(1 - h);
                pl.set_child(h, inner);
                if let Some(i) = inner {
                    r(i).set_parent(Some(p));
                }
                cl.set_child(1 - h, Some(p));
                // After an insert the taller child always leans (it just
                // grew); only an erase can find it balanced.
                debug_assert!(!INSERT || cc == Link::lean_code(h));
                let shrunk = INSERT || cc != Link::BALANCED;
                // Balanced c (erase only): p still leans towards h, c now
                // leans back towards p.
                let (pc, ccode) = if shrunk {
                    (Link::BALANCED, Link::BALANCED)
                } else {
                    (Link::lean_code(h), Link::lean_code(1 - h))
                };
                cl.set_parent_code(gp, ccode);
                pl.set_parent_code(Some(c), pc);
                self.replace_child(gp, p, Some(c));
                if H::ENABLED {
                    H::recompute(p);
                    H::recompute(c);
                }
                (c, shrunk)
            } else {
                (self.rotate_double::<H>(p, h, c, gp), true)
            }
        }
    }

    /// The double rotation (LR / RL) of [`rebalance`](Self::rebalance): `p`
    /// is two levels taller on side `h`, its child `c` there leans the
    /// other way. Out of line, so the single rotation (as frequent after
    /// random inserts) needs no callee-saved registers. Returns the new
    /// subtree root.
    ///
    /// # Safety
    /// As for `rebalance`; `c` is `p.child[h]`, `gp` is `p`'s parent, and
    /// `c` leans away from `h`.
    #[inline(never)]
    unsafe fn rotate_double<H: Hooks>(
        &mut self,
        p: NonNull<Link>,
        h: usize,
        c: NonNull<Link>,
        gp: Option<NonNull<Link>>,
    ) -> NonNull<Link> {
        debug_assert!(h < 2);
        let h = h & 1;
        // SAFETY (whole body): `c` leans away from `h`, so its child on
        // that side, g, exists. All nodes touched are members.
        unsafe {
            let (pl, cl) = (r(p), r(c));
            // The inner grandchild g rises two levels; its subtrees go to p
            // (outer side) and c (inner).
            let g = cl.child(1 - h).unwrap_unchecked();
            let gl = r(g);
            let gc = gl.balance_code();
            let to_p = gl.child(1 - h);
            let to_c = gl.child(h);
            pl.set_child(h, to_p);
            if let Some(x) = to_p {
                r(x).set_parent(Some(p));
            }
            cl.set_child(1 - h, to_c);
            if let Some(y) = to_c {
                r(y).set_parent(Some(c));
            }
            gl.set_child(1 - h, Some(p));
            gl.set_child(h, Some(c));
            gl.set_parent_code(gp, Link::BALANCED);
            // p keeps g's outer subtree and c its inner one: whichever of
            // them lost g's taller side leans away from it.
            let p_code = if gc == Link::lean_code(h) {
                Link::lean_code(1 - h)
            } else {
                Link::BALANCED
            };
            let c_code = if gc == Link::lean_code(1 - h) {
                Link::lean_code(h)
            } else {
                Link::BALANCED
            };
            pl.set_parent_code(Some(g), p_code);
            cl.set_parent_code(Some(g), c_code);
            self.replace_child(gp, p, Some(g));
            if H::ENABLED {
                H::recompute(p);
                H::recompute(c);
                H::recompute(g);
            }
            g
        }
    }

    /// Links unlinked `node` as the `dir` child of `parent` (or as the root
    /// of an empty tree) and rebalances. O(log n), amortised O(1) rotations.
    ///
    /// # Safety
    /// `node` is live and unlinked; the slot `parent.child[dir]` is empty
    /// (`parent == None` only for an empty tree); the caller vouches that the
    /// slot is the right place in the order.
    pub(crate) unsafe fn link_at<H: Hooks>(
        &mut self,
        node: NonNull<Link>,
        parent: Option<NonNull<Link>>,
        dir: usize,
    ) {
        // SAFETY (whole body): `node` is live (caller contract), every other
        // link touched is a member of this tree.
        unsafe {
            // All three words are written before any is read: an unlinked
            // link's child words may hold a caller's overlay
            // (`Link::PARENT_OFFSET`).
            let nl = r(node);
            nl.set_child(LEFT, None);
            nl.set_child(RIGHT, None);
            nl.set_parent_code(parent, Link::BALANCED);
            self.len += 1;
            let Some(parent) = parent else {
                self.root = Some(node);
                self.first = Some(node);
                self.last = Some(node);
                if H::ENABLED {
                    H::recompute(node);
                }
                return;
            };
            // `dir` is 0 or 1 (caller contract); the mask lets the compiler
            // drop the index's bounds check and its panic path, and with it
            // the stack frame of this function.
            debug_assert!(dir < 2);
            let dir = dir & 1;
            r(parent).set_child(dir, Some(node));
            if dir == LEFT && self.first == Some(parent) {
                self.first = Some(node);
            }
            if dir == RIGHT && self.last == Some(parent) {
                self.last = Some(node);
            }
            if H::ENABLED {
                H::recompute(node);
            }
            self.retrace_insert::<H>(parent, dir);
        }
    }

    /// Climb after `parent`'s subtree on side `d` grew by one level.
    ///
    /// # Safety
    /// `parent` is linked in this tree and its `d` subtree just grew.
    unsafe fn retrace_insert<H: Hooks>(&mut self, mut p: NonNull<Link>, mut d: usize) {
        /// One level of the climb: a balanced `p` now leans towards `d` and
        /// its subtree is one taller, so the climb goes on from its parent
        /// (`Up`), or ends at the root (`Root`); any other `p` ends it with
        /// its balance code (`Stop`).
        enum Climb {
            Up(NonNull<Link>, usize),
            Root,
            Stop(usize),
        }
        // SAFETY: `p` is a member of this tree (callers below).
        let climb = |p: NonNull<Link>, d: usize| unsafe {
            let pl = r(p);
            let code = pl.balance_code();
            if code != Link::BALANCED {
                return Climb::Stop(code);
            }
            let parent = pl.lean_from_balanced(d);
            if H::ENABLED {
                H::recompute(p);
            }
            match parent {
                Some(gp) => Climb::Up(gp, dir_in(gp, p)),
                None => Climb::Root,
            }
        };
        // Two levels per turn, so the node in hand alternates between two
        // variables instead of being copied at every level.
        let code = loop {
            let (gp, gd) = match climb(p, d) {
                Climb::Up(gp, gd) => (gp, gd),
                Climb::Root => return,
                Climb::Stop(code) => break code,
            };
            match climb(gp, gd) {
                Climb::Up(g2, d2) => (p, d) = (g2, d2),
                Climb::Root => return,
                Climb::Stop(code) => {
                    (p, d) = (gp, gd);
                    break code;
                }
            }
        };
        // SAFETY (rest): `p` is a member of this tree.
        unsafe {
            if code != Link::lean_code(d) {
                // Leaned the other way: now balanced, height unchanged.
                r(p).settle(code);
                if H::ENABLED {
                    self.propagate::<H>(p);
                }
            } else {
                // Would lean by two: one rotation restores the old height.
                let (top, _) = self.rebalance::<H, true>(p, d);
                if H::ENABLED {
                    if let Some(gp) = r(top).parent() {
                        self.propagate::<H>(gp);
                    }
                }
            }
        }
    }

    /// Unlinks `node` and rebalances. O(log n).
    ///
    /// # Safety
    /// `node` must be linked in *this* tree.
    pub(crate) unsafe fn erase<H: Hooks>(&mut self, node: NonNull<Link>) {
        // SAFETY (whole body): `node` is a member of this tree, and so is
        // every link reached from it.
        unsafe {
            if self.first == Some(node) {
                self.first = step(node, RIGHT);
            }
            if self.last == Some(node) {
                self.last = step(node, LEFT);
            }
            self.len -= 1;
            let nl = r(node);
            let parent = nl.parent();
            // Where the climb starts, which of its sides lost a level, and the
            // node that took `node`'s place (summaries must be recomputed up
            // to it whether or not they change below it).
            let (start, side, successor) = match (nl.child(LEFT), nl.child(RIGHT)) {
                (Some(left), Some(right)) => {
                    let s = extreme(right, LEFT);
                    let sl = r(s);
                    let climb = if s == right {
                        (s, RIGHT)
                    } else {
                        let sp = sl.parent().unwrap_unchecked();
                        let sr = sl.child(RIGHT);
                        r(sp).set_child(LEFT, sr);
                        if let Some(x) = sr {
                            r(x).set_parent(Some(sp));
                        }
                        sl.set_child(RIGHT, Some(right));
                        r(right).set_parent(Some(s));
                        (sp, LEFT)
                    };
                    sl.set_child(LEFT, Some(left));
                    r(left).set_parent(Some(s));
                    sl.set_parent_code(parent, nl.balance_code());
                    self.replace_child(parent, node, Some(s));
                    (Some(climb.0), climb.1, Some(s))
                }
                (only, None) | (None, only) => {
                    if let Some(c) = only {
                        r(c).set_parent(parent);
                    }
                    let side = match parent {
                        Some(p) => dir_in(p, node),
                        None => LEFT,
                    };
                    self.replace_child(parent, node, only);
                    (parent, side, None)
                }
            };
            nl.mark_unlinked();
            if let Some(start) = start {
                self.retrace_erase::<H>(start, side, successor);
            }
        }
    }

    /// Climb after side `side` of `p` lost a level.
    ///
    /// # Safety
    /// `p` is linked in this tree; `floor`, if any, is an ancestor-or-self
    /// of `p` (the successor that moved up): summaries are recomputed up to
    /// its parent at least, whether or not they change on the way.
    unsafe fn retrace_erase<H: Hooks>(
        &mut self,
        mut p: NonNull<Link>,
        mut side: usize,
        mut floor: Option<NonNull<Link>>,
    ) {
        let mut shrinking = true;
        // SAFETY (whole body): every node reached is a member of this tree.
        unsafe {
            loop {
                let mut top = p;
                if shrinking {
                    // By balance code, as the insert retrace: no factor
                    // arithmetic through tables.
                    let code = r(p).balance_code();
                    if code == Link::lean_code(side) {
                        // It leaned towards the side that shrank: balanced
                        // now, and a level shorter.
                        r(p).settle(code);
                    } else if code == Link::BALANCED {
                        // Balanced: it now leans away, its height kept.
                        r(p).lean_from_balanced(1 - side);
                        shrinking = false;
                    } else {
                        let (t, shrunk) = self.rebalance::<H, false>(p, 1 - side);
                        top = t;
                        shrinking = shrunk;
                    }
                }
                if H::ENABLED {
                    let changed = H::recompute(top);
                    // "Unchanged" means something only where the stored
                    // summary described the same position before the erase:
                    // not at or below the successor, which moved up, nor at
                    // a rotated subtree's new root.
                    if !changed && !shrinking && floor.is_none() && top == p {
                        return;
                    }
                    if floor == Some(p) {
                        floor = None;
                    }
                } else if !shrinking {
                    return;
                }
                let Some(parent) = r(top).parent() else {
                    return;
                };
                side = dir_in(parent, top);
                p = parent;
            }
        }
    }

    /// Puts unlinked `new` exactly where linked `old` is; `old` leaves the
    /// tree unlinked. No comparison, no rebalance.
    ///
    /// # Safety
    /// `old` is linked in this tree, `new` is live and unlinked.
    pub(crate) unsafe fn replace<H: Hooks>(&mut self, old: NonNull<Link>, new: NonNull<Link>) {
        // SAFETY (whole body): `old` and its relatives are members of this
        // tree; `new` is live.
        unsafe {
            let ol = r(old);
            let nl = r(new);
            let parent = ol.parent();
            for d in [LEFT, RIGHT] {
                let c = ol.child(d);
                nl.set_child(d, c);
                if let Some(c) = c {
                    r(c).set_parent(Some(new));
                }
            }
            nl.set_parent_code(parent, ol.balance_code());
            self.replace_child(parent, old, Some(new));
            if self.first == Some(old) {
                self.first = Some(new);
            }
            if self.last == Some(old) {
                self.last = Some(new);
            }
            ol.mark_unlinked();
            if H::ENABLED {
                // `new` arrived with a summary of its own, unrelated to this
                // subtree: comparing against it says nothing, so recompute it
                // unconditionally and let the early stop start at the parent.
                H::recompute(new);
                if let Some(p) = parent {
                    self.propagate::<H>(p);
                }
            }
        }
    }

    /// Recomputes summaries from `node` up while they change.
    ///
    /// # Safety
    /// `node` is linked in this tree.
    pub(crate) unsafe fn propagate<H: Hooks>(&mut self, node: NonNull<Link>) {
        let mut n = node;
        // SAFETY: every node reached is a member of this tree.
        unsafe {
            while H::recompute(n) {
                match r(n).parent() {
                    Some(p) => n = p,
                    None => return,
                }
            }
        }
    }

    /// Detaches and returns one leaf of the subtree below `from` (the first
    /// in postorder), or `from` itself if it is a leaf; returns the next
    /// place to continue from. Leaves the rest a well-formed binary tree
    /// (balance factors and the head's fields are not maintained: this is
    /// the teardown path).
    ///
    /// # Safety
    /// `from` is a node of a tree being torn down.
    pub(crate) unsafe fn detach_postorder_leaf(
        from: NonNull<Link>,
    ) -> (NonNull<Link>, Option<NonNull<Link>>) {
        let mut n = from;
        // SAFETY (whole body): all nodes reached belong to the tree being
        // torn down and are live.
        unsafe {
            loop {
                let l = r(n);
                match (l.child(LEFT), l.child(RIGHT)) {
                    (Some(c), _) | (None, Some(c)) => n = c,
                    (None, None) => break,
                }
            }
            let parent = r(n).parent();
            if let Some(p) = parent {
                r(p).set_child(dir_in(p, n), None);
            }
            r(n).mark_unlinked();
            (n, parent)
        }
    }
}
