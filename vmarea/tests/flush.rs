//! Issue 8 point 5: no lazily freed range is handed out again before the
//! flush hook saw it, on every purge path (explicit, threshold, an
//! allocation that found no room, a cache under pressure), and lazily freed
//! areas show as `unpurged vm_area` until then.
#![cfg(all(feature = "alloc", not(loom)))]

use std::cell::RefCell;
use vmarea::{BoxNodes, Flags, Policy, PurgeBatch, RawSpinlock, SharedSpace, Space};

const Q: usize = 4096;
const S: usize = 0x4000_0000;

/// One batch as the hook saw it: (count, bytes, span).
type Batch = (usize, usize, (usize, usize));

thread_local! {
    /// Lazily freed ranges the hook has not flushed yet.
    static UNFLUSHED: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
    /// Batches seen.
    static BATCHES: RefCell<Vec<Batch>> = const { RefCell::new(Vec::new()) };
}

fn hook(batch: &PurgeBatch<'_>) {
    let span = batch.span().expect("the hook never sees an empty batch");
    let mut bytes = 0;
    UNFLUSHED.with_borrow_mut(|u| {
        for r in batch.ranges() {
            assert!(span.0 <= r.0 && r.1 <= span.1, "span covers {r:?}");
            let at = u
                .iter()
                .position(|x| *x == r)
                .expect("only lazy ranges are purged");
            u.swap_remove(at);
            bytes += r.1 - r.0;
        }
    });
    assert_eq!(bytes, batch.bytes());
    BATCHES.with_borrow_mut(|b| b.push((batch.count(), batch.bytes(), span)));
}

fn assert_not_unflushed(addr: usize, size: usize) {
    UNFLUSHED.with_borrow(|u| {
        for &(s, e) in u {
            assert!(
                addr + size <= s || e <= addr,
                "{addr:#x}+{size:#x} handed out before the flush of {s:#x}..{e:#x}"
            );
        }
    });
}

/// A small xorshift, so the test needs no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn no_purged_range_is_reused_before_the_hook_saw_it() {
    for p in [
        Policy::Rfc,
        Policy::FirstFit,
        Policy::InstantFit,
        Policy::BestFit,
    ] {
        UNFLUSHED.with_borrow_mut(Vec::clear);
        BATCHES.with_borrow_mut(Vec::clear);
        let pages = 128;
        let mut s = Space::new(S, S + pages * Q, Q, p, BoxNodes).unwrap();
        s.set_flush_hook(Some(hook));
        s.set_lazy_threshold(16 * Q);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut live: Vec<(usize, usize)> = Vec::new();
        let steps = if cfg!(miri) { 40 } else { 4000 };
        for step in 0..steps {
            let r = rng.next();
            if live.is_empty() || r % 3 != 0 {
                // Big requests sometimes, so allocations run out of room and
                // purge on their own.
                let n = if r % 17 == 0 {
                    40
                } else {
                    1 + (r as usize >> 8) % 6
                };
                if let Ok(a) = s.alloc(n * Q, 0, Flags::ALLOC) {
                    assert_not_unflushed(a.addr, a.size);
                    live.push((a.addr, a.size));
                }
            } else {
                let (addr, size) = live.swap_remove((r as usize >> 8) % live.len());
                if r % 2 == 0 {
                    // Recorded first: reaching the threshold purges inside.
                    UNFLUSHED.with_borrow_mut(|u| u.push((addr, addr + size)));
                    s.free_lazy(addr).unwrap();
                } else {
                    s.free(addr).unwrap();
                }
            }
            if step % (steps / 4) == steps / 4 - 1 {
                s.purge();
            }
            s.validate().unwrap();
        }
        let purges = BATCHES.with_borrow(Vec::len);
        assert!(purges > 2, "{p:?}: only {purges} purges");
        s.purge();
        assert!(UNFLUSHED.with_borrow(Vec::is_empty));
    }
}

#[test]
fn a_cache_under_pressure_purges_through_the_hook() {
    UNFLUSHED.with_borrow_mut(Vec::clear);
    BATCHES.with_borrow_mut(Vec::clear);
    let sh: SharedSpace<RawSpinlock, BoxNodes> =
        SharedSpace::new(Space::new(S, S + 16 * Q, Q, Policy::FirstFit, BoxNodes).unwrap());
    {
        let mut g = sh.lock_for(8);
        g.set_flush_hook(Some(hook));
        g.set_lazy_threshold(usize::MAX);
        // Fill the space, then free it all lazily: nothing is reusable.
        let all: Vec<_> = std::iter::from_fn(|| g.alloc(Q, 0, Flags::ALLOC).ok()).collect();
        assert_eq!(all.len(), 8);
        for a in all {
            let f = g.free_lazy(a.addr).unwrap();
            UNFLUSHED.with_borrow_mut(|u| u.push((f.addr, f.end())));
        }
        // The report shows them as Linux does.
        let report = g.to_string();
        assert_eq!(report.matches("unpurged vm_area").count(), 8, "{report}");
    }
    let mut c = sh.cache(Flags::ALLOC);
    let a = c.alloc(Q).unwrap();
    assert_not_unflushed(a.addr(), a.size());
    assert_eq!(BATCHES.with_borrow(Vec::len), 1);
    assert_eq!(BATCHES.with_borrow(|b| b[0].0), 8);
    c.free(a).unwrap();
}

#[test]
fn an_empty_purge_does_not_call_the_hook() {
    BATCHES.with_borrow_mut(Vec::clear);
    let mut s = Space::new(S, S + 16 * Q, Q, Policy::FirstFit, BoxNodes).unwrap();
    s.set_flush_hook(Some(hook));
    assert_eq!(s.purge(), 0);
    assert_eq!(BATCHES.with_borrow(Vec::len), 0);
}

/// A deferred free (`vfree_atomic`) is a free like any other: its range is
/// reused only after the hook saw it. Before the fix the drain freed it at
/// once, and a kernel reused the range with stale TLB entries (the test
/// kernel's pattern checks failed).
#[test]
fn deferred_frees_are_flushed_before_reuse() {
    UNFLUSHED.with_borrow_mut(Vec::clear);
    BATCHES.with_borrow_mut(Vec::clear);
    let sh: SharedSpace<RawSpinlock, BoxNodes> =
        SharedSpace::new(Space::new(S, S + 16 * Q, Q, Policy::FirstFit, BoxNodes).unwrap());
    {
        let mut g = sh.lock();
        g.set_flush_hook(Some(hook));
        g.set_lazy_threshold(usize::MAX);
    }
    for round in 0..4 {
        let mut held = Vec::new();
        while let Ok((a, h)) = sh.alloc_handle(&sh.request(Q)) {
            assert_not_unflushed(a.addr, a.size);
            held.push((a, h));
        }
        assert_eq!(
            held.len(),
            8,
            "round {round}: the whole space, after a purge"
        );
        for (a, h) in held {
            UNFLUSHED.with_borrow_mut(|u| u.push((a.addr, a.end())));
            // SAFETY: each handle is live and freed once, here.
            unsafe { sh.free_deferred(h) };
        }
    }
    assert_eq!(
        BATCHES.with_borrow(Vec::len),
        3,
        "one purge per refill after the first"
    );
}
