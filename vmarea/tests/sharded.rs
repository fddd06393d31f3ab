//! Per-node sharding: routing by address, spilling to other nodes, refusals
//! that change nothing, a model over random operations, and threads on
//! different nodes freeing each other's areas.
#![cfg(all(feature = "alloc", not(loom)))]

use proptest::prelude::*;
use std::collections::BTreeMap;
use vmarea::{
    AreaInfo, BoxNodes, Error, Flags, Policy, RawSpinlock, Request, ShardedSpace, SharedSpace,
    Space,
};

const Q: usize = 4096;
const S: usize = 0x1000_0000;
const ZONE_PAGES: usize = 32;
const ZONE: usize = ZONE_PAGES * Q;

type Node = SharedSpace<RawSpinlock, BoxNodes>;

fn node(i: usize, policy: Policy) -> Node {
    let start = S + i * ZONE;
    SharedSpace::new(Space::new(start, start + ZONE, Q, policy, BoxNodes).unwrap())
}

fn sharded<const N: usize>(policy: Policy) -> ShardedSpace<RawSpinlock, BoxNodes, N> {
    ShardedSpace::new(core::array::from_fn(|i| node(i, policy))).unwrap()
}

fn snapshot<const N: usize>(s: &ShardedSpace<RawSpinlock, BoxNodes, N>) -> Vec<Vec<AreaInfo>> {
    s.nodes()
        .iter()
        .map(|n| n.lock().iter().collect())
        .collect()
}

#[test]
fn nodes_must_tile_one_range() {
    let gap = [node(0, Policy::FirstFit), node(2, Policy::FirstFit)];
    assert_eq!(ShardedSpace::new(gap).err().map(|_| ()), Some(()));
    let other_q = SharedSpace::new(
        Space::new(S + ZONE, S + 2 * ZONE, 2 * Q, Policy::FirstFit, BoxNodes).unwrap(),
    );
    assert!(ShardedSpace::new([node(0, Policy::FirstFit), other_q]).is_err());
    let empty: [Node; 0] = [];
    assert!(ShardedSpace::new(empty).is_err());
}

#[test]
fn home_node_first_then_spill_then_route_by_address() {
    let s = sharded::<4>(Policy::FirstFit);
    let req = s.request(Q).flags(Flags::ALLOC | Flags::NO_GUARD);
    for cpu in 0..8 {
        let (a, _) = s.alloc_on(cpu, &req).unwrap();
        assert_eq!(s.node_of(a.addr), Some(cpu % 4));
    }
    // Fill node 1; CPU 1 spills to node 2, then 3.
    let big = s
        .request(ZONE - 2 * Q)
        .flags(Flags::ALLOC | Flags::NO_GUARD);
    let (b, _) = s.alloc_on(1, &big).unwrap();
    assert_eq!(s.node_of(b.addr), Some(1));
    let (c, _) = s.alloc_on(1, &big).unwrap();
    assert_eq!(s.node_of(c.addr), Some(2));
    // Interior lookups and frees go to the node of the address.
    assert_eq!(s.find(c.addr + 3 * Q + 9).unwrap().addr, c.addr);
    assert_eq!(s.free(c.addr).unwrap().addr, c.addr);
    assert_eq!(s.find(c.addr), None);
    // A window inside one node is clipped there.
    let w = Request::new(Q, S + 3 * ZONE + 8 * Q, S + 3 * ZONE + 16 * Q).flags(Flags::ALLOC);
    let (d, _) = s.alloc_on(0, &w).unwrap();
    assert!(d.addr >= S + 3 * ZONE + 8 * Q && d.end() <= S + 3 * ZONE + 16 * Q);
    s.validate().unwrap();
}

#[test]
fn refusals_change_nothing() {
    let s = sharded::<2>(Policy::InstantFit);
    s.alloc_on(0, &s.request(Q).flags(Flags::ALLOC)).unwrap();
    let before = snapshot(&s);
    let (lo, hi) = s.bounds();
    for (req, want) in [
        (s.request(0), Error::ZeroSize),
        (Request::new(Q, lo - Q, hi), Error::BadRange),
        (Request::new(Q, lo, hi + Q), Error::BadRange),
        (Request::new(Q, lo + Q, lo + Q), Error::BadRange),
        (s.request(Q).align(3 * Q), Error::BadAlign),
        (s.request(Q).align(4 * ZONE), Error::BadAlign),
        (s.request(ZONE + Q).flags(Flags::NO_GUARD), Error::NoSpace),
        (s.request(usize::MAX), Error::Overflow),
    ] {
        assert_eq!(s.alloc_on(1, &req).map(|_| ()), Err(want), "{req:?}");
        assert_eq!(snapshot(&s), before, "{req:?}");
    }
    for addr in [0, lo - Q, hi, hi + Q, lo + 5 * Q] {
        assert_eq!(s.free(addr), Err(Error::NotAllocated { addr }));
        assert_eq!(s.free_lazy(addr), Err(Error::NotAllocated { addr }));
        assert_eq!(snapshot(&s), before);
    }
    assert_eq!(s.find(hi), None);
}

