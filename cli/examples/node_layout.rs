//! Where the area objects live, measured in wall time (issue 10's two wall
//! cells): the same space over four node sources, in one run, each cell
//! timed in turn, three rounds.
//!
//! | source | layout |
//! |---|---|
//! | `box` | `BoxNodes`: one glibc allocation each, 80 bytes apart |
//! | `slab` | `SlabNodes`: 64 KiB slabs, 64 bytes apart, line-aligned |
//! | `pool` | `PoolNodes` over one 2 MiB-aligned region, 64 bytes apart |
//! | `pool+huge` | the same region after `madvise(MADV_HUGEPAGE)`: 2 MiB pages when the kernel's transparent huge pages are in `madvise` mode (they are on these machines) |
//!
//! `node_layout random N`: random frees at N live areas (the `random`
//! workload of `benches/compare.rs`), InstantFit with pools and no busy
//! tree, against `offset-allocator`. `node_layout firstfit`: FirstFit
//! alloc+free pairs freed by address at 1e3 and 1e6 live areas (the `pair`
//! workload). `cargo run --release -p vmarea-cli --example node_layout --
//! random 100000`. Wall time only (ns per step): the point is what the
//! instruction counts cannot show, so keep the machine idle.

use bench_table::workload::{
    lay_out, prefill_count, random_index, random_span_pages, sizes, RANDOM_SEED,
};
use std::alloc::Layout;
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Instant;
use vmarea::{AddressIndex, Area, BoxNodes, NodeSource, Policy, PoolNodes, SlabNodes, Space};
use vmarea_cli::workload::lay_out_by_handle;

const PAGE: usize = 4096;
const START: usize = 0xffff_c900_0000_0000;
const HUGE: usize = 2 << 20;
/// `MADV_HUGEPAGE` (Linux).
const MADV_HUGEPAGE: i32 = 14;

unsafe extern "C" {
    /// libc's `madvise(2)`.
    fn madvise(addr: *mut core::ffi::c_void, len: usize, advice: i32) -> i32;
}

/// `n` area slots in one 2 MiB-aligned allocation.
struct Region {
    base: NonNull<Area>,
    n: usize,
    layout: Layout,
}

impl Region {
    fn new(n: usize, huge: bool) -> Self {
        let bytes = (n * size_of::<Area>()).next_multiple_of(HUGE);
        let layout = Layout::from_size_align(bytes, HUGE).expect("layout");
        // SAFETY: a non-zero size.
        let base = NonNull::new(unsafe { std::alloc::alloc(layout) }.cast::<Area>())
            .expect("out of memory");
        if huge {
            // SAFETY: advice on memory this process owns; it changes no
            // contents.
            let r = unsafe { madvise(base.as_ptr().cast(), bytes, MADV_HUGEPAGE) };
            assert_eq!(r, 0, "madvise");
        }
        for i in 0..n {
            // SAFETY: slot `i` is inside the allocation.
            unsafe { base.as_ptr().add(i).write(Area::new()) };
        }
        Region { base, n, layout }
    }

    fn slots(&mut self) -> &mut [Area] {
        // SAFETY: `n` initialised slots, borrowed through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr(), self.n) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; `Area` needs no drop.
        unsafe { std::alloc::dealloc(self.base.as_ptr().cast(), self.layout) }
    }
}

/// A space over `span` pages with `n` one-page areas laid out as the
/// benches do; returns it and the live handles.
fn laid_out<S: NodeSource>(
    src: S,
    n: usize,
    span: usize,
    policy: Policy,
    index: AddressIndex,
) -> (Space<S>, Vec<vmarea::Handle>) {
    let mut s = Space::with_address_index(START, START + span * PAGE, PAGE, policy, index, src)
        .expect("space");
    let live = lay_out_by_handle(&mut s, n);
    (s, live)
}

