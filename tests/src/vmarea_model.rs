//! The model executor shared by the proptest suite (`tests/tests/vmarea_model.rs`) and
//! the fuzz target (`fuzz/fuzz_targets/vmarea_ops.rs`): applies each
//! operation to a space and to a model (used intervals, lazily freed
//! intervals), then checks `validate()`, the used areas, the counters, and
//! that refused calls changed nothing.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use vmarea::{
    AddressIndex, AreaInfo, BoxNodes, Counters, Error, Flags, Handle, NodeSource, Policy, Request,
    SlabNodes, Space,
};

pub const Q: usize = 4096;
pub const START: usize = 0x10_0000;
pub const PAGES: usize = 256;
pub const END: usize = START + PAGES * Q;
/// Lazy frees are purged once this many bytes are pending.
pub const LAZY_MAX: usize = 24 * Q;

/// One operation on the space.
#[derive(Debug, Clone)]
pub enum Op {
    /// pages (0 = bad), align shift over the quantum, guard, window (None =
    /// whole space, or (lo page, hi page), possibly bad), and a raw
    /// alignment overriding the shift (possibly not a power of two).
    Alloc {
        pages: usize,
        align_shift: u32,
        guard: bool,
        window: Option<(usize, usize)>,
        raw_align: Option<usize>,
        /// vmem's phase, in quanta (possibly not below the alignment).
        phase: usize,
        /// vmem's nocross as a shift over the quantum (None: no boundary);
        /// possibly too small for the area.
        nocross_shift: Option<u32>,
    },
    /// Free the n-th live area by address.
    FreeLive(usize),
    /// Free the n-th live area by handle (no search).
    FreeHandle(usize),
    /// Free the n-th live area lazily.
    FreeLazy(usize),
    /// Purge the lazily freed areas.
    Purge,
    /// Free an arbitrary page address (unknown, interior or already freed).
    FreeAddr(usize),
    /// Look up an address.
    Find(usize),
    /// `add_span`: `pages` pages, `gap` pages above the end (or below the
    /// start; 0: adjacent); 0 pages must be refused.
    AddSpan {
        below: bool,
        gap: usize,
        pages: usize,
    },
}

struct Model {
    /// The spans, in address order (the first is the space's own).
    spans: Vec<(usize, usize)>,
    /// addr → (size, flags, handle)
    used: BTreeMap<usize, (usize, Flags, Handle)>,
    /// addr → size, freed lazily, not reusable until purged
    lazy: BTreeMap<usize, usize>,
    /// Next fit: the end of the last allocation.
    rotor: usize,
    /// What the space's counters must read.
    counters: Counters,
    /// Size pools: (largest pooled size in quanta, areas per pool), or
    /// None; and each pool's areas (addr, size), oldest first.
    pool_limits: Option<(usize, usize)>,
    pools: Vec<VecDeque<(usize, usize)>>,
}

impl Model {
    fn new() -> Self {
        Model {
            spans: vec![(START, END)],
            used: BTreeMap::new(),
            lazy: BTreeMap::new(),
            rotor: 0,
            counters: Counters::default(),
            pool_limits: None,
            pools: vec![VecDeque::new(); vmarea::POOL_CLASSES],
        }
    }

    /// The pool an area of `size` bytes goes to or comes from.
    fn pool_class(&self, size: usize) -> Option<usize> {
        let (max, _) = self.pool_limits?;
        let quanta = size / Q;
        (quanta >= 1 && quanta <= max).then(|| quanta - 1)
    }

    /// An immediate free: into its pool if it has room, else free space.
    fn free_now(&mut self, addr: usize, size: usize) {
        if let (Some(c), Some((_, cap))) = (self.pool_class(size), self.pool_limits) {
            if self.pools[c].len() < cap {
                self.pools[c].push_back((addr, size));
            }
        }
    }

    /// Every pooled range, by address.
    fn pooled(&self) -> Vec<(usize, usize)> {
        let mut v: Vec<_> = self.pools.iter().flatten().copied().collect();
        v.sort_unstable();
        v
    }

    /// Each pool gives a quarter back, rounded up, oldest first.
    fn decay_pools(&mut self) {
        for p in &mut self.pools {
            for _ in 0..p.len().div_ceil(4) {
                p.pop_front();
            }
        }
    }