#[derive(Debug, Clone)]
enum Op {
    Alloc { cpu: usize, pages: usize },
    Free(usize),
    FreeLazy(usize),
    Find(usize),
    Purge,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..8, 1usize..40).prop_map(|(cpu, pages)| Op::Alloc { cpu, pages }),
        2 => (0usize..64).prop_map(Op::Free),
        1 => (0usize..64).prop_map(Op::FreeLazy),
        1 => (0usize..4 * ZONE_PAGES + 2).prop_map(Op::Find),
        1 => Just(Op::Purge),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 2 } else { 128 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every step against a model of live areas: allocations land on the
    /// home node unless it had no room (then on the first node in order
    /// that had), never overlap, never cross a zone; frees and lookups by
    /// start or interior address agree with the model; every node validates.
    #[test]
    fn sharded_matches_model(ops in proptest::collection::vec(op(), 0..120)) {
        let s = sharded::<4>(Policy::FirstFit);
        let mut live: BTreeMap<usize, usize> = BTreeMap::new();
        for op in &ops {
            match *op {
                Op::Alloc { cpu, pages } => {
                    let req = s.request(pages * Q).flags(Flags::ALLOC | Flags::NO_GUARD);
                    match s.alloc_on(cpu, &req) {
                        Ok((a, _)) => {
                            let n = s.node_of(a.addr).unwrap();
                            prop_assert_eq!(s.node_of(a.end() - 1), Some(n), "crosses a zone");
                            prop_assert!(live.range(..a.end()).next_back().is_none_or(|(&x, &sz)| x + sz <= a.addr));
                            // Nodes before it in the CPU's order had no room.
                            for k in 0..4 {
                                let i = (cpu + k) % 4;
                                if i == n { break; }
                                let biggest = s.node(i).lock().stats().largest_free;
                                prop_assert!(biggest < pages * Q, "node {} had room", i);
                            }
                            live.insert(a.addr, a.size);
                        }
                        Err(e) => {
                            prop_assert_eq!(e, Error::NoSpace);
                            for i in 0..4 {
                                prop_assert!(s.node(i).lock().stats().largest_free < pages * Q);
                            }
                        }
                    }
                }
                Op::Free(k) | Op::FreeLazy(k) => {
                    if let Some((&addr, &size)) = live.iter().nth(k % live.len().max(1)) {
                        let f = if matches!(op, Op::Free(_)) { s.free(addr) } else { s.free_lazy(addr) };
                        prop_assert_eq!(f.map(|i| (i.addr, i.size)), Ok((addr, size)));
                        live.remove(&addr);
                    }
                }
                Op::Find(page) => {
                    let addr = S + page * Q + 7;
                    let want = live.range(..=addr).next_back().filter(|(&x, &sz)| addr < x + sz);
                    prop_assert_eq!(s.find(addr).map(|i| i.addr), want.map(|(&x, _)| x));
                }
                Op::Purge => { s.purge(); }
            }
            s.validate().unwrap();
            prop_assert_eq!(s.used_count(), live.len());
        }
    }
}

/// Two threads, each allocating on its own node and freeing areas the other
/// allocated (cross-node frees), then everything is back.
#[test]
fn threads_free_each_others_areas() {
    let s = sharded::<2>(Policy::FirstFit);
    let rounds = if cfg!(miri) { 20 } else { 2_000 };
    let handoff = std::sync::Mutex::new([Vec::new(), Vec::new()]);
    std::thread::scope(|t| {
        for cpu in 0..2 {
            let (s, handoff) = (&s, &handoff);
            t.spawn(move || {
                let req = s.request(Q).flags(Flags::ALLOC);
                for r in 0..rounds {
                    // On its own node unless the other thread is slow to
                    // free and the node is full: then on the other one.
                    if let Ok((a, _)) = s.alloc_on(cpu, &req) {
                        handoff.lock().unwrap()[1 - cpu].push(a.addr);
                    }
                    if r % 2 == 1 {
                        let mine = std::mem::take(&mut handoff.lock().unwrap()[cpu]);
                        for addr in mine {
                            s.free(addr).unwrap();
                        }
                    }
                }
            });
        }
    });
    for addr in handoff.into_inner().unwrap().into_iter().flatten() {
        s.free(addr).unwrap();
    }
    s.validate().unwrap();
    assert_eq!(s.used_count(), 0);
}
