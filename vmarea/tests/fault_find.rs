//! Issue 20 item 3: a lookup for page-fault handlers that never waits on
//! the space's lock. `find_fault` answers while another thread holds the
//! lock for as long as it likes (here: until the answer arrives, as a CPU
//! waiting for a shootdown that the faulting CPU must acknowledge would),
//! answers as `find` does through every kind of change, and survives the
//! shared space being moved, dissolved and dropped. On f38fe83 there is
//! no such lookup: `find` takes the lock, and the first test would wait
//! for ever.
#![cfg(all(feature = "alloc", not(loom)))]

use std::sync::mpsc;
use std::time::Duration;
use vmarea::{
    AddressIndex, AreaPool, BoxNodes, CpuCache, Error, Flags, Policy, RawSpinlock, ShardedSpace,
    SharedSpace, Space,
};

const Q: usize = 4096;
const S: usize = 0x4000_0000;

fn shared(policy: Policy) -> SharedSpace<RawSpinlock, BoxNodes> {
    SharedSpace::with_lock(
        RawSpinlock::new(),
        Space::new(S, S + 1024 * Q, Q, policy, BoxNodes).unwrap(),
    )
}

#[test]
fn a_fault_lookup_answers_while_another_thread_holds_the_space_lock() {
    let sh = shared(Policy::FirstFit);
    let a = sh.alloc(3 * Q, 0, Flags::ALLOC).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|t| {
        let guard = sh.lock();
        // The "faulting CPU": its answer is what the holder waits for.
        t.spawn(|| {
            let inside = sh.find_fault(a.addr + Q + 7);
            let guard_page = sh.find_fault(a.addr + 3 * Q);
            let outside = sh.find_fault(S + 512 * Q);
            tx.send((inside, guard_page, outside)).unwrap();
        });
        let (inside, guard_page, outside) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("find_fault waited for the space's lock");
        assert_eq!(inside.unwrap().map(|i| i.addr), Some(a.addr));
        assert_eq!(guard_page.unwrap().map(|i| i.addr), Some(a.addr));
        assert_eq!(outside, Ok(None));
        drop(guard);
    });
    sh.lock().validate().unwrap();
}

/// `find_fault` and `find` agree on every address after every step, in
/// every policy: allocations (also carved out of the middle of free
/// areas), frees by address and handle, lazy and deferred frees, purges,
/// and areas a per-CPU cache holds.
#[test]
fn the_fault_lookup_agrees_with_find_through_every_kind_of_change() {
    // Under Miri: two policies (one per kind of free index), every fourth
    // page.
    let (policies, step) = if cfg!(miri) {
        (&[Policy::FirstFit, Policy::InstantFit][..], 4)
    } else {
        (
            &[
                Policy::FirstFit,
                Policy::BestFit,
                Policy::InstantFit,
                Policy::Rfc,
            ][..],
            1,
        )
    };
    for &policy in policies {
        let sh = shared(policy);
        let agree = |sh: &SharedSpace<RawSpinlock, BoxNodes>| {
            for page in (0..80).step_by(step) {
                let addr = S + page * Q + page % 3;
                assert_eq!(
                    sh.find_fault(addr),
                    Ok(sh.find(addr)),
                    "{policy:?} at {addr:#x}"
                );
            }
            sh.lock().validate().unwrap();
        };
        let mut live = Vec::new();
        for n in 1..12 {
            live.push(sh.alloc_handle(&sh.request(n * Q)).unwrap());
            agree(&sh);
        }
        let mut kept = Vec::new();
        for (i, (a, h)) in live.into_iter().enumerate() {
            match i % 4 {
                0 => drop(sh.free(a.addr).unwrap()),
                1 => drop(sh.free_lazy(a.addr).unwrap()),
                // SAFETY: `h` names a live area of `sh`, freed only here.
                2 => unsafe { sh.free_deferred(h) },
                _ => kept.push((a, h)),
            }
            agree(&sh);
        }
        sh.purge();
        agree(&sh);
        let mut cache = CpuCache::new(&sh, Flags::ALLOC);
        let held: Vec<_> = (0..6).map(|_| cache.alloc(2 * Q).unwrap()).collect();
        agree(&sh);
        for c in held {
            assert_eq!(sh.find_fault(c.addr()), Ok(sh.find(c.addr())));
            cache.free(c).map_err(|_| "foreign").unwrap();
        }
        drop(cache);
        sh.flush_depot();
        agree(&sh);
        for (a, _) in kept {
            sh.free(a.addr).unwrap();
        }
        agree(&sh);
    }
}

/// One thread allocates and frees through the shared space while another
/// looks addresses up with `find_fault`: every answer is an area that
/// holds the address (or none). Under Miri this is the data-race and
/// aliasing check of the busy lock's scheme.
#[test]
fn fault_lookups_run_beside_allocations_and_frees() {
    let sh = shared(Policy::FirstFit);
    let rounds = if cfg!(miri) { 30 } else { 3000 };
    std::thread::scope(|t| {
        t.spawn(|| {
            let mut live = std::collections::VecDeque::new();
            for i in 0..rounds {
                live.push_back(sh.alloc((i % 5 + 1) * Q, 0, Flags::ALLOC).unwrap().addr);
                if live.len() > 8 {
                    let addr = live.pop_front().unwrap();
                    if i % 2 == 0 {
                        sh.free(addr).unwrap();
                    } else {
                        sh.free_lazy(addr).unwrap();
                    }
                }
            }
        });
        t.spawn(|| {
            for i in 0..rounds * 4 {
                let addr = S + (i * 7 % 64) * Q + i % Q;
                if let Some(hit) = sh.find_fault(addr).unwrap() {
                    assert!(hit.used && hit.addr <= addr && addr < hit.addr + hit.size);
                }
            }
        });
    });
    sh.lock().validate().unwrap();
}

