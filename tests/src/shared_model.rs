//! The model executor for the whole safe surface of the shared layer,
//! shared by the proptest suite (`tests/tests/shared_model.rs`) and the fuzz
//! target `shared_ops`: a `SharedSpace` over a small `PoolNodes` (so
//! `NoNode` happens) or `BoxNodes`, two per-CPU caches with different
//! flags, guards, deferred frees (also while the lock is held), lazy frees
//! purged through a flush hook, depot flushes, `vm_map_ram`-style
//! mappings from two CPUs' `VmapBlocks`, requests up to `usize::MAX`, and
//! every owner type moved (through a `Box` and back, or swapped) and
//! reassigned: caches, blocks (whose dropped instance's mappings must then
//! be refused by every other), and the space itself (unshared, moved and
//! shared again). After every step: `validate()`, every area the model
//! holds is found as it was handed out, no allocation overlaps anything
//! held or lazily freed (or unmapped from a block) and not yet flushed,
//! every block is consistent, and refusals changed nothing.
#![allow(dead_code)]

use std::cell::RefCell;
use vmarea::{
    Area, AreaInfo, BoxNodes, Cached, CpuCache, Error, Flags, Handle, MappedRam, NodeSource,
    Policy, PoolNodes, PurgeBatch, RawSpinlock, Request, SharedSpace, Space, VmapBlocks,
};

pub const Q: usize = 4096;
pub const START: usize = 0x10_0000;
pub const PAGES: usize = 256;
pub const END: usize = START + PAGES * Q;

/// One operation on the shared surface.
#[derive(Debug, Clone)]
pub enum SOp {
    /// `size` bytes (raw: zero, huge and `usize::MAX` included), aligned to
    /// `align` (raw), with or without a guard, in an optional page window.
    Alloc {
        size: usize,
        align: usize,
        guard: bool,
        window: Option<(usize, usize)>,
    },
    /// Through cache `cache` (0 or 1), `size` raw bytes.
    CacheAlloc {
        cache: usize,
        size: usize,
    },
    /// The n-th cached allocation back to cache `cache` (either: the other
    /// one has other flags, so it goes to the space).
    CacheFree {
        cache: usize,
        n: usize,
    },
    /// The n-th cached allocation's address to `SharedSpace::free`: refused.
    FreeCachedByAddr(usize),
    /// The n-th direct allocation freed by address.
    Free(usize),
    /// ... lazily, through a guard.
    FreeLazy(usize),
    /// ... deferred (`free_deferred`), optionally while a guard is held,
    /// then checked through that guard.
    FreeDeferred {
        n: usize,
        under_lock: bool,
    },
    /// An arbitrary page address freed (unknown, interior, cached, ...).
    FreeAddr(usize),
    Find(usize),
    Drain,
    Purge,
    FlushCache(usize),
    FlushDepot,
    /// `vm_map_ram` of `size` raw bytes on CPU `cpu` (0 or 1).
    Map {
        cpu: usize,
        size: usize,
    },
    /// The n-th mapping unmapped through CPU `cpu`'s blocks (refused,
    /// unchanged, if the other CPU mapped it; then unmapped there).
    Unmap {
        cpu: usize,
        n: usize,
    },
    /// The n-th mapping's address to `SharedSpace::free`: refused.
    FreeMappedByAddr(usize),
    /// `purge_fragmented_blocks` on CPU `cpu`.
    PurgeBlocks(usize),
    /// `SharedSpace::add_span` of `pages` pages, `gap` pages above (or
    /// below) the space's current bounds (raw: empty, overlapping and
    /// overflowing spans included).
    AddSpan {
        below: bool,
        gap: usize,
        pages: usize,
    },
    /// CPU `cpu`'s blocks moved to the heap and back, or the two CPUs'
    /// blocks swapped: each instance keeps unmapping its own mappings.
    MoveBlocks {
        cpu: usize,
        swap: bool,
    },
    /// CPU `cpu`'s blocks replaced by a new instance over the same space:
    /// the old one's mappings are refused by both instances from then on,
    /// unchanged (they stay mapped for good).
    ReassignBlocks(usize),
    /// Cache `cache` moved to the heap and back, or the two swapped.
    MoveCache {
        cache: usize,
        swap: bool,
    },
    /// Cache `cache` replaced by a new one with its flags (the old one
    /// flushes as it drops).
    ReassignCache(usize),
    /// Every cached area and mapping given back, the space unshared
    /// (`into_inner`), moved through a `Box`, and shared again; direct
    /// allocations and their handles carry over.
    Reshare,
}

