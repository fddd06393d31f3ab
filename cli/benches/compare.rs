//! alloc+free pairs with N live areas (N = 1e2 … 1e6), side by side in one
//! run: each vmarea policy (free by address, and by handle; InstantFit also
//! with size pools and no busy tree, freeing by handle only), a faithful
//! Linux 2.4 `get_vm_area`/`vfree` (the RFC's problem, the baseline), the
//! Rust range allocators `offset-allocator`, `range-alloc`, `vmem`,
//! `xalloc`'s TLSF and `buddy_system_allocator`'s frame allocator, and the
//! floor (a bump pointer and exact-size free stacks, `baselines::floor`).
//!
//! Workload, in 4 KiB pages: N live 1-page areas (2 pages with the guard)
//! are laid out from the start of the space, then every 8th is freed to
//! leave holes. Each measured iteration allocates 1–4 pages (+ guard; sizes
//! from a fixed pseudo-random sequence) and frees that area again.
//!
//! Group `random` is the cache-missing case (issue 10): from the same
//! layout in a larger span (`random_span_pages`), each iteration frees a
//! pseudo-randomly chosen live area by handle and allocates one of 1–4
//! pages (+ guard) in its place, for the contenders that free by handle.
//!
//! The criterion version of `vmarea compare`'s sweep (same contenders,
//! native calls, no trait object in the measured loop; vmarea's area
//! objects from slabs, `SlabNodes`, as there).
//! `cargo bench -p vmarea-cli --bench compare` (about 5 minutes);
//! `VMAREA_BENCH_SIZES=100,10000` picks sizes; `--quick` stops at 1e5. The
//! 2.4 baseline is cut off above 1e5 live areas (each call walks them all).
//! The medians and ratios to the baseline are printed at the end and written
//! to `target/criterion/compare-table.md`.

use criterion::{BenchmarkId, Criterion};
use std::hint::black_box;
use std::time::{Duration, SystemTime};
use vmarea::{AddressIndex, Policy, SlabNodes, Space};

use bench_table as criterion_table;
use bench_table::workload::{
    lay_out, prefill_count, random_index, random_span_pages, sizes, RANDOM_SEED,
};
use vmarea_cli::baselines::floor::Floor;
use vmarea_cli::baselines::linux24;
use vmarea_cli::workload::lay_out_by_handle;

const PAGE: usize = 4096;
const START: usize = 0xffff_c900_0000_0000;
const BASELINE_MAX: usize = 100_000;

fn span_pages(n: usize) -> usize {
    2 * prefill_count(n) + 1024
}

const CONTENDERS: [&str; 14] = [
    "linux-2.4",
    "Rfc",
    "FirstFit",
    "InstantFit",
    "BestFit",
    "FirstFit-handle",
    "InstantFit-handle",
    "offset-allocator",
    "range-alloc",
    "InstantFit-pools-handle-only",
    "floor",
    "vmem",
    "xalloc-tlsf",
    "buddy-frames",
];

/// How a vmarea contender is set up and frees.
#[derive(Clone, Copy)]
struct Setup {
    /// Free by handle (else by address).
    by_handle: bool,
    /// No busy tree (`AddressIndex::None`) and size pools in front of the
    /// policy: the configuration an `offset-allocator` user would pick
    /// (frees by handle only).
    pooled_handle_only: bool,
}

const BY_ADDRESS: Setup = Setup {
    by_handle: false,
    pooled_handle_only: false,
};
const BY_HANDLE: Setup = Setup {
    by_handle: true,
    pooled_handle_only: false,
};
const POOLED_HANDLE_ONLY: Setup = Setup {
    by_handle: true,
    pooled_handle_only: true,
};

fn bench_space(
    c: &mut Criterion,
    name: &str,
    policy: Policy,
    setup: Setup,
    n: usize,
    sz: &[usize],
) {
    let end = START + span_pages(n) * PAGE;
    let index = if setup.pooled_handle_only {
        AddressIndex::None
    } else {
        AddressIndex::BusyTree
    };
    let mut s = Space::with_address_index(START, end, PAGE, policy, index, SlabNodes::new())
        .expect("space");
    lay_out_by_handle(&mut s, n);
    if setup.pooled_handle_only {
        s.set_pools(vmarea::POOL_CLASSES, 64).expect("pools");
    }
    let by_handle = setup.by_handle;
    let mut k = 0usize;
    c.benchmark_group("pair")
        .bench_function(BenchmarkId::new(name, n), |b| {
            b.iter(|| {
                let pages = sz[k & 4095];
                k += 1;
                let req = s.request(pages * PAGE);
                if by_handle {
                    let (_, h) = s.alloc_handle(&req).expect("alloc");
                    // SAFETY: `h` was just returned by this space and not freed.
                    black_box(unsafe { s.free_handle(h) });
                } else {
                    let a = s.alloc_request(&req).expect("alloc");
                    black_box(s.free(a.addr).expect("free"));
                }
            })
        });
}

