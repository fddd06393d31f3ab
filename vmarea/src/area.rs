//! The area (`vm_struct`): one object per range, used or free, in exactly one
//! index at a time.
//!
//! ```text
//!  offset  size  field
//!   0      24    node   AVL link (busy tree, or FirstFit's free tree)
//!                       ─ or ─ free-chain link (Rfc hash / InstantFit lists)
//!  24      16    list   address-sorted list of all areas
//!  40       8    addr
//!  48       8    size   bytes, guard included; top bits = USED, LAZY
//!  56       8    aux    used: flags (low 32) | caller tag (high 32)
//!                       free, FirstFit: largest free size in the subtree
//! ```
//!
//! 64 bytes on 64-bit targets, asserted below. The sharing is what keeps it
//! there: a used area is in the busy tree and needs no free-index link, a
//! free one needs no flags (as Linux's `vmap_area` shares `subtree_max_size`
//! with `vm`).

use crate::containers::list::ListLink;
use crate::sync::Word;
use core::cell::Cell;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use intrusive_avl::Link;

/// Area flags, as Linux's `VM_*` that matter to a range allocator, plus
/// eight bits free for the caller (`CALLER << 0..8`, bits 24–31).
///
/// `Debug` names the flags: `Flags(ALLOC | NO_GUARD | CALLER<<2)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u32);

impl core::fmt::Debug for Flags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const NAMED: [(Flags, &str); 5] = [
            (Flags::IOREMAP, "IOREMAP"),
            (Flags::ALLOC, "ALLOC"),
            (Flags::MAP, "MAP"),
            (Flags::USERMAP, "USERMAP"),
            (Flags::NO_GUARD, "NO_GUARD"),
        ];
        f.write_str("Flags(")?;
        let mut rest = self.0;
        let mut first = true;
        let mut sep = |f: &mut core::fmt::Formatter<'_>| {
            let s = if first { "" } else { " | " };
            first = false;
            f.write_str(s)
        };
        for (flag, name) in NAMED {
            if self.contains(flag) {
                sep(f)?;
                f.write_str(name)?;
                rest &= !flag.0;
            }
        }
        for bit in 0..8 {
            let b = Flags::CALLER.0 << bit;
            if rest & b != 0 {
                sep(f)?;
                write!(f, "CALLER<<{bit}")?;
                rest &= !b;
            }
        }
        if rest != 0 {
            sep(f)?;
            write!(f, "{rest:#x}")?;
        }
        if first {
            f.write_str("NONE")?;
        }
        f.write_str(")")
    }
}

impl Flags {
    /// No flags.
    pub const NONE: Flags = Flags(0);
    /// `VM_IOREMAP`: maps device memory.
    pub const IOREMAP: Flags = Flags(1 << 0);
    /// `VM_ALLOC`: backs a `vmalloc`.
    pub const ALLOC: Flags = Flags(1 << 1);
    /// `VM_MAP`: backs a `vmap`.
    pub const MAP: Flags = Flags(1 << 2);
    /// `VM_USERMAP`: may be mapped to user space.
    pub const USERMAP: Flags = Flags(1 << 3);
    /// `VM_NO_GUARD`: no guard quantum after the area.
    pub const NO_GUARD: Flags = Flags(1 << 6);
    /// First of the eight bits left to the caller (`CALLER << 0..8`).
    pub const CALLER: Flags = Flags(1 << 24);
    /// Bits 16–23, kept by the crate for area states (cached, deferred
    /// free). A request that sets any of them is refused with
    /// [`Error::BadFlags`](crate::Error::BadFlags).
    pub const RESERVED: Flags = Flags(0x00ff_0000);

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, o: Flags) -> Flags {
        Flags(self.0 | o.0)
    }
}

/// The AVL link or the free-chain link: never both at once. Words 0–1 are
/// rewritten by whichever index takes the area, before it reads them; word
/// 2 is only ever the AVL parent word, left "unlinked" while the area is
/// chained, so `Link::is_linked` stays truthful. This relies on `Link`'s
/// documented word layout ([`Link::PARENT_OFFSET`]), asserted below.
#[repr(C)]
pub(crate) union NodeLink {
    tree: ManuallyDrop<Link>,
    chain: ManuallyDrop<ListLink>,
}