/// A space with areas already in its busy tree, shared, moved (into a
/// box, out of a function), looked up, dissolved back into a plain space
/// (which still finds them) and shared and dropped again with areas live.
#[test]
fn the_busy_tree_follows_the_space_through_moves_and_back() {
    let mut space = Space::new(S, S + 64 * Q, Q, Policy::InstantFit, BoxNodes).unwrap();
    let a = space.alloc(2 * Q, 0, Flags::ALLOC).unwrap();
    let b = space.alloc(Q, 0, Flags::ALLOC).unwrap();
    let sh = SharedSpace::<RawSpinlock, _>::with_lock(RawSpinlock::new(), space);
    // Before any guard: the tree is where `find_fault` reads it already.
    assert_eq!(
        sh.find_fault(a.addr + Q).unwrap().map(|i| i.addr),
        Some(a.addr)
    );
    let moved = Box::new(sh);
    assert_eq!(
        moved.find_fault(b.addr).unwrap().map(|i| i.addr),
        Some(b.addr)
    );
    let c = moved.alloc(Q, 0, Flags::ALLOC).unwrap();
    let back = unbox(moved);
    assert_eq!(
        back.find_fault(c.addr).unwrap().map(|i| i.addr),
        Some(c.addr)
    );
    back.free(a.addr).unwrap();
    assert_eq!(back.find_fault(a.addr), Ok(None));
    let mut space = back.into_inner();
    space.validate().unwrap();
    assert_eq!(space.find(b.addr).map(|i| i.addr), Some(b.addr));
    assert_eq!(space.find(c.addr).map(|i| i.addr), Some(c.addr));
    space.free(b.addr).unwrap();
    space.validate().unwrap();
    // Shared again, moved, and dropped with an area live.
    let again = SharedSpace::<RawSpinlock, _>::with_lock(RawSpinlock::new(), space);
    let again = [again];
    assert_eq!(
        again[0].find_fault(c.addr).unwrap().map(|i| i.addr),
        Some(c.addr)
    );
    drop(again);
}

/// Moves the shared space out of its box and out of a function.
fn unbox(m: Box<SharedSpace<RawSpinlock, BoxNodes>>) -> SharedSpace<RawSpinlock, BoxNodes> {
    *m
}

/// A static shared space from `const_new`, a pool's objects: the first
/// guard moves the (empty) tree beside the lock.
#[test]
fn a_static_shared_space_answers_fault_lookups() {
    static AREAS: AreaPool<32> = AreaPool::new();
    static SH: SharedSpace<RawSpinlock, &AreaPool<32>> = SharedSpace::const_new(
        RawSpinlock::new(),
        S,
        S + 64 * Q,
        Q,
        Policy::FirstFit,
        &AREAS,
    );
    assert_eq!(SH.find_fault(S), Ok(None));
    let a = SH.alloc(Q, 0, Flags::ALLOC).unwrap();
    assert_eq!(SH.find_fault(a.addr).unwrap().map(|i| i.addr), Some(a.addr));
    SH.free(a.addr).unwrap();
    assert_eq!(SH.find_fault(a.addr), Ok(None));
}

/// Without a busy tree there is nothing to read without the lock: a typed
/// refusal, and the space is as it was.
#[test]
fn a_space_without_a_busy_tree_refuses_fault_lookups_and_changes_nothing() {
    let space = Space::with_address_index(
        S,
        S + 64 * Q,
        Q,
        Policy::InstantFit,
        AddressIndex::None,
        BoxNodes,
    )
    .unwrap();
    let sh = SharedSpace::<RawSpinlock, _>::with_lock(RawSpinlock::new(), space);
    let a = sh.alloc(Q, 0, Flags::ALLOC).unwrap();
    let before: Vec<_> = sh.lock().iter().collect();
    assert_eq!(sh.find_fault(a.addr), Err(Error::NoAddressIndex));
    assert_eq!(sh.lock().iter().collect::<Vec<_>>(), before);
    assert_eq!(sh.find(a.addr).map(|i| i.addr), Some(a.addr));
    sh.lock().validate().unwrap();
}

/// A sharded space asks the node that owns the address, under that node's
/// busy lock only: it answers while every node's space lock is held.
#[test]
fn a_sharded_space_answers_fault_lookups_with_every_node_locked() {
    let sharded: ShardedSpace<RawSpinlock, BoxNodes, 4> =
        ShardedSpace::new(core::array::from_fn(|i| {
            let start = S + i * 64 * Q;
            SharedSpace::with_lock(
                RawSpinlock::new(),
                Space::new(start, start + 64 * Q, Q, Policy::FirstFit, BoxNodes).unwrap(),
            )
        }))
        .unwrap();
    let areas: Vec<_> = (0..4)
        .map(|cpu| sharded.alloc_on(cpu, &sharded.request(Q)).unwrap().0)
        .collect();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|t| {
        let guards: Vec<_> = sharded.nodes().iter().map(|n| n.lock()).collect();
        t.spawn(|| {
            let answers: Vec<_> = areas
                .iter()
                .map(|a| sharded.find_fault(a.addr + 5))
                .collect();
            tx.send(answers).unwrap();
        });
        let answers = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("find_fault waited for a node's lock");
        for (a, got) in areas.iter().zip(answers) {
            assert_eq!(got.unwrap().map(|i| i.addr), Some(a.addr));
        }
        drop(guards);
    });
    assert_eq!(sharded.find_fault(S + 512 * Q), Ok(None));
}