fn bench_linux24(c: &mut Criterion, n: usize, sz: &[usize]) {
    // The prefill's outcome: 2-page areas from the start, every 8th gone.
    let areas: Vec<(usize, usize)> = (0..prefill_count(n))
        .filter(|&i| !bench_table::workload::is_hole(i))
        .map(|i| (START + 2 * i * PAGE, 2 * PAGE))
        .collect();
    let mut l = linux24::VmList::with_areas(START, START + span_pages(n) * PAGE, &areas);
    let mut k = 0usize;
    let mut g = c.benchmark_group("pair");
    if n >= 10_000 {
        g.sample_size(10);
    }
    g.bench_function(BenchmarkId::new(CONTENDERS[0], n), |b| {
        b.iter(|| {
            let addr = l.get_vm_area(sz[k & 4095] * PAGE).expect("alloc");
            k += 1;
            black_box(l.vfree(addr));
        })
    });
}

fn bench_offset(c: &mut Criterion, n: usize, sz: &[usize]) {
    let pages = span_pages(n) as u32;
    let mut a = offset_allocator::Allocator::<u32>::with_max_allocs(pages, (n + n / 8 + 64) as u32);
    lay_out(
        &mut a,
        n,
        |a| a.allocate(2).expect("prefill"),
        |a, x| a.free(x),
    );
    let mut k = 0usize;
    c.benchmark_group("pair")
        .bench_function(BenchmarkId::new(CONTENDERS[7], n), |b| {
            b.iter(|| {
                let x = a.allocate(sz[k & 4095] as u32 + 1).expect("alloc");
                k += 1;
                a.free(black_box(x));
            })
        });
}

fn bench_floor(c: &mut Criterion, n: usize, sz: &[usize]) {
    let mut f = Floor::new(span_pages(n), 5);
    lay_out(
        &mut f,
        n,
        |f| f.alloc(2).expect("prefill"),
        |f, x| f.free(x),
    );
    let mut k = 0usize;
    c.benchmark_group("pair")
        .bench_function(BenchmarkId::new(CONTENDERS[10], n), |b| {
            b.iter(|| {
                let x = f.alloc(sz[k & 4095] + 1).expect("alloc");
                k += 1;
                f.free(black_box(x));
            })
        });
}

fn bench_range_alloc(c: &mut Criterion, n: usize, sz: &[usize]) {
    let mut a = range_alloc::RangeAllocator::new(0..span_pages(n));
    lay_out(
        &mut a,
        n,
        |a| a.allocate_range(2).expect("prefill"),
        |a, r| a.free_range(r),
    );
    let mut k = 0usize;
    c.benchmark_group("pair")
        .bench_function(BenchmarkId::new(CONTENDERS[8], n), |b| {
            b.iter(|| {
                let r = a.allocate_range(sz[k & 4095] + 1).expect("alloc");
                k += 1;
                a.free_range(black_box(r));
            })
        });
}

/// Issue 21's peers, each freeing its own way: `vmem` by address (its hash
/// of allocated segments), `xalloc`'s TLSF by region handle, the buddy by
/// frame and count.
fn bench_new_peers(c: &mut Criterion, n: usize, sz: &[usize]) {
    let span = span_pages(n);
    let mut k = 0usize;
    let arena = vmarea_cli::peers::laid_out_vmem(START, span, n);
    c.benchmark_group("pair")
        .bench_function(BenchmarkId::new(CONTENDERS[11], n), |b| {
            b.iter(|| {
                let bytes = (sz[k & 4095] + 1) * PAGE;
                k += 1;
                let x = arena
                    .alloc(bytes, vmem::AllocPolicy::InstantFit)
                    .expect("alloc");
                arena.free(black_box(x)).expect("free");
            })
        });
    let mut tlsf = vmarea_cli::peers::laid_out_xalloc(span, n);
    c.benchmark_group("pair")
        .bench_function(BenchmarkId::new(CONTENDERS[12], n), |b| {
            b.iter(|| {
                let (r, _) = tlsf.alloc(sz[k & 4095] as u32 + 1).expect("alloc");
                k += 1;
                tlsf.dealloc(black_box(r)).expect("free");
            })
        });
    let mut buddy = vmarea_cli::peers::laid_out_buddy(span, n);
    c.benchmark_group("pair")
        .bench_function(BenchmarkId::new(CONTENDERS[13], n), |b| {
            b.iter(|| {
                let pages = sz[k & 4095] + 1;
                k += 1;
                let x = buddy.alloc(pages).expect("alloc");
                buddy.dealloc(black_box(x), pages);
            })
        });
}

/// One `random` cell: `replace(slot, pages)` frees the area in `slot` and
/// puts a new one of `pages` pages (+ guard) there.
fn bench_random<T>(
    c: &mut Criterion,
    name: &str,
    n: usize,
    sz: &[usize],
    mut live: Vec<T>,
    mut replace: impl FnMut(&mut T, usize),
) {
    let mut x = RANDOM_SEED;
    let mut k = 0usize;
    c.benchmark_group("random")
        .bench_function(BenchmarkId::new(name, n), |b| {
            b.iter(|| {
                let i = random_index(&mut x, live.len());
                replace(&mut live[i], sz[k & 4095]);
                k += 1;
            })
        });
}