    /// The space's bounds: from the first span's start to the last's end.
    fn bounds(&self) -> (usize, usize) {
        (self.spans[0].0, self.spans[self.spans.len() - 1].1)
    }

    /// Bytes inside the spans.
    fn span_bytes(&self) -> usize {
        self.spans.iter().map(|(s, e)| e - s).sum()
    }

    /// A purge of every lazily freed range, as the space counts it.
    fn purge_all(&mut self) {
        if !self.lazy.is_empty() {
            self.counters.purges += 1;
            self.counters.purged_areas += self.lazy.len() as u64;
            self.counters.purged_bytes += self.lazy_bytes() as u64;
            self.decay_pools();
        }
        self.lazy.clear();
    }

    /// First and next fit's choice in `[lo, hi)`: the lowest placement in
    /// a gap offering at least the sure room inside the window (room for
    /// the request at any alignment: `need + align - Q`, doubled less `Q`
    /// with a boundary), and only when no gap offers it, the lowest
    /// placement anywhere.
    #[allow(clippy::too_many_arguments)]
    fn address_order_fit(
        &self,
        lazy_too: bool,
        need: usize,
        align: usize,
        phase: usize,
        nocross: usize,
        lo: usize,
        hi: usize,
    ) -> Option<usize> {
        // Saturating: refused requests (huge alignments) are placed too.
        let sure = if nocross == 0 {
            (need + align).saturating_sub(Q)
        } else {
            (need + align).saturating_mul(2).saturating_sub(3 * Q)
        };
        self.lowest_fit(lazy_too, sure, need, align, phase, nocross, lo, hi)
            .or_else(|| self.lowest_fit(lazy_too, need, need, align, phase, nocross, lo, hi))
    }

    /// Lowest placement of `need` bytes at `x ≡ phase (mod align)`, not
    /// crossing a multiple of `nocross` (0: none), in `[lo, hi)`,
    /// overlapping no used (and, with `lazy_too`, no lazily freed) range,
    /// in a gap with at least `room` bytes inside the window: by brute
    /// force over every quantum.
    #[allow(clippy::too_many_arguments)]
    fn lowest_fit(
        &self,
        lazy_too: bool,
        room: usize,
        need: usize,
        align: usize,
        phase: usize,
        nocross: usize,
        lo: usize,
        hi: usize,
    ) -> Option<usize> {
        let mut taken: Vec<(usize, usize)> =
            self.used.iter().map(|(&a, &(s, ..))| (a, s)).collect();
        taken.extend(self.pooled());
        if lazy_too {
            taken.extend(self.lazy.iter().map(|(&a, &s)| (a, s)));
        }
        taken.sort_unstable();
        // Free ranges never cross a span boundary.
        let mut gaps = Vec::new();
        for &(span_start, span_end) in &self.spans {
            let mut gap_start = span_start;
            for &(a, s) in taken
                .iter()
                .filter(|(a, _)| (span_start..span_end).contains(a))
            {
                if a > gap_start {
                    gaps.push((gap_start, a));
                }
                gap_start = a + s;
            }
            if span_end > gap_start {
                gaps.push((gap_start, span_end));
            }
        }
        let ok = |x: usize| {
            x % align == phase && (nocross == 0 || x / nocross == (x + need - 1) / nocross)
        };
        gaps.into_iter().find_map(|(s, e)| {
            let limit = e.min(hi);
            if limit.saturating_sub(s.max(lo)) < room {
                return None;
            }
            (s.max(lo)..)
                .step_by(Q)
                .take_while(|&x| x + need <= limit)
                .find(|&x| ok(x))
        })
    }

    fn nth_live(&self, i: usize) -> Option<(usize, usize, Flags, Handle)> {
        if self.used.is_empty() {
            return None;
        }
        self.used
            .iter()
            .nth(i % self.used.len())
            .map(|(&a, &(s, f, h))| (a, s, f, h))
    }

    fn lazy_bytes(&self) -> usize {
        self.lazy.values().sum()
    }
}

fn snapshot<S: NodeSource>(s: &Space<S>) -> (Vec<AreaInfo>, vmarea::Stats) {
    (s.iter().collect(), s.stats())
}

pub fn run(policy: Policy, ops: &[Op]) {
    run_with(policy, AddressIndex::BusyTree, ops)
}