/// `aux` bit of a used area held by a per-CPU cache or the depot (set and
/// cleared under the lock). Such an area is refused by `free(addr)` and
/// `free_lazy`: only its cache may free it.
const CACHED: u64 = 1 << 21;
/// `aux` bit of a used area whose deferred free is pending: `aux` then holds
/// the deferred stack's link, encoded by `deferred_link` so that this bit
/// is set and no flag bit is mistaken for it (see `shared.rs`).
const DEFERRED: u64 = 1 << 22;
/// The encoded link is the pointer rotated so that its three always-zero
/// low bits (areas are 8-byte aligned) land on bits 20–22, the last of which
/// is `DEFERRED`.
const LINK_ROTATION: u32 = 20;
/// `aux` bit of the area between two spans (`Space::add_span`): it is
/// marked used and lazy, so nothing merges with it, nothing finds it and no
/// purge takes it (it is on no lazy list), and this bit tells it apart.
const GAP: u64 = 1 << 23;
/// `aux` bit of an area held in one of the space's size pools (see
/// `pools.rs`): marked used and lazy like a gap, on a pool list.
const POOLED: u64 = 1 << 19;
static_assertions::const_assert!(core::mem::align_of::<Area>() >= 8);
static_assertions::const_assert!(
    CACHED & (Flags::RESERVED.0 as u64) == CACHED
        && DEFERRED & (Flags::RESERVED.0 as u64) == DEFERRED
        && GAP & (Flags::RESERVED.0 as u64) == GAP
        && POOLED & (Flags::RESERVED.0 as u64) == POOLED
);

const USED: usize = 1 << (usize::BITS - 1);
/// Lazily freed, awaiting a purge. Kept in the size word, which only the
/// lock holder writes (the deferred-free push may rewrite `aux`).
const LAZY: usize = 1 << (usize::BITS - 2);
const STATE: usize = USED | LAZY;
/// The largest span, in bytes, a [`crate::Space`] may cover: `usize::MAX / 4`
/// (sizes never reach the two state bits kept above them).
pub const MAX_SPAN: usize = usize::MAX >> 2;

/// One range of the space (`vm_struct`). Created and owned by the space;
/// callers see it through [`crate::AreaInfo`].
#[repr(C)]
pub struct Area {
    pub(crate) node: NodeLink,
    pub(crate) list: ListLink,
    pub(crate) addr: Cell<usize>,
    size_used: Cell<usize>,
    pub(crate) aux: Word,
}

// Loom's atomics carry model state and are larger than the real ones.
#[cfg(all(target_pointer_width = "64", not(loom)))]
static_assertions::const_assert!(core::mem::size_of::<Area>() <= 64);

/// Builds a fresh, free, unlinked area (shared by the `const` and the loom
/// constructor: loom's atomics cannot be built in `const`).
macro_rules! fresh_area {
    () => {
        Area {
            node: NodeLink {
                tree: ManuallyDrop::new(Link::new()),
            },
            list: ListLink::new(),
            addr: Cell::new(0),
            size_used: Cell::new(0),
            aux: Word::new(0),
        }
    };
}

