//! `vm_map_ram`-style blocks: carving, dirty pieces, release through the
//! flush hook, refusals that change nothing.
#![cfg(all(feature = "alloc", not(loom)))]

use std::cell::RefCell;
use vmarea::{
    BoxNodes, Error, Policy, PurgeBatch, RawSpinlock, SharedSpace, Space, VmapBlocks, BLOCK_QUANTA,
    BLOCK_SLOTS, MAX_BLOCK_MAP,
};

const Q: usize = 4096;
const S: usize = 0x4000_0000;

thread_local! {
    static FLUSHED: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
}

fn record(batch: &PurgeBatch<'_>) {
    FLUSHED.with_borrow_mut(|f| f.extend(batch.ranges()));
}

fn shared(pages: usize) -> SharedSpace<RawSpinlock, BoxNodes> {
    let sh = SharedSpace::new(Space::new(S, S + pages * Q, Q, Policy::FirstFit, BoxNodes).unwrap());
    sh.lock().set_flush_hook(Some(record));
    sh
}

#[test]
fn pieces_are_carved_in_order_in_powers_of_two() {
    let sh = shared(4096);
    let mut vb = VmapBlocks::new(&sh);
    let a = vb.map(Q).unwrap();
    let b = vb.map(3 * Q).unwrap();
    let c = vb.map(5 * Q - 1).unwrap();
    assert!(a.in_block() && b.in_block() && c.in_block());
    assert_eq!(
        a.addr() % (BLOCK_QUANTA * Q),
        0,
        "blocks are aligned to their size"
    );
    assert_eq!((a.size(), b.size(), c.size()), (Q, 4 * Q, 8 * Q));
    assert_eq!((b.addr(), c.addr()), (a.addr() + Q, a.addr() + 5 * Q));
    assert_eq!(vb.blocks(), 1);
    vb.validate().unwrap();
    // The largest piece a block serves, and one past it: an area of its own.
    let big = vb.map(MAX_BLOCK_MAP * Q).unwrap();
    assert!(big.in_block() && big.size() == MAX_BLOCK_MAP * Q);
    let own = vb.map(MAX_BLOCK_MAP * Q + 1).unwrap();
    assert!(!own.in_block() && own.size() == (MAX_BLOCK_MAP + 1) * Q);
    for x in [a, b, c, big, own] {
        vb.unmap(x).unwrap();
    }
    vb.validate().unwrap();
    sh.lock().validate().unwrap();
}

#[test]
fn an_unmapped_piece_is_reused_only_after_its_block_was_flushed() {
    FLUSHED.with_borrow_mut(Vec::clear);
    let sh = shared(4096);
    sh.lock().set_lazy_threshold(usize::MAX); // purges only when asked
    let mut vb = VmapBlocks::new(&sh);
    let first = vb.map(Q).unwrap();
    let (addr, block) = (first.addr(), first.addr()..first.addr() + BLOCK_QUANTA * Q);
    vb.unmap(first).unwrap();
    // The rest of the block is carved; the dirty first quantum is skipped.
    let rest: Vec<_> = (1..BLOCK_QUANTA).map(|_| vb.map(Q).unwrap()).collect();
    assert!(rest
        .iter()
        .all(|x| x.addr() != addr && block.contains(&x.addr())));
    let next = vb.map(Q).unwrap();
    assert!(!block.contains(&next.addr()), "a full block carves no more");
    for x in rest {
        vb.unmap(x).unwrap();
    }
    // All dirty: the block went back to the space lazily, not yet flushed.
    assert_eq!(vb.blocks(), 1);
    assert!(FLUSHED.with_borrow(Vec::is_empty));
    let lazy = sh.lock().iter().find(|i| i.addr == block.start).unwrap();
    assert!(lazy.lazy, "{lazy:?}");
    assert_eq!(sh.lock().purge(), 1);
    FLUSHED.with_borrow(|f| assert_eq!(f[..], [(block.start, block.end)]));
    vb.unmap(next).unwrap();
    assert_eq!(vb.purge(), 1);
    sh.lock().purge();
    assert_eq!(sh.lock().used_count(), 0);
}

#[test]
fn only_the_blocks_free_what_they_hold() {
    let sh = shared(4096);
    let mut vb = VmapBlocks::new(&sh);
    let mut other = VmapBlocks::new(&sh);
    let piece = vb.map(Q).unwrap();
    let own = vb.map((MAX_BLOCK_MAP + 3) * Q).unwrap();
    let before: Vec<_> = sh.lock().iter().collect();
    for addr in [piece.addr(), own.addr()] {
        assert_eq!(sh.free(addr), Err(Error::Cached { addr }));
        assert_eq!(sh.lock().free_lazy(addr), Err(Error::Cached { addr }));
    }
    let piece = other.unmap(piece).unwrap_err().0;
    let own = other.unmap(own).unwrap_err().0;
    assert_eq!(
        sh.lock().iter().collect::<Vec<_>>(),
        before,
        "refusals changed nothing"
    );
    assert_eq!(vb.map(0).unwrap_err(), Error::ZeroSize);
    assert_eq!(vb.map(usize::MAX).unwrap_err(), Error::Overflow);
    assert_eq!(vb.map(usize::MAX / 2).unwrap_err(), Error::NoSpace);
    assert_eq!(sh.lock().iter().collect::<Vec<_>>(), before);
    vb.unmap(piece).unwrap();
    vb.unmap(own).unwrap();
    drop((vb, other));
    sh.lock().purge();
    assert_eq!(sh.lock().used_count(), 0);
}

#[test]
fn a_dropped_set_keeps_blocks_with_live_pieces_and_refuses_them_later() {
    let sh = shared(4096);
    let mut vb = Box::new(VmapBlocks::new(&sh));
    let live = vb.map(2 * Q).unwrap();
    let _gone = vb.map(Q).map(|x| vb.unmap(x)).unwrap();
    drop(vb);
    // The block stays held (live piece), so its range is nobody else's.
    let block = sh.find(live.addr()).unwrap();
    assert!(block.cached && block.used);
    // A new set, perhaps at the old one's address, refuses the old piece.
    let mut again = Box::new(VmapBlocks::new(&sh));
    let mine = again.map(Q).unwrap();
    assert!(mine.addr() < block.addr || mine.addr() >= block.end());
    assert!(again.unmap(live).is_err());
    again.unmap(mine).unwrap();
}

#[test]
fn every_slot_full_falls_back_to_areas_of_the_space() {
    let sh = shared(BLOCK_QUANTA * (BLOCK_SLOTS + 2));
    let mut vb = VmapBlocks::new(&sh);
    let pieces: Vec<_> = (0..BLOCK_SLOTS * 2)
        .map(|_| vb.map(MAX_BLOCK_MAP * Q).unwrap())
        .collect();
    assert_eq!(vb.blocks(), BLOCK_SLOTS);
    let spill = vb.map(Q).unwrap();
    assert!(!spill.in_block());
    vb.validate().unwrap();
    for x in pieces.into_iter().chain([spill]) {
        vb.unmap(x).unwrap();
    }
    assert_eq!(vb.blocks(), 0, "fully dirty blocks went back");
    sh.lock().validate().unwrap();
}