/// As [`run`], with size pools for areas of up to `max_quanta` quanta,
/// `per_class` each: a request of a pooled size must take its pool's most
/// recent area when that one meets its alignment, phase, boundary and
/// window; frees fill the pools, purges decay them and a request with no
/// room drains them first.
pub fn run_pooled(policy: Policy, max_quanta: usize, per_class: usize, ops: &[Op]) {
    run_inner(
        policy,
        AddressIndex::BusyTree,
        Some((max_quanta, per_class)),
        ops,
        BoxNodes,
    )
}

/// As [`run`], with the area objects carved from slabs
/// ([`SlabNodes`]) instead of one `Box` each.
pub fn run_over_slabs(policy: Policy, ops: &[Op]) {
    run_inner(policy, AddressIndex::BusyTree, None, ops, SlabNodes::new())
}

/// As [`run`], on a space with the given address index (the model and the
/// checks are the same: with no busy tree, frees by address and `find`
/// walk the address list and must agree with the tree's answers).
pub fn run_with(policy: Policy, index: AddressIndex, ops: &[Op]) {
    run_inner(policy, index, None, ops, BoxNodes)
}

fn run_inner<S: NodeSource>(
    policy: Policy,
    index: AddressIndex,
    pools: Option<(usize, usize)>,
    ops: &[Op],
    source: S,
) {
    let mut s = Space::with_address_index(START, END, Q, policy, index, source).unwrap();
    s.set_lazy_threshold(LAZY_MAX);
    let mut m = Model::new();
    if let Some((max, cap)) = pools {
        s.set_pools(max, cap).unwrap();
        m.pool_limits = Some((max, cap));
    }
    for op in ops {
        let before = snapshot(&s);
        match op.clone() {
            Op::Alloc {
                pages,
                align_shift,
                guard,
                window,
                raw_align,
                phase,
                nocross_shift,
            } => {
                let phase = phase * Q;
                let nocross = nocross_shift.map_or(0, |k| Q << k);
                let size = pages * Q - if pages > 0 { Q / 2 } else { 0 }; // rounded up by the space
                let align = raw_align.unwrap_or(Q << align_shift);
                let flags = if guard {
                    Flags::ALLOC
                } else {
                    Flags::ALLOC | Flags::NO_GUARD
                };
                let (b_lo, b_hi) = m.bounds();
                let (lo, hi) = window.map_or((b_lo, b_hi), |(l, h)| (b_lo + l * Q, b_lo + h * Q));
                let req = Request {
                    size,
                    align,
                    flags,
                    tag: 7,
                    lo,
                    hi,
                    phase,
                    nocross,
                };
                let need = pages * Q + if guard { Q } else { 0 };
                let eff_align = align.max(Q);
                let expect_err = if pages == 0 {
                    Some(Error::ZeroSize)
                } else if (align != 0 && !align.is_power_of_two()) || eff_align > b_hi - b_lo {
                    Some(Error::BadAlign)
                } else if lo >= hi || lo < b_lo || hi > b_hi {
                    Some(Error::BadRange)
                } else if phase >= eff_align
                    || (nocross != 0
                        && (nocross < need || phase % nocross.min(eff_align) + need > nocross))
                {
                    Some(Error::BadAlign)
                } else {
                    None
                };
                // Without a fit among used and lazy ranges, the space purges
                // the lazy ones and tries again.
                // Next fit looks at or after the rotor first, then wraps.
                let next_fit = policy == Policy::NextFit;
                let place = |m: &Model, lazy_too: bool| {
                    let in_window =
                        |lo| m.address_order_fit(lazy_too, need, eff_align, phase, nocross, lo, hi);
                    let after = (next_fit && m.rotor > lo)
                        .then(|| in_window(m.rotor))
                        .flatten();
                    after.or_else(|| in_window(lo))
                };
                // The space's order: its pool (an unconstrained request for
                // anywhere), the policy, a purge (which decays the pools),
                // the pools drained. The model changes as the space will,
                // whatever the outcome.
                // Only the pool's most recent area is looked at.
                let meets = |a: usize| {
                    a % eff_align == phase
                        && (nocross == 0 || a / nocross == (a + need - 1) / nocross)
                        && lo <= a
                        && a + need <= hi
                };
                let pool = m.pool_class(need).filter(|&c| {
                    expect_err.is_none() && m.pools[c].back().is_some_and(|&(a, _)| meets(a))
                });
                let pooled = pool.and_then(|c| m.pools[c].pop_back());
                let mut changed = pooled.is_some();
                // (A refused request is not placed: its size may be 0.)
                let mut fit = pooled
                    .map(|(a, _)| a)
                    .or_else(|| expect_err.is_none().then(|| place(&m, true)).flatten());
                if expect_err.is_none() && fit.is_none() && !m.lazy.is_empty() {
                    m.purge_all();
                    changed = true;
                    fit = place(&m, false);
                }
                if expect_err.is_none() && fit.is_none() && m.pools.iter().any(|p| !p.is_empty()) {
                    m.pools.iter_mut().for_each(VecDeque::clear);
                    changed = true;
                    fit = place(&m, false);
                }
                match s.alloc_handle(&req) {
                    Ok((a, h)) => {
                        assert_eq!(expect_err, None, "{op:?} should have been refused");
                        assert_eq!(a.size, need);
                        assert_eq!(a.addr % eff_align, phase);
                        assert_eq!(
                            a.addr.checked_div(nocross),
                            (a.end() - 1).checked_div(nocross),
                            "{a:?} crosses {nocross:#x}"
                        );
                        assert!(a.addr >= lo && a.end() <= hi, "{a:?} outside window");
                        assert!(a.used && !a.lazy && a.flags == flags && a.tag == 7);
                        if pooled.is_some() {
                            assert_eq!(Some(a.addr), fit, "the pool's most recent area");
                        } else if policy == Policy::FirstFit {
                            assert_eq!(
                                Some(a.addr),
                                fit,
                                "FirstFit must take the lowest fit with sure room, else the lowest fit"
                            );
                        }
                        if next_fit && pooled.is_none() {
                            assert_eq!(
                                Some(a.addr),
                                fit,
                                "NextFit must take first fit's choice after the rotor, else wrap"
                            );
                            m.rotor = a.end();
                        }
                        assert!(
                            fit.is_some(),
                            "{policy:?} placed {a:?} where the model has no room"
                        );
                        m.counters.allocs += 1;
                        m.used.insert(a.addr, (a.size, flags, h));
                    }
                    Err(e) => {
                        m.counters.failures += 1;
                        match expect_err {
                            Some(want) => assert_eq!(e, want),
                            None => {
                                assert_eq!(e, Error::NoSpace, "{op:?}");
                                assert_eq!(fit, None, "{policy:?} said NoSpace but {fit:?} fits");
                            }
                        }
                        if !changed {
                            assert_eq!(snapshot(&s), before, "refused {op:?} changed the space");
                        }
                    }
                }
            }
            Op::FreeLive(i) => {
                let Some((addr, size, flags, _)) = m.nth_live(i) else {
                    continue;
                };
                let freed = s.free(addr).unwrap();
                assert_eq!((freed.addr, freed.size, freed.flags), (addr, size, flags));
                m.used.remove(&addr);
                m.free_now(addr, size);
                m.counters.frees += 1;
            }
            Op::FreeHandle(i) => {
                let Some((addr, size, _, h)) = m.nth_live(i) else {
                    continue;
                };
                // SAFETY: the model tracks liveness: `h` names a live area of `s`.
                let freed = unsafe { s.free_handle(h) };
                assert_eq!((freed.addr, freed.size), (addr, size));
                m.used.remove(&addr);
                m.free_now(addr, size);
                m.counters.frees += 1;
            }
            Op::FreeLazy(i) => {
                let Some((addr, size, _, _)) = m.nth_live(i) else {
                    continue;
                };
                let freed = s.free_lazy(addr).unwrap();
                assert_eq!((freed.addr, freed.size), (addr, size));
                m.used.remove(&addr);
                m.lazy.insert(addr, size);
                m.counters.lazy_frees += 1;
                if m.lazy_bytes() >= LAZY_MAX {
                    m.purge_all();
                }
                assert!(
                    s.find(addr).is_none(),
                    "a lazily freed area is not findable"
                );
            }
            Op::Purge => {
                assert_eq!(s.purge(), m.lazy.len());
                m.purge_all();
            }
            Op::FreeAddr(page) => {
                let addr = m.bounds().0 + page * Q;
                match s.free(addr) {
                    Ok(f) => {
                        assert_eq!(m.used.remove(&addr).map(|x| x.0), Some(f.size));
                        m.free_now(addr, f.size);
                        m.counters.frees += 1;
                    }
                    Err(e) => {
                        assert_eq!(e, Error::NotAllocated { addr });
                        assert!(!m.used.contains_key(&addr));
                        assert_eq!(snapshot(&s), before, "refused free changed the space");
                    }
                }
            }
            Op::Find(page) => {
                let addr = m.bounds().0 + page * Q + 5;
                let want = m
                    .used
                    .range(..=addr)
                    .next_back()
                    .filter(|(&a, &(sz, ..))| addr < a + sz)
                    .map(|(&a, _)| a);
                assert_eq!(s.find(addr).map(|i| i.addr), want);
            }
            Op::AddSpan { below, gap, pages } => {
                let (b_lo, b_hi) = m.bounds();
                let range = if below {
                    b_lo.checked_sub(gap * Q)
                        .and_then(|hi| Some((hi.checked_sub(pages * Q)?, hi)))
                } else {
                    Some((b_hi + gap * Q, b_hi + (gap + pages) * Q))
                };
                let Some((lo, hi)) = range else {
                    continue; // no room below zero for it
                };
                match s.add_span(lo, hi) {
                    Ok(()) => {
                        assert!(pages > 0, "{op:?} should have been refused");
                        if below {
                            m.spans.insert(0, (lo, hi));
                        } else {
                            m.spans.push((lo, hi));
                        }
                        assert_eq!(s.bounds(), m.bounds());
                    }
                    Err(e) => {
                        assert_eq!(e, Error::BadRange, "{op:?}");
                        assert!(pages == 0, "{op:?} refused");
                        assert_eq!(snapshot(&s), before, "refused {op:?} changed the space");
                    }
                }
            }
        }
        s.validate()
            .unwrap_or_else(|e| panic!("{policy:?} after {op:?}: {e}"));
        let used: Vec<(usize, usize)> = s.used().map(|i| (i.addr, i.size)).collect();
        let want: Vec<(usize, usize)> = m.used.iter().map(|(&a, &(sz, ..))| (a, sz)).collect();
        assert_eq!(used, want, "after {op:?}");
        let lazy: Vec<(usize, usize)> = s
            .iter()
            .filter(|i| i.lazy)
            .map(|i| (i.addr, i.size))
            .collect();
        let want_lazy: Vec<(usize, usize)> = m.lazy.iter().map(|(&a, &sz)| (a, sz)).collect();
        assert_eq!(lazy, want_lazy, "after {op:?}");
        // Pooled areas read as pooled: freed, not free to others, not lazy.
        let pooled: Vec<(usize, usize)> = s
            .iter()
            .filter(|i| i.pooled)
            .inspect(|i| assert!(!i.used && !i.lazy, "{i:?}"))
            .map(|i| (i.addr, i.size))
            .collect();
        assert_eq!(pooled, m.pooled(), "after {op:?}");
        assert_eq!(s.counters(), m.counters, "counters after {op:?}");
        let st = s.stats();
        assert_eq!(st.used_bytes, want.iter().map(|x| x.1).sum::<usize>());
        assert_eq!(st.lazy_bytes, m.lazy_bytes());
        assert_eq!(
            st.pooled_bytes,
            m.pooled().iter().map(|x| x.1).sum::<usize>()
        );
        assert_eq!(
            st.used_bytes + st.lazy_bytes + st.pooled_bytes + st.free_bytes,
            m.span_bytes()
        );
        // Nothing listed lies outside the spans.
        for i in s.iter() {
            assert!(
                m.spans.iter().any(|&(a, b)| a <= i.addr && i.end() <= b),
                "{i:?} outside every span"
            );
        }
    }
    // Everything comes back whole.
    let addrs: Vec<usize> = m.used.keys().copied().collect();
    for a in addrs {
        s.free(a).unwrap();
        s.validate().unwrap();
    }
    s.purge();
    s.drain_pools();
    s.validate().unwrap();
    let st = s.stats();
    let largest = m.spans.iter().map(|(a, b)| b - a).max().unwrap();
    assert_eq!(
        (
            st.used_bytes,
            st.lazy_bytes,
            st.largest_free,
            st.free_ranges
        ),
        (0, 0, largest, m.spans.len())
    );
}