impl Area {
    /// A fresh, free, unlinked area.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        fresh_area!()
    }

    /// A fresh, free, unlinked area.
    #[cfg(loom)]
    pub fn new() -> Self {
        fresh_area!()
    }

    #[inline]
    pub(crate) fn size(&self) -> usize {
        self.size_used.get() & !STATE
    }

    #[inline]
    pub(crate) fn set_size(&self, size: usize) {
        debug_assert!(size & STATE == 0);
        self.size_used.set(size | (self.size_used.get() & STATE));
    }

    #[inline]
    pub(crate) fn end(&self) -> usize {
        self.addr.get() + self.size()
    }

    #[inline]
    pub(crate) fn is_used(&self) -> bool {
        self.size_used.get() & USED != 0
    }

    /// Marks the area used with `flags` and `tag` (they share `aux` with the
    /// free tree's summary).
    #[inline]
    pub(crate) fn set_used(&self, flags: Flags, tag: u32) {
        self.size_used.set(self.size() | USED);
        self.aux.set(u64::from(flags.0) | (u64::from(tag) << 32));
    }

    #[inline]
    pub(crate) fn set_free(&self) {
        self.size_used.set(self.size());
        self.aux.set(0);
    }

    /// Flags as given by the caller (without the crate's state bits).
    #[inline]
    pub(crate) fn flags(&self) -> Flags {
        Flags(self.aux.get() as u32 & !Flags::RESERVED.0)
    }

    /// Held by a cache (only meaningful for a used area).
    #[inline]
    pub(crate) fn is_cached(&self) -> bool {
        self.is_used() && self.aux.get() & CACHED != 0
    }

    /// Marks a used area held (or no longer held) by a cache, with `flags`.
    #[inline]
    pub(crate) fn set_cached(&self, flags: Flags, cached: bool) {
        let bit = if cached { CACHED } else { 0 };
        self.aux.set(u64::from(flags.0 & !Flags::RESERVED.0) | bit);
    }

    /// A deferred free of this used area is pending.
    #[inline]
    pub(crate) fn is_deferred(&self) -> bool {
        self.is_used() && self.aux.get() & DEFERRED != 0
    }

    /// `aux` value that marks an area deferred and links it to `next` (null
    /// for the end of the stack).
    #[inline]
    pub(crate) fn deferred_link(next: *mut Area) -> u64 {
        (next.expose_provenance() as u64).rotate_left(LINK_ROTATION) | DEFERRED
    }

    /// Whether `aux` holds a `deferred_link` value.
    #[inline]
    pub(crate) fn is_deferred_link(aux: u64) -> bool {
        aux & DEFERRED != 0
    }

    /// The next area on the deferred stack, from a `deferred_link` value.
    #[inline]
    pub(crate) fn deferred_next(aux: u64) -> *mut Area {
        let addr = (aux & !DEFERRED).rotate_right(LINK_ROTATION);
        core::ptr::with_exposed_provenance_mut(addr as usize)
    }

    /// Freed lazily, awaiting a purge: still counted as occupied.
    #[inline]
    pub(crate) fn is_lazy(&self) -> bool {
        self.size_used.get() & LAZY != 0
    }

    #[inline]
    pub(crate) fn set_lazy(&self) {
        self.size_used.set(self.size_used.get() | LAZY);
    }

    /// Marks a fresh area as the range between two spans.
    #[inline]
    pub(crate) fn set_gap(&self) {
        self.size_used.set(self.size() | USED | LAZY);
        self.aux.set(GAP);
    }

    /// The range between two spans: not part of the space.
    #[inline]
    pub(crate) fn is_gap(&self) -> bool {
        self.is_lazy() && self.aux.get() & GAP != 0
    }

    /// Marks a used area as held in a size pool.
    #[inline]
    pub(crate) fn set_pooled(&self) {
        self.size_used.set(self.size() | USED | LAZY);
        self.aux.set(POOLED);
    }

    /// Held in a size pool, ready to be handed out again.
    #[inline]
    pub(crate) fn is_pooled(&self) -> bool {
        self.is_lazy() && self.aux.get() & POOLED != 0
    }

    #[inline]
    pub(crate) fn tag(&self) -> u32 {
        debug_assert!(!self.is_deferred(), "a pending deferred free has no tag");
        (self.aux.get() >> 32) as u32
    }

    /// The AVL view of `node` (offset 0 of the area).
    #[inline]
    pub(crate) fn tree_link(area: NonNull<Area>) -> NonNull<Link> {
        area.cast()
    }

    /// The free-chain view of `node` (offset 0 of the area).
    #[inline]
    pub(crate) fn chain_link(area: NonNull<Area>) -> NonNull<ListLink> {
        area.cast()
    }

    /// The area whose free-chain view is `link`.
    #[inline]
    pub(crate) fn from_chain(link: NonNull<ListLink>) -> NonNull<Area> {
        link.cast()
    }

    /// The list link of `area`, by pointer arithmetic (keeps provenance).
    #[inline]
    pub(crate) fn list_link(area: NonNull<Area>) -> NonNull<ListLink> {
        // SAFETY: the field offset lies inside the area.
        unsafe {
            area.cast::<u8>()
                .add(core::mem::offset_of!(Area, list))
                .cast()
        }
    }

    /// The area whose list link is `link`.
    ///
    /// # Safety
    /// `link` came from [`Area::list_link`].
    #[inline]
    pub(crate) unsafe fn from_list(link: NonNull<ListLink>) -> NonNull<Area> {
        // SAFETY: caller contract: stepping back by the field offset lands on
        // the area.
        unsafe {
            link.cast::<u8>()
                .sub(core::mem::offset_of!(Area, list))
                .cast()
        }
    }
}

impl Default for Area {
    fn default() -> Self {
        Area::new()
    }
}

impl core::fmt::Debug for Area {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Area")
            .field("addr", &self.addr.get())
            .field("size", &self.size())
            .field("used", &self.is_used())
            .finish()
    }
}

// `node` sits at offset 0 so both views are the area pointer itself.
static_assertions::const_assert_eq!(core::mem::offset_of!(Area, node), 0);
// The chain link overlays only the link's child words, never its parent
// word (what `Link::is_linked` reads).
static_assertions::const_assert!(core::mem::size_of::<ListLink>() <= Link::PARENT_OFFSET);
static_assertions::const_assert!(core::mem::size_of::<NodeLink>() == core::mem::size_of::<Link>());
