//! The generic intrusive list and hash, on a node type of their own.

use super::hash::{Bucket, HashChains};
use super::list::{List, ListLink};
use std::ptr::NonNull;
use std::vec;
use std::vec::Vec;

#[repr(C)]
struct Item {
    link: ListLink, // first field: the link's address is the item's
    val: u32,
}

fn items(n: u32) -> Vec<Item> {
    (0..n)
        .map(|val| Item {
            link: ListLink::new(),
            val,
        })
        .collect()
}

/// The item's link, derived from a pointer to the whole item (not from
/// `&i.link`, whose provenance would not cover `val`).
fn l(i: &Item) -> NonNull<ListLink> {
    NonNull::from(i).cast()
}

fn val(p: NonNull<ListLink>) -> u32 {
    // SAFETY: every link in these tests is the first field of a live Item.
    unsafe { p.cast::<Item>().as_ref() }.val
}

fn vals(list: &List) -> Vec<u32> {
    list.iter().map(val).collect()
}

#[test]
fn list_add_del_splice_iterate() {
    let it = items(8);
    let mut a = List::new();
    // SAFETY (all calls below): the items outlive the lists, and each link
    // is in at most one list at a time, as the calls say.
    // SAFETY: the items outlive the list; each link is in one list at a time.
    unsafe {
        a.push_back(l(&it[1]));
        a.push_back(l(&it[2]));
        a.push_front(l(&it[0]));
        a.insert_after(l(&it[2]), l(&it[4]));
        a.insert_before(l(&it[4]), l(&it[3]));
    }
    assert_eq!(vals(&a), [0, 1, 2, 3, 4]);
    assert_eq!(a.iter().rev().map(val).collect::<Vec<_>>(), [4, 3, 2, 1, 0]);
    assert_eq!(a.len(), 5);
    a.validate().unwrap();
    // SAFETY: the items outlive the list; each link is in one list at a time.
    unsafe {
        a.remove(l(&it[0])); // head
        a.remove(l(&it[4])); // tail
        a.remove(l(&it[2])); // middle
    }
    assert_eq!(vals(&a), [1, 3]);
    a.validate().unwrap();

    let mut b = List::new();
    // SAFETY: the items outlive the list; each link is in one list at a time.
    unsafe {
        b.push_back(l(&it[5]));
        b.push_back(l(&it[6]));
    }
    a.append(&mut b);
    assert!(b.is_empty());
    assert_eq!(vals(&a), [1, 3, 5, 6]);
    a.validate().unwrap();
    let mut empty = List::new();
    empty.append(&mut a);
    assert_eq!(vals(&empty), [1, 3, 5, 6]);
    assert!(a.is_empty());
    a.validate().unwrap();

    let mut c = empty.cursor();
    assert_eq!(c.current().map(val), Some(1));
    c.move_prev();
    assert!(c.current().is_none());
    c.move_prev();
    assert_eq!(c.current().map(val), Some(6));
    c.move_next();
    assert!(c.current().is_none());
    c.move_next();
    assert_eq!(c.current().map(val), Some(1));
}

#[test]
fn links_move_between_lists() {
    let it = items(3);
    let (mut a, mut b) = (List::new(), List::new());
    // SAFETY: each link is in one list at a time; items outlive both lists.
    // SAFETY: the items outlive the list; each link is in one list at a time.
    unsafe {
        a.push_back(l(&it[0]));
        a.push_back(l(&it[1]));
        a.push_back(l(&it[2]));
        a.remove(l(&it[1]));
        b.push_back(l(&it[1]));
    }
    a.validate().unwrap();
    b.validate().unwrap();
    assert_eq!((vals(&a), vals(&b)), (vec![0, 2], vec![1]));
}

#[test]
fn hash_insert_remove_chain() {
    let it = items(10);
    let mut h = HashChains::new([Bucket::EMPTY; 4]).unwrap();
    assert_eq!(h.bucket_count(), 4);
    for i in &it {
        // SAFETY: each item is inserted once and outlives the table.
        unsafe { h.insert(i.val as usize % 4, l(i)) };
    }
    assert_eq!(h.len(), 10);
    h.validate().unwrap();
    // Head insertion: the last inserted is first.
    assert_eq!(h.chain(1).map(val).collect::<Vec<_>>(), [9, 5, 1]);
    // SAFETY: the items outlive the list; each link is in one list at a time.
    unsafe {
        h.remove(1, l(&it[5])); // middle
        h.remove(1, l(&it[9])); // head
        h.remove(1, l(&it[1])); // last
    }
    assert!(h.bucket_is_empty(1));
    assert_eq!(h.chain(1).count(), 0);
    assert_eq!(h.len(), 7);
    assert!(h.chain(99).next().is_none()); // out of range: empty, no panic
    assert!(!h.bucket_is_empty(99) || h.head(99).is_none());
    h.validate().unwrap();
}

#[test]
fn hash_refuses_empty_storage_and_takes_slices() {
    assert!(HashChains::new([Bucket::EMPTY; 0]).is_err());
    let it = items(1);
    let mut h = HashChains::new([Bucket::EMPTY; 2]).unwrap();
    // SAFETY: the item outlives the table and is in no other list.
    unsafe { h.insert(0, l(&it[0])) };
    // A caller-sized slice works the same.
    let mut store = [Bucket::EMPTY; 3];
    let h2 = HashChains::new(&mut store[..]).unwrap();
    assert_eq!(h2.bucket_count(), 3);
}