thread_local! {
    /// Lazily freed ranges the flush hook has not seen yet.
    static UNFLUSHED: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
}

fn flush_hook(batch: &PurgeBatch<'_>) {
    UNFLUSHED.with_borrow_mut(|u| {
        for (s, e) in batch.ranges() {
            // Pieces unmapped from a block are flushed with their block.
            u.retain(|&(a, b)| !(s <= a && b <= e));
        }
    });
}

fn overlaps_unflushed(addr: usize, size: usize) -> bool {
    UNFLUSHED.with_borrow(|u| u.iter().any(|&(s, e)| addr < e && s < addr + size))
}

/// What outlives one sharing of the space (see `SOp::Reshare`).
struct Lasting {
    /// Direct allocations: (addr, size, flags, handle).
    direct: Vec<(usize, usize, Flags, Handle)>,
    /// Mappings of a dropped `VmapBlocks` instance: mapped for good.
    orphans: Vec<(usize, usize)>,
    /// Bytes of the spans added.
    span_bytes: usize,
}

struct Model<'a> {
    lasting: Lasting,
    /// Cached allocations handed out, with the flags they were served with.
    cached: Vec<(Flags, Cached<'a>)>,
    /// `vm_map_ram` mappings, with the CPU whose blocks served them.
    mapped: Vec<(usize, MappedRam<'a>)>,
    /// The flags of the cache in each slot (swaps move them).
    cache_flags: [Flags; 2],
}

impl Model<'_> {
    fn held(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.lasting
            .direct
            .iter()
            .map(|&(a, s, ..)| (a, s))
            .chain(self.lasting.orphans.iter().copied())
            .chain(self.cached.iter().map(|(_, c)| (c.addr(), c.size())))
            .chain(self.mapped.iter().map(|(_, x)| (x.addr(), x.size())))
    }

    fn overlaps_held(&self, addr: usize, size: usize) -> bool {
        self.held().any(|(a, s)| addr < a + s && a < addr + size)
    }
}

fn snapshot<S: NodeSource>(sh: &SharedSpace<RawSpinlock, S>) -> Vec<AreaInfo> {
    sh.lock().iter().collect()
}

/// Runs `ops` on a space of `policy` over a pool of `pool` area objects
/// (`None`: boxes).
pub fn run_shared(policy: Policy, pool: Option<usize>, ops: &[SOp]) {
    match pool {
        Some(n) => {
            let mut slots: Vec<Area> = (0..n).map(|_| Area::new()).collect();
            run_on(policy, PoolNodes::new(&mut slots), ops);
        }
        None => run_on(policy, BoxNodes, ops),
    }
}

