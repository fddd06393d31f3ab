//! Issue 22 item 6: every public type has `Debug`, as lock_api's and
//! hashbrown's do, and printing one takes no lock it could wait on.
#![cfg(all(feature = "alloc", not(loom)))]

use vmarea::{BoxNodes, Flags, Policy, RawSpinlock, ShardedSpace, SharedSpace, Space, VmapBlocks};

const Q: usize = 4096;

fn node(i: usize) -> SharedSpace<RawSpinlock, BoxNodes> {
    let s = 0x4000_0000 + i * 256 * Q;
    SharedSpace::new(Space::new(s, s + 256 * Q, Q, Policy::FirstFit, BoxNodes).unwrap())
}

#[test]
fn the_shared_layer_prints() {
    let sh = node(0);
    let mut c = sh.cache(Flags::ALLOC);
    let a = c.alloc(Q).unwrap();
    let mut vb = VmapBlocks::new(&sh);
    let m = vb.map(Q).unwrap();
    for text in [
        format!("{sh:?}"),
        format!("{c:?}"),
        format!("{a:?}"),
        format!("{vb:?}"),
        format!("{m:?}"),
    ] {
        assert!(!text.is_empty());
    }
    // A held lock does not stop the shared space from printing.
    let g = sh.lock();
    assert!(format!("{sh:?}").contains("SharedSpace"));
    assert!(format!("{g:?}").starts_with("Guard"));
    drop(g);
    c.free(a).unwrap();
    vb.unmap(m).unwrap();
    let sharded = ShardedSpace::new([node(0), node(1)]).unwrap();
    assert!(format!("{sharded:?}").contains("ShardedSpace"));
}
