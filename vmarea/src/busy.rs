//! The busy tree: used areas by address (the RFC's `vm_avl_used`), which
//! answers `free(addr)` and `find(addr)` for any address inside an area.

use crate::area::Area;
use core::ptr::NonNull;
use intrusive_avl::{Adapter, KeyAdapter, Link, UnsafeRef};

/// Used areas by address.
pub(crate) struct BusyTree;

// SAFETY: the AVL view of an area is its first field (offset 0, asserted in
// `area.rs`), so `link` and `value` are casts of the same address.
unsafe impl Adapter for BusyTree {
    type Value = Area;
    type Pointer = UnsafeRef<Area>;
    type Augment = intrusive_avl::NoAugment;
    fn link(value: NonNull<Area>) -> NonNull<Link> {
        Area::tree_link(value)
    }
    unsafe fn value(link: NonNull<Link>) -> NonNull<Area> {
        link.cast()
    }
}

impl KeyAdapter for BusyTree {
    type Key = usize;
    fn key(a: &Area) -> usize {
        a.addr.get()
    }
}
