//! The second configuration of the stress case: a `ShardedSpace` of one
//! node per CPU (Linux 6.9's `vmap_node`), over 8 TiB right above the
//! vmalloc region. Each node is a `SharedSpace` with its own lock, lazy
//! list, purge lock and depot; CPU `c` allocates from node `c` (others
//! only when it is full), a free goes to the node its address lies in, and
//! each CPU's cache serves from its home node, so a cached area freed on
//! another CPU goes back to its home node's cache.

use crate::smp::CPUS;
use crate::vmalloc::{
    self, flush_tlb, map_cached, map_new, unmap, unmap_cached, KernelCache, KernelSpin, Vm, AREAS,
    AREAS_MAX, LAZY_MAX, SHARDED_END, SHARDED_START,
};
use vmarea::{AreaPool, Cached, Flags, Policy, ShardedSpace, SharedSpace};

/// The sharded space: CPUS nodes over `[SHARDED_START, SHARDED_END)`.
pub type Sharded = ShardedSpace<KernelSpin, &'static AreaPool<AREAS_MAX>, CPUS>;

const ZONE: usize = (SHARDED_END - SHARDED_START) / CPUS;
const P: usize = 4096;

static SHARDED: spin::Once<Sharded> = spin::Once::new();
static CACHES: spin::Once<[spin::Mutex<KernelCache>; CPUS]> = spin::Once::new();

/// The sharded space (built on first use).
pub fn space() -> &'static Sharded {
    SHARDED.call_once(|| {
        let nodes = core::array::from_fn(|i| {
            let start = SHARDED_START + i * ZONE;
            SharedSpace::const_new(
                <KernelSpin as lock_api::RawMutex>::INIT,
                start,
                start + ZONE,
                P,
                Policy::FirstFit,
                &AREAS,
            )
        });
        let s = Sharded::new(nodes).unwrap_or_else(|_| crate::fail(format_args!("sharded space")));
        for n in s.nodes() {
            let mut g = n.lock();
            g.set_flush_hook(Some(flush_tlb));
            // The nodes together purge as often as the one space does.
            g.set_lazy_threshold(LAZY_MAX / CPUS);
        }
        s
    })
}

/// Builds the space and the caches (on the boot CPU: its stack is large).
pub fn prepare() {
    caches();
}

fn caches() -> &'static [spin::Mutex<KernelCache>; CPUS] {
    CACHES.call_once(|| {
        let s = space();
        core::array::from_fn(|i| spin::Mutex::new(vmarea::CpuCache::new(s.node(i), Flags::ALLOC)))
    })
}

/// `vmalloc` on CPU `cpu`'s home node.
pub fn vmalloc(cpu: usize, size: usize) -> Option<Vm> {
    let s = space();
    let (a, h) = s.alloc_on(cpu, &s.request(size)).ok()?;
    map_new(a, h, |addr| {
        s.free(addr).ok();
    })
}

/// `vfree`: unmap, free lazily on the area's node.
pub fn vfree(v: Vm) {
    unmap(&v);
    if space().free_lazy(v.addr).is_err() {
        crate::fail(format_args!("sharded vfree({:#x}) refused", v.addr));
    }
}

/// A cached area from CPU `cpu`'s cache (its home node).
pub fn vmalloc_cached(cpu: usize, size: usize) -> Option<Cached<'static>> {
    map_cached(&caches()[cpu], size)
}

/// Unmaps a cached area and gives it to its home node's cache.
pub fn vunmap_cached(_cpu: usize, c: Cached<'static>) {
    unmap_cached(&c);
    let node = space().node_of(c.addr()).unwrap_or(0);
    vmalloc::free_to(&caches()[node], c);
}

/// Empties the caches and depots, purges every node; returns whether every
/// node validates and how many areas are still used.
pub fn finish() -> (bool, usize) {
    for c in caches() {
        c.lock().flush();
    }
    let s = space();
    for n in s.nodes() {
        n.flush_depot();
        n.purge();
    }
    (s.validate().is_ok(), s.used_count())
}
