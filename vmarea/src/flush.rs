//! The TLB-flush contract for lazy frees: the hook and what it is given.

use crate::area::Area;
use crate::containers::list::List;
use crate::smp::depot::Magazine;

/// Flushes TLBs for lazily freed ranges before they become reusable.
///
/// A lazily freed area ([`Space::free_lazy`](crate::Space::free_lazy),
/// Linux's `free_vmap_area_noflush`) leaves the busy tree at once, but its
/// range stays out of free space until a purge, because other CPUs' TLBs
/// may still map it. Before a purge merges those ranges back (after which
/// any of them can be handed out again), the space calls the caller's
/// [`FlushHook`] with the batch, as Linux calls `flush_tlb_kernel_range`
/// in `__purge_vmap_area_lazy`. Every purge goes through that one place:
/// an explicit [`purge`](crate::Space::purge), the threshold reached in
/// `free_lazy`, an allocation that found no room with lazy frees pending,
/// and a per-CPU cache's allocation under pressure.
///
/// Context. On a plain [`Space`](crate::Space) the hook runs inside the
/// purging call. Under a [`SharedSpace`](crate::SharedSpace) it runs **with
/// the space's lock released** (Linux flushes under `vmap_purge_lock`, not
/// under `free_vmap_area_lock`): the batch is detached from the lazy list
/// under the lock, the lock is released, the hook runs under the shared
/// space's purge lock (purges are serialised), and the batch is merged back
/// under the lock once the hook has returned. Other CPUs allocate, free and
/// look up meanwhile, so a hook may wait for other CPUs (a shootdown IPI)
/// even if they spin on the space's lock with interrupts off, and may take
/// that lock itself; none of the batch's ranges is handed out before it
/// returns. It must not purge the same space (directly, or through an
/// allocation that finds no room: that purge would wait for this one), and
/// must finish the flush — on every CPU — before it returns.
///
/// If the hook panics, the purge stops before it merges anything: every
/// range of the batch stays lazy (still out of free space, shown to the
/// hook again by the next purge), nothing is counted as purged, and a
/// `SharedSpace`'s lock is released as the panic unwinds. An allocation
/// whose purge panicked allocated nothing.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use vmarea::{AreaPool, Flags, Policy, PurgeBatch, Space};
///
/// static FLUSHED: AtomicUsize = AtomicUsize::new(0);
/// fn flush_tlb(batch: &PurgeBatch<'_>) {
///     for (start, end) in batch.ranges() {
///         // A kernel: `invlpg` each page of [start, end), or reload CR3,
///         // and shoot down the other CPUs; here we count bytes.
///         FLUSHED.fetch_add(end - start, Ordering::Relaxed);
///     }
/// }
///
/// static AREAS: AreaPool<16> = AreaPool::new();
/// let mut s = Space::new(0x10_0000, 0x20_0000, 0x1000, Policy::FirstFit, &AREAS).unwrap();
/// s.set_flush_hook(Some(flush_tlb));
/// let a = s.alloc(0x1000, 0, Flags::ALLOC).unwrap();
/// s.free_lazy(a.addr).unwrap(); // unmapped by the caller, not yet flushed
/// assert!(s.iter().any(|i| i.lazy)); // reported as "unpurged vm_area"
/// assert_eq!(s.purge(), 1);
/// assert_eq!(FLUSHED.load(Ordering::Relaxed), a.size); // flushed before reuse
/// ```
pub type FlushHook = fn(&PurgeBatch<'_>);

/// The lazily freed ranges a purge is about to make reusable: the space's
/// lazy frees, and under a [`SharedSpace`](crate::SharedSpace) the areas
/// per-CPU caches freed (dirty magazines), which become ready for reuse
/// by any cache once flushed.
pub struct PurgeBatch<'a> {
    pub(crate) lazy: &'a List,
    /// Bytes of the lazy list and of the magazines.
    pub(crate) bytes: usize,
    /// Dirty cache magazines, each with its class (areas of class `c` are
    /// `(c + 1) * quantum` bytes).
    pub(crate) magazines: &'a [(usize, Magazine)],
    pub(crate) quantum: usize,
}

impl PurgeBatch<'_> {
    /// Each range `(start, end)`: the lazy frees in the order they were
    /// freed, then the cached areas freed since the last purge.
    pub fn ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let lazy = self.lazy.iter().map(|l| {
            // SAFETY: members of the lazy list are live areas of the space,
            // chained through their node link, and nothing changes them
            // while the batch is borrowed.
            let a = unsafe { Area::from_chain(l).as_ref() };
            (a.addr.get(), a.end())
        });
        let cached = self.magazines.iter().flat_map(move |(c, m)| {
            let size = (c + 1) * self.quantum;
            m.addrs().map(move |a| (a, a + size))
        });
        lazy.chain(cached)
    }

    /// The smallest range covering every range of the batch, `(start,
    /// end)`: what one `flush_tlb_kernel_range` call would flush. `None`
    /// for an empty batch (the hook is not called for one).
    pub fn span(&self) -> Option<(usize, usize)> {
        self.ranges()
            .reduce(|(s0, e0), (s1, e1)| (s0.min(s1), e0.max(e1)))
    }

    /// Number of ranges.
    pub fn count(&self) -> usize {
        self.lazy.len() + self.magazines.iter().map(|(_, m)| m.len()).sum::<usize>()
    }

    /// Bytes in all ranges (guards included).
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl core::fmt::Debug for PurgeBatch<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PurgeBatch")
            .field("count", &self.count())
            .field("bytes", &self.bytes)
            .field("span", &self.span())
            .finish()
    }
}