/// One vmarea `random` cell: a space laid out as the others.
fn bench_random_space(
    c: &mut Criterion,
    name: &str,
    (policy, index, pools): (Policy, AddressIndex, bool),
    n: usize,
    sz: &[usize],
) {
    let span = random_span_pages(n);
    let source = SlabNodes::new();
    let mut s = Space::with_address_index(START, START + span * PAGE, PAGE, policy, index, source)
        .expect("space");
    let live = lay_out_by_handle(&mut s, n);
    if pools {
        s.set_pools(vmarea::POOL_CLASSES, 64).expect("pools");
    }
    bench_random(c, name, n, sz, live, |h, pages| {
        // SAFETY: `live` holds each live area's handle once.
        black_box(unsafe { s.free_handle(*h) });
        *h = s.alloc_handle(&s.request(pages * PAGE)).expect("alloc").1;
    });
}

/// The random-frees contenders at `n` live areas.
fn bench_random_all(c: &mut Criterion, n: usize, sz: &[usize]) {
    let span = random_span_pages(n);
    let busy = AddressIndex::BusyTree;
    for (name, policy) in [
        ("FirstFit-handle", Policy::FirstFit),
        ("InstantFit-handle", Policy::InstantFit),
    ] {
        bench_random_space(c, name, (policy, busy, false), n, sz);
    }
    bench_random_space(
        c,
        "InstantFit-pools-handle-only",
        (Policy::InstantFit, AddressIndex::None, true),
        n,
        sz,
    );
    // Its node array holds free ranges too, and random replacement
    // fragments: room for four nodes per live area.
    let mut a = offset_allocator::Allocator::<u32>::with_max_allocs(
        span as u32,
        (4 * prefill_count(n) + 64) as u32,
    );
    let live = lay_out(
        &mut a,
        n,
        |a| a.allocate(2).expect("prefill"),
        |a, x| a.free(x),
    );
    bench_random(c, CONTENDERS[7], n, sz, live, |x, pages| {
        a.free(*x);
        *x = a.allocate(pages as u32 + 1).expect("alloc");
    });
    let mut f = Floor::new(span, 5);
    let live = lay_out(
        &mut f,
        n,
        |f| f.alloc(2).expect("prefill"),
        |f, x| f.free(x),
    );
    bench_random(c, CONTENDERS[10], n, sz, live, |x, pages| {
        f.free(*x);
        *x = f.alloc(pages + 1).expect("alloc");
    });
}

fn main() {
    let home = criterion_table::home();
    let quick = std::env::args().any(|a| a == "--quick");
    let ns: Vec<usize> = std::env::var("VMAREA_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| {
            if quick {
                vec![100, 1_000, 10_000, 100_000]
            } else {
                vec![100, 1_000, 10_000, 100_000, 1_000_000]
            }
        });
    let start = SystemTime::now();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let sz = sizes();
    for &n in &ns {
        if n <= BASELINE_MAX {
            bench_linux24(&mut c, n, &sz);
        }
        bench_space(&mut c, CONTENDERS[1], Policy::Rfc, BY_ADDRESS, n, &sz);
        bench_space(&mut c, CONTENDERS[2], Policy::FirstFit, BY_ADDRESS, n, &sz);
        bench_space(
            &mut c,
            CONTENDERS[3],
            Policy::InstantFit,
            BY_ADDRESS,
            n,
            &sz,
        );
        bench_space(&mut c, CONTENDERS[4], Policy::BestFit, BY_ADDRESS, n, &sz);
        bench_space(&mut c, CONTENDERS[5], Policy::FirstFit, BY_HANDLE, n, &sz);
        bench_space(&mut c, CONTENDERS[6], Policy::InstantFit, BY_HANDLE, n, &sz);
        bench_offset(&mut c, n, &sz);
        bench_range_alloc(&mut c, n, &sz);
        bench_space(
            &mut c,
            CONTENDERS[9],
            Policy::InstantFit,
            POOLED_HANDLE_ONLY,
            n,
            &sz,
        );
        bench_floor(&mut c, n, &sz);
        bench_new_peers(&mut c, n, &sz);
        bench_random_all(&mut c, n, &sz);
    }
    c.final_summary();
    let rows: Vec<(&str, usize)> = ns
        .iter()
        .map(|&n| ("pair", n))
        .chain(ns.iter().map(|&n| ("random", n)))
        .collect();
    let mut t = criterion_table::markdown(
        &CONTENDERS,
        &rows,
        start,
        |t, _| t,
        |t, b| format!("{:.0}× faster", b / t),
    );
    t += &format!(
        "\nMedian ns per alloc+free pair (group `pair`) or per random replacement \
         (group `random`); (N× faster) = linux-2.4 time ÷ this time. \
         linux-2.4 is cut off above {BASELINE_MAX} live areas and not in `random`.\n"
    );
    println!("\n{t}");
    let _ = std::fs::write(home.join("compare-table.md"), &t);
}