fn run_on<S: NodeSource + Send + Sync>(policy: Policy, source: S, ops: &[SOp]) {
    UNFLUSHED.with_borrow_mut(Vec::clear);
    let mut space = Space::new(START, END, Q, policy, source).unwrap();
    space.set_flush_hook(Some(flush_hook));
    space.set_lazy_threshold(16 * Q);
    let mut lasting = Lasting {
        direct: Vec::new(),
        orphans: Vec::new(),
        span_bytes: 0,
    };
    // Each `Reshare` ends one sharing of the space and starts the next.
    for epoch in ops.split(|op| matches!(op, SOp::Reshare)) {
        let sh: SharedSpace<RawSpinlock, S> = SharedSpace::new(space);
        lasting = run_shared_epoch(policy, &sh, lasting, epoch);
        // Unshared, moved through the heap, and shared again next round.
        let boxed = Box::new(sh.into_inner());
        boxed.validate().unwrap();
        space = *boxed;
    }
    // Everything comes back, and the space is whole again but for what
    // dropped `VmapBlocks` instances keep mapped for good.
    for &(a, ..) in &lasting.direct {
        space.free(a).unwrap();
    }
    space.purge();
    space.validate().unwrap();
    let st = space.stats();
    let kept: Vec<AreaInfo> = space.used().collect();
    for k in &kept {
        assert!(
            k.cached
                && lasting
                    .orphans
                    .iter()
                    .any(|&(a, s)| k.addr <= a && a + s <= k.end()),
            "{k:?} is held by nothing"
        );
    }
    let kept_bytes: usize = kept.iter().map(|k| k.size).sum();
    assert_eq!(
        (st.lazy_areas, st.free_bytes + kept_bytes),
        (0, END - START + lasting.span_bytes)
    );
    if lasting.span_bytes == 0 && kept.is_empty() {
        assert_eq!(st.largest_free, END - START);
    }
    UNFLUSHED.with_borrow(|u| {
        for &(a, b) in u {
            assert!(
                kept.iter().any(|k| k.addr <= a && b <= k.end()),
                "lazy range {a:#x}..{b:#x} never flushed"
            );
        }
    });
}

