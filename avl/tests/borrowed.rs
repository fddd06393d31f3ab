//! The tree without the `alloc` feature, as a kernel uses it: members are
//! `&'a T` borrowed from storage the caller owns (an array here), or
//! `UnsafeRef<T>`. Runs under every feature set.

use intrusive_avl::{adapter, AvlTree, Link, UnsafeRef};

struct Region {
    start: u64,
    len: u64,
    link: Link,
}

impl Region {
    const fn new(start: u64, len: u64) -> Self {
        Region {
            start,
            len,
            link: Link::new(),
        }
    }
}

adapter!(ByStart<'a> = &'a Region: Region { link } key u64 = |r| r.start);
adapter!(RawByStart = UnsafeRef<Region>: Region { link } key u64 = |r| r.start);

/// 64 regions with starts in a scrambled order.
fn regions() -> [Region; 64] {
    core::array::from_fn(|i| Region::new(((i as u64 * 37) % 64) * 0x1000, 0x1000))
}

#[test]
fn borrowed_members_insert_find_remove_in_order() {
    let storage = regions();
    let twin = Region::new(0x5000, 0x1000);
    let mut tree = AvlTree::<ByStart>::new();
    for r in &storage {
        tree.insert(r).unwrap();
        tree.validate().unwrap();
    }
    assert_eq!(tree.len(), 64);
    // In address order, whatever the insertion order.
    let starts: Vec<u64> = tree.iter().map(|r| r.start).collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]));
    // The region holding an interior address.
    let hit = tree.floor(&0x2_3456).get().unwrap();
    assert_eq!(hit.start, 0x2_3000);
    assert!(0x2_3456 < hit.start + hit.len);
    // A duplicate key is refused and hands the pointer back.
    assert!(tree.insert(&twin).is_err());
    assert!(!twin.link.is_linked());
    // Remove every other region by key.
    for k in (0..64).step_by(2) {
        let r = tree.remove(&(k * 0x1000)).unwrap();
        assert!(!r.link.is_linked());
        tree.validate().unwrap();
    }
    assert_eq!(tree.len(), 32);
    assert!(tree.iter().all(|r| (r.start / 0x1000) % 2 == 1));
    // Cursor walk backwards from the end.
    let mut c = tree.back();
    let mut n = 0;
    while let Some(r) = c.get() {
        assert_eq!(r.start, (63 - 2 * n) * 0x1000);
        c.move_prev();
        n += 1;
    }
    assert_eq!(n, 32);
    tree.clear();
    assert!(storage.iter().all(|r| !r.link.is_linked()));
}

#[test]
fn unsafe_ref_members_from_a_fixed_array() {
    let storage = regions();
    let mut tree = AvlTree::<RawByStart>::new();
    for r in &storage {
        // SAFETY: `storage` outlives the tree (cleared below) and is not
        // moved while any region is linked.
        tree.insert(unsafe { UnsafeRef::from_raw(core::ptr::NonNull::from(r)) })
            .unwrap();
    }
    tree.validate().unwrap();
    assert_eq!(tree.first().unwrap().start, 0);
    assert_eq!(tree.last().unwrap().start, 63 * 0x1000);
    let range: Vec<u64> = tree.range(0x1_0000..0x1_3000).map(|r| r.start).collect();
    assert_eq!(range, [0x1_0000, 0x1_1000, 0x1_2000]);
    while let Some(r) = tree.pop_front() {
        assert!(!r.link.is_linked());
    }
    assert!(tree.is_empty());
}

#[test]
fn child_words_of_an_unlinked_link_may_hold_an_overlay() {
    // `Link::PARENT_OFFSET`: the first two words of an unlinked link are
    // free for a caller's overlay; insertion writes them before reading.
    let storage = regions();
    for r in &storage {
        let words = core::ptr::from_ref(&r.link).cast::<usize>().cast_mut();
        assert_eq!(Link::PARENT_OFFSET, 2 * core::mem::size_of::<usize>());
        // SAFETY: the link is unlinked and ours; words 0 and 1 lie before
        // PARENT_OFFSET inside it. `Link` is made of `Cell`s, so writing
        // through a pointer derived from `&Link` is allowed.
        unsafe {
            words.write(0xdead_beef);
            words.add(1).write(0xfeed_f00d);
        }
        assert!(!r.link.is_linked());
    }
    let mut tree = AvlTree::<ByStart>::new();
    for r in &storage {
        tree.insert(r).unwrap();
    }
    tree.validate().unwrap();
    assert_eq!(tree.len(), 64);
}