/// ns per random replacement (InstantFit, pools, no busy tree).
fn random_step<S: NodeSource>(src: S, n: usize, steps: usize, sz: &[usize]) -> f64 {
    let span = random_span_pages(n);
    let (mut s, mut live) = laid_out(src, n, span, Policy::InstantFit, AddressIndex::None);
    s.set_pools(vmarea::POOL_CLASSES, 64).expect("pools");
    let mut x = RANDOM_SEED;
    let mut step = |k: usize| {
        let i = random_index(&mut x, live.len());
        // SAFETY: `live` holds each live area's handle once.
        black_box(unsafe { s.free_handle(live[i]) });
        live[i] = s
            .alloc_handle(&s.request(sz[k & 4095] * PAGE))
            .expect("alloc")
            .1;
    };
    (0..steps / 4).for_each(&mut step);
    let t = Instant::now();
    (0..steps).for_each(&mut step);
    t.elapsed().as_nanos() as f64 / steps as f64
}

/// ns per random replacement in `offset-allocator`.
fn random_offset(n: usize, steps: usize, sz: &[usize]) -> f64 {
    let span = random_span_pages(n);
    let max = (4 * prefill_count(n) + 64) as u32;
    let mut a = offset_allocator::Allocator::<u32>::with_max_allocs(span as u32, max);
    let mut live = lay_out(
        &mut a,
        n,
        |a| a.allocate(2).expect("prefill"),
        |a, x| a.free(x),
    );
    let mut x = RANDOM_SEED;
    let mut step = |k: usize| {
        let i = random_index(&mut x, live.len());
        a.free(live[i]);
        live[i] = a.allocate(sz[k & 4095] as u32 + 1).expect("alloc");
    };
    (0..steps / 4).for_each(&mut step);
    let t = Instant::now();
    (0..steps).for_each(&mut step);
    t.elapsed().as_nanos() as f64 / steps as f64
}

/// ns per FirstFit alloc+free pair, freed by address.
fn firstfit_pair<S: NodeSource>(src: S, n: usize, pairs: usize, sz: &[usize]) -> f64 {
    let span = 2 * prefill_count(n) + 1000;
    let (mut s, _live) = laid_out(src, n, span, Policy::FirstFit, AddressIndex::BusyTree);
    let mut step = |k: usize| {
        let a = s
            .alloc_request(&s.request(sz[k & 4095] * PAGE))
            .expect("alloc");
        black_box(s.free(a.addr).expect("free"));
    };
    (0..pairs / 4).for_each(&mut step);
    let t = Instant::now();
    (0..pairs).for_each(&mut step);
    t.elapsed().as_nanos() as f64 / pairs as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_default();
    let sz = sizes();
    let steps = 2_000_000;
    if what == "firstfit" {
        for round in 0..3 {
            let mut line = format!("round {round}:");
            for n in [1000usize, 1_000_000] {
                // Room for every area and free area, and the spares.
                let cap = 2 * prefill_count(n) + 1024;
                let b = firstfit_pair(BoxNodes, n, steps, &sz);
                let sl = firstfit_pair(SlabNodes::new(), n, steps, &sz);
                let mut r = Region::new(cap, false);
                let p = firstfit_pair(PoolNodes::new(r.slots()), n, steps, &sz);
                let mut r = Region::new(cap, true);
                let h = firstfit_pair(PoolNodes::new(r.slots()), n, steps, &sz);
                line += &format!(" n={n}: box {b:.1} slab {sl:.1} pool {p:.1} pool+huge {h:.1};");
            }
            println!("{line}");
        }
        return;
    }
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    // Random replacement fragments: room for four area objects per live area.
    let cap = 4 * prefill_count(n) + 1024;
    for round in 0..3 {
        let o = random_offset(n, steps, &sz);
        let b = random_step(BoxNodes, n, steps, &sz);
        let sl = random_step(SlabNodes::new(), n, steps, &sz);
        let mut r = Region::new(cap, false);
        let p = random_step(PoolNodes::new(r.slots()), n, steps, &sz);
        let mut r = Region::new(cap, true);
        let h = random_step(PoolNodes::new(r.slots()), n, steps, &sz);
        println!(
            "round {round}: n={n} offset-allocator {o:.1} box {b:.1} slab {sl:.1} pool {p:.1} pool+huge {h:.1}"
        );
    }
}