/// One sharing of the space: caches and blocks over `sh`, the ops, then
/// every cached area and live mapping given back.
fn run_shared_epoch<S: NodeSource + Send + Sync>(
    policy: Policy,
    sh: &SharedSpace<RawSpinlock, S>,
    lasting: Lasting,
    ops: &[SOp],
) -> Lasting {
    let flags = [Flags::ALLOC, Flags::MAP | Flags::NO_GUARD];
    let mut caches: [CpuCache<'_, RawSpinlock, S>; 2] =
        [CpuCache::new(sh, flags[0]), CpuCache::new(sh, flags[1])];
    let mut blocks = [VmapBlocks::new(sh), VmapBlocks::new(sh)];
    let mut m = Model {
        lasting,
        cached: Vec::new(),
        mapped: Vec::new(),
        cache_flags: flags,
    };
    for op in ops {
        step(sh, &mut caches, &mut blocks, &mut m, op);
        for b in &blocks {
            b.validate()
                .unwrap_or_else(|e| panic!("{policy:?} after {op:?}: {e}"));
        }
        let g = sh.lock();
        g.validate()
            .unwrap_or_else(|e| panic!("{policy:?} after {op:?}: {e}"));
        for &(a, s, f, _) in &m.lasting.direct {
            let i = g.find(a + s / 2).expect("a held area is found");
            assert_eq!((i.addr, i.size, i.flags, i.cached), (a, s, f, false));
        }
        for (f, x) in &m.cached {
            let i = g.find(x.addr()).expect("a cached area is found");
            assert!(i.cached && i.used, "{i:?}");
            assert_eq!((i.size, i.flags), (x.size(), *f));
        }
        for (_, x) in &m.mapped {
            let i = g.find(x.addr()).expect("a mapping is found");
            assert!(i.cached && i.used && i.flags == Flags::MAP, "{i:?}");
            assert!(i.addr <= x.addr() && x.addr() + x.size() <= i.end());
        }
        for &(a, s) in &m.lasting.orphans {
            let i = g.find(a).expect("an orphaned mapping stays allocated");
            assert!(i.cached && i.addr <= a && a + s <= i.end(), "{i:?}");
        }
        let direct_in_space = g.used().filter(|i| !i.cached).count();
        assert_eq!(direct_in_space, m.lasting.direct.len(), "after {op:?}");
    }
    let slot_of = |f: Flags, cf: &[Flags; 2]| usize::from(cf[1] == f);
    for (f, x) in m.cached.drain(..) {
        caches[slot_of(f, &m.cache_flags)].free(x).unwrap();
    }
    drop(caches);
    for (c, x) in m.mapped.drain(..) {
        blocks[c].unmap(x).unwrap();
    }
    drop(blocks);
    sh.flush_depot();
    m.lasting
}

fn step<'a, S: NodeSource + Send + Sync>(
    sh: &'a SharedSpace<RawSpinlock, S>,
    caches: &mut [CpuCache<'a, RawSpinlock, S>; 2],
    blocks: &mut [VmapBlocks<'a, RawSpinlock, S>; 2],
    m: &mut Model<'a>,
    op: &SOp,
) {
    match op.clone() {
        SOp::Alloc {
            size,
            align,
            guard,
            window,
        } => {
            let flags = if guard {
                Flags::ALLOC
            } else {
                Flags::ALLOC | Flags::NO_GUARD
            };
            // Anywhere: the bounds as published (spans included).
            let (lo, hi) = window.map_or(sh.bounds(), |(l, h)| {
                (
                    START.wrapping_add(l.wrapping_mul(Q)),
                    START.wrapping_add(h.wrapping_mul(Q)),
                )
            });
            let req = Request {
                size,
                align,
                flags,
                tag: 3,
                lo,
                hi,
                phase: 0,
                nocross: 0,
            };
            let before = snapshot(sh);
            let lazy_pending = before.iter().any(|i| i.lazy);
            match sh.alloc_handle(&req) {
                Ok((a, h)) => {
                    assert!(a.addr >= lo && a.end() <= hi && a.size >= size);
                    assert!(
                        !m.overlaps_held(a.addr, a.size),
                        "{a:?} overlaps a held area"
                    );
                    assert!(
                        !overlaps_unflushed(a.addr, a.size),
                        "{a:?} reused unflushed"
                    );
                    assert!(align <= Q || a.addr % align == 0);
                    m.lasting.direct.push((a.addr, a.size, flags, h));
                }
                Err(Error::NoSpace) if lazy_pending => {} // purged first: documented
                Err(Error::NoSpace | Error::NoNode) => {
                    // The depot may have been flushed back to the space.
                    let now: Vec<AreaInfo> = snapshot(sh);
                    let held_before = before.iter().filter(|i| i.used && !i.cached).count();
                    assert_eq!(
                        now.iter().filter(|i| i.used && !i.cached).count(),
                        held_before
                    );
                }
                Err(_) => assert_eq!(snapshot(sh), before, "refused {op:?} changed the space"),
            }
        }
        SOp::CacheAlloc { cache, size } => {
            let c = cache % 2;
            if let Ok(x) = caches[c].alloc(size) {
                assert!(!m.overlaps_held(x.addr(), x.size()), "cached area overlaps");
                assert!(
                    !overlaps_unflushed(x.addr(), x.size()),
                    "cached area unflushed"
                );
                m.cached.push((m.cache_flags[c], x));
            }
        }
        SOp::CacheFree { cache, n } => {
            if !m.cached.is_empty() {
                let (_, x) = m.cached.swap_remove(n % m.cached.len());
                // Issue 20: a freed cached area is reused only after a
                // flush covered it, like any other free.
                UNFLUSHED.with_borrow_mut(|u| u.push((x.addr(), x.addr() + x.size())));
                caches[cache % 2].free(x).unwrap();
            }
        }
        SOp::FreeCachedByAddr(n) => {
            if let Some((_, x)) = m.cached.get(n % m.cached.len().max(1)) {
                let before = snapshot(sh);
                let addr = x.addr();
                assert_eq!(sh.free(addr), Err(Error::Cached { addr }));
                assert_eq!(sh.lock().free_lazy(addr), Err(Error::Cached { addr }));
                assert_eq!(snapshot(sh), before);
            }
        }
        SOp::Free(n) => {
            if !m.lasting.direct.is_empty() {
                let (a, s, ..) = m.lasting.direct.swap_remove(n % m.lasting.direct.len());
                assert_eq!(sh.free(a).map(|i| (i.addr, i.size)), Ok((a, s)));
            }
        }
        SOp::FreeLazy(n) => {
            if !m.lasting.direct.is_empty() {
                let (a, s, ..) = m.lasting.direct.swap_remove(n % m.lasting.direct.len());
                UNFLUSHED.with_borrow_mut(|u| u.push((a, a + s)));
                assert_eq!(sh.lock().free_lazy(a).map(|i| i.addr), Ok(a));
            }
        }
        SOp::FreeDeferred { n, under_lock } => {
            if !m.lasting.direct.is_empty() {
                let (a, size, _, h) = m.lasting.direct.swap_remove(n % m.lasting.direct.len());
                // A deferred free is a vfree: reused only after a flush.
                UNFLUSHED.with_borrow_mut(|u| u.push((a, a + size)));
                if under_lock {
                    let mut g = sh.lock();
                    // SAFETY: the model frees each area once: `h` is live.
                    unsafe { sh.free_deferred(h) };
                    assert_eq!(g.find(a), None);
                    assert_eq!(g.free(a), Err(Error::NotAllocated { addr: a }));
                } else {
                    // SAFETY: as above.
                    unsafe { sh.free_deferred(h) };
                }
            }
        }
        SOp::FreeAddr(page) => {
            let addr = START.wrapping_add(page.wrapping_mul(Q));
            let before = snapshot(sh);
            match sh.free(addr) {
                Ok(f) => {
                    let i = m
                        .lasting
                        .direct
                        .iter()
                        .position(|d| d.0 == addr)
                        .expect("freed a held area");
                    assert_eq!(m.lasting.direct.swap_remove(i).1, f.size);
                }
                Err(e) => {
                    assert!(!m.lasting.direct.iter().any(|d| d.0 == addr));
                    assert!(matches!(
                        e,
                        Error::NotAllocated { .. } | Error::Cached { .. }
                    ));
                    assert_eq!(snapshot(sh), before, "refused free changed the space");
                }
            }
        }
        SOp::Find(page) => {
            let addr = START.wrapping_add(page.wrapping_mul(Q)).wrapping_add(5);
            // The fault path's lookup (busy lock only) first: `find` drains
            // pending deferred frees, which `find_fault` already skips.
            let fault = sh.find_fault(addr);
            let found = sh.find(addr);
            assert_eq!(
                fault,
                Ok(found),
                "find_fault and find disagree at {addr:#x}"
            );
            if let Some(i) = found {
                assert!(i.addr <= addr && addr < i.end() && i.used);
            }
        }
        SOp::Drain => {
            sh.drain();
        }
        SOp::Purge => {
            sh.lock().purge();
        }
        SOp::FlushCache(c) => {
            caches[c % 2].flush();
        }
        SOp::FlushDepot => {
            sh.flush_depot();
        }
        SOp::Map { cpu, size } => {
            let c = cpu % 2;
            let held = blocks[c].blocks();
            match blocks[c].map(size) {
                Ok(x) => {
                    let (lo, hi) = sh.bounds();
                    assert!(x.size() >= size && x.addr() >= lo && x.addr() + x.size() <= hi);
                    assert!(!m.overlaps_held(x.addr(), x.size()), "mapping overlaps");
                    assert!(
                        !overlaps_unflushed(x.addr(), x.size()),
                        "{x:?} reuses a range not yet flushed"
                    );
                    if x.in_block() {
                        assert!(x.size().is_power_of_two());
                    }
                    m.mapped.push((c, x));
                }
                Err(e) => {
                    assert!(matches!(
                        e,
                        Error::ZeroSize | Error::Overflow | Error::NoSpace | Error::NoNode
                    ));
                    assert_eq!(blocks[c].blocks(), held, "a refused map kept a block");
                }
            }
        }
        SOp::Unmap { cpu, n } => {
            if !m.mapped.is_empty() {
                let (owner, x) = m.mapped.swap_remove(n % m.mapped.len());
                let range = (x.addr(), x.addr() + x.size());
                let x = if cpu % 2 != owner {
                    let before = snapshot(sh);
                    let back = blocks[cpu % 2].unmap(x).expect_err("another CPU's mapping");
                    assert_eq!(snapshot(sh), before, "a refused unmap changed the space");
                    back.0
                } else {
                    x
                };
                UNFLUSHED.with_borrow_mut(|u| u.push(range));
                blocks[owner].unmap(x).unwrap();
            }
        }
        SOp::FreeMappedByAddr(n) => {
            if let Some((_, x)) = m.mapped.get(n % m.mapped.len().max(1)) {
                let before = snapshot(sh);
                let addr = x.addr();
                if sh.find(addr).is_some_and(|i| i.addr == addr) {
                    assert_eq!(sh.free(addr), Err(Error::Cached { addr }));
                } else {
                    assert_eq!(sh.free(addr), Err(Error::NotAllocated { addr }));
                }
                assert_eq!(snapshot(sh), before);
            }
        }
        SOp::PurgeBlocks(cpu) => {
            blocks[cpu % 2].purge();
        }
        SOp::MoveBlocks { cpu, swap } => {
            let c = cpu % 2;
            if swap {
                blocks.swap(0, 1);
                for (owner, _) in &mut m.mapped {
                    *owner = 1 - *owner;
                }
            } else {
                let moved = Box::new(std::mem::replace(&mut blocks[c], VmapBlocks::new(sh)));
                blocks[c] = *moved;
            }
        }
        SOp::ReassignBlocks(cpu) => {
            let c = cpu % 2;
            blocks[c] = VmapBlocks::new(sh);
            let (orphans, kept): (Vec<_>, Vec<_>) =
                m.mapped.drain(..).partition(|&(owner, _)| owner == c);
            m.mapped = kept;
            for (_, x) in orphans {
                let before = snapshot(sh);
                let range = (x.addr(), x.size());
                let x = blocks[c]
                    .unmap(x)
                    .expect_err("a dropped instance's mapping")
                    .0;
                let x = blocks[1 - c]
                    .unmap(x)
                    .expect_err("another instance's mapping")
                    .0;
                assert_eq!(snapshot(sh), before, "a refused unmap changed the space");
                m.lasting.orphans.push(range);
                drop(x);
            }
        }
        SOp::MoveCache { cache, swap } => {
            if swap {
                caches.swap(0, 1);
                m.cache_flags.swap(0, 1);
            } else {
                let c = cache % 2;
                let f = m.cache_flags[c];
                let moved = Box::new(std::mem::replace(&mut caches[c], CpuCache::new(sh, f)));
                caches[c] = *moved;
            }
        }
        SOp::ReassignCache(cache) => {
            let c = cache % 2;
            caches[c] = CpuCache::new(sh, m.cache_flags[c]);
        }
        SOp::Reshare => unreachable!("split off by run_on"),
        SOp::AddSpan { below, gap, pages } => {
            let (lo_now, hi_now) = sh.bounds();
            let (lo, hi) = if below {
                let hi = lo_now.wrapping_sub(gap.wrapping_mul(Q));
                (hi.wrapping_sub(pages.wrapping_mul(Q)), hi)
            } else {
                let lo = hi_now.wrapping_add(gap.wrapping_mul(Q));
                (lo, lo.wrapping_add(pages.wrapping_mul(Q)))
            };
            let before = snapshot(sh);
            match sh.add_span(lo, hi) {
                Ok(()) => {
                    m.lasting.span_bytes += hi - lo;
                    let want = if below { (lo, hi_now) } else { (lo_now, hi) };
                    assert_eq!(sh.bounds(), want, "published at once");
                }
                Err(e) => {
                    assert!(
                        matches!(e, Error::BadRange | Error::BadSpace | Error::NoNode),
                        "{e:?}"
                    );
                    assert_eq!(snapshot(sh), before, "refused {op:?} changed the space");
                    assert_eq!(sh.bounds(), (lo_now, hi_now));
                }
            }
        }
    }
}
