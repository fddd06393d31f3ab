//! A fixed alloc+free workload for instruction counting under callgrind:
//! `pair_profile CONTENDER N PAIRS [handle|handle-only]` (`handle-only`:
//! frees by handle on a space without the busy tree, `AddressIndex::None`;
//! CONTENDER: a vmarea policy,
//! `Rfc` `FirstFit` `InstantFit` `BestFit`, `offset-allocator`, the peer
//! issue 10 measures against, or `linux-2.4`, the baseline, both driven
//! natively and collected in `measured_offset*` / `measured_linux24`) lays out N live one-page areas
//! (two pages with the guard, every 8th freed again to leave holes, as the
//! benches do), then runs PAIRS alloc+free pairs of 1–4 pages (a fixed
//! xorshift sequence) inside `measured`, the only function to collect:
//!
//! ```text
//! cargo build --release -p vmarea-cli --example pair_profile
//! valgrind --tool=callgrind --toggle-collect=pair_profile::measured \
//!     target/release/examples/pair_profile InstantFit 100000 200000
//! ```
//!
//! Instructions per pair = the collected Ir ÷ PAIRS. With `PAIR_POOLS=1`
//! in the environment the space has size pools (`Space::set_pools`, every
//! pooled size, 64 areas each) in front of its policy. Area objects come
//! from slabs (`SlabNodes`), as in the command line's spaces; with
//! `PAIR_NODES=box`, one `Box` each.
//!
//! With `PAIR_ALIGN=65536` the measured requests (vmarea only) are
//! aligned to 64 KiB (issue 23's aligned cell).
//!
//! CONTENDER `vmem`, `xalloc-tlsf` or `buddy-frames` is one of issue 21's
//! peers, driven natively (pairs only: no random-frees mode), collected in
//! `measured_vmem` / `measured_xalloc` / `measured_buddy`.
//!
//! CONTENDER `floor` is the floor (`vmarea_cli::baselines::floor`: a bump
//! pointer and exact-size free stacks, freed by handle, nothing else).
//!
//! For `offset-allocator`, a fourth argument `address` frees by address
//! through the tool's address map (`measured_offset_by_address`): what
//! issue 21 compares vmarea's `free(addr)` with.
//!
//! A fifth argument `random` measures the cache-missing case instead: each
//! step frees a pseudo-randomly chosen live area (by handle) and allocates
//! a new one in its place (`measured_random`, `measured_offset_random`).

use bench_table::workload::{
    is_hole, lay_out, prefill_count, random_index, random_span_pages, sizes, RANDOM_SEED,
};
use std::hint::black_box;
use vmarea::{AddressIndex, BoxNodes, NodeSource, Policy, SlabNodes, Space};
use vmarea_cli::allocators::AddrMap;
use vmarea_cli::baselines::floor::{Floor, FloorArea};
use vmarea_cli::peers::{laid_out_buddy, laid_out_vmem, laid_out_xalloc, Arena as VmemArena};
use vmarea_cli::workload::lay_out_by_handle;

const PAGE: usize = 4096;
const START: usize = 0xffff_c900_0000_0000;

#[inline(never)]
fn measured_linux24(l: &mut vmarea_cli::baselines::linux24::VmList, sizes: &[usize], pairs: usize) {
    for k in 0..pairs {
        let addr = l.get_vm_area(sizes[k & 4095] * PAGE).expect("alloc");
        black_box(l.vfree(addr));
    }
}

#[inline(never)]
fn measured_offset(a: &mut offset_allocator::Allocator<u32>, sizes: &[usize], pairs: usize) {
    for k in 0..pairs {
        // Pages plus the guard page, as the vmarea requests.
        let x = a.allocate(sizes[k & 4095] as u32 + 1).expect("alloc");
        a.free(black_box(x));
    }
}

/// offset-allocator freeing by address, as a kernel's `vfree(addr)` would
/// drive it: the handle kept in the tool's address map (`AddrMap`, one
/// multiply of the page number as the hash), looked up and removed on
/// free.
#[inline(never)]
fn measured_offset_by_address(
    a: &mut offset_allocator::Allocator<u32>,
    map: &mut AddrMap<offset_allocator::Allocation<u32>>,
    sizes: &[usize],
    pairs: usize,
) {
    for k in 0..pairs {
        let x = a.allocate(sizes[k & 4095] as u32 + 1).expect("alloc");
        let addr = START + x.offset as usize * PAGE;
        map.insert(addr, x);
        let x = map.remove(&black_box(addr)).expect("mapped");
        a.free(x);
    }
}

#[inline(never)]
fn measured_vmem(a: &VmemArena, sizes: &[usize], pairs: usize) {
    for k in 0..pairs {
        // Pages plus the guard page, as the vmarea requests; vmem frees by
        // address (its own hash of allocated segments).
        let bytes = (sizes[k & 4095] + 1) * PAGE;
        let x = a
            .alloc(bytes, vmem::AllocPolicy::InstantFit)
            .expect("alloc");
        a.free(black_box(x)).expect("free");
    }
}

#[inline(never)]
fn measured_xalloc(a: &mut xalloc::SysTlsf<u32>, sizes: &[usize], pairs: usize) {
    for k in 0..pairs {
        let (r, _) = a.alloc(sizes[k & 4095] as u32 + 1).expect("alloc");
        a.dealloc(black_box(r)).expect("free");
    }
}

#[inline(never)]
fn measured_buddy(a: &mut buddy_system_allocator::FrameAllocator, sizes: &[usize], pairs: usize) {
    for k in 0..pairs {
        let pages = sizes[k & 4095] + 1;
        let x = a.alloc(pages).expect("alloc");
        a.dealloc(black_box(x), pages);
    }
}

#[inline(never)]
fn measured_floor(f: &mut Floor, sizes: &[usize], pairs: usize) {
    for k in 0..pairs {
        let x = f.alloc(sizes[k & 4095] + 1).expect("alloc");
        f.free(black_box(x));
    }
}

#[inline(never)]
fn measured_floor_random(f: &mut Floor, live: &mut [FloorArea], sizes: &[usize], steps: usize) {
    let mut x = RANDOM_SEED;
    for k in 0..steps {
        let i = random_index(&mut x, live.len());
        f.free(live[i]);
        live[i] = f.alloc(sizes[k & 4095] + 1).expect("alloc");
    }
}

#[inline(never)]
fn measured_offset_random(
    a: &mut offset_allocator::Allocator<u32>,
    live: &mut [offset_allocator::Allocation<u32>],
    sizes: &[usize],
    steps: usize,
) {
    let mut x = RANDOM_SEED;
    for k in 0..steps {
        let i = random_index(&mut x, live.len());
        a.free(live[i]);
        live[i] = a.allocate(sizes[k & 4095] as u32 + 1).expect("alloc");
    }
}

#[inline(never)]
fn measured_random<S: NodeSource>(
    s: &mut Space<S>,
    live: &mut [vmarea::Handle],
    sizes: &[usize],
    steps: usize,
) {
    let mut x = RANDOM_SEED;
    for k in 0..steps {
        let i = random_index(&mut x, live.len());
        // SAFETY: `live` holds each live area's handle once.
        black_box(unsafe { s.free_handle(live[i]) });
        live[i] = s
            .alloc_handle(&s.request(sizes[k & 4095] * PAGE))
            .expect("alloc")
            .1;
    }
}

/// The alignment of the measured requests: `PAIR_ALIGN` bytes (0: the
/// quantum), read once before the measured loop.
fn pair_align() -> usize {
    std::env::var("PAIR_ALIGN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[inline(never)]
fn measured<S: NodeSource>(
    s: &mut Space<S>,
    sizes: &[usize],
    pairs: usize,
    by_handle: bool,
    align: usize,
) {
    for k in 0..pairs {
        let req = s.request(sizes[k & 4095] * PAGE).align(align);
        if by_handle {
            let (_, h) = s.alloc_handle(&req).expect("alloc");
            // SAFETY: `h` was just returned by this space and not freed.
            black_box(unsafe { s.free_handle(h) });
        } else {
            let a = s.alloc_request(&req).expect("alloc");
            black_box(s.free(a.addr).expect("free"));
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let who = args.next().unwrap_or_default();
    let policy = match who.as_str() {
        "Rfc" => Policy::Rfc,
        "FirstFit" => Policy::FirstFit,
        "BestFit" => Policy::BestFit,
        "InstantFit" | "offset-allocator" | "linux-2.4" | "floor" | "vmem" | "xalloc-tlsf"
        | "buddy-frames" => Policy::InstantFit,
        _ => {
            // Never a silent default: a typo would publish another
            // contender's figure under this name.
            eprintln!("pair_profile: unknown contender {who:?}");
            std::process::exit(2);
        }
    };
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let pairs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let mode = args.next().unwrap_or_default();
    let random = args.next().as_deref() == Some("random");
    let by_handle = mode.starts_with("handle");
    let index = if mode == "handle-only" {
        AddressIndex::None
    } else {
        AddressIndex::BusyTree
    };
    let prefill = prefill_count(n);
    let sizes = sizes();
    let span_pages = if random {
        random_span_pages(n)
    } else {
        2 * prefill + 1000
    };
    if who == "linux-2.4" {
        // The prefill's outcome, built directly (N calls would be O(n²)).
        let areas: Vec<(usize, usize)> = (0..prefill)
            .filter(|&i| !is_hole(i))
            .map(|i| (START + 2 * i * PAGE, 2 * PAGE))
            .collect();
        let mut l = vmarea_cli::baselines::linux24::VmList::with_areas(
            START,
            START + span_pages * PAGE,
            &areas,
        );
        measured_linux24(&mut l, &sizes, pairs);
        println!("linux-2.4 n={n} pairs={pairs}");
        return;
    }
    if who == "floor" {
        // Sizes 1-4 pages and the guard: up to 5 pages.
        let mut f = Floor::new(span_pages, 5);
        let mut live = lay_out(
            &mut f,
            n,
            |f| f.alloc(2).expect("prefill"),
            |f, x| f.free(x),
        );
        if random {
            measured_floor_random(&mut f, &mut live, &sizes, pairs);
        } else {
            measured_floor(&mut f, &sizes, pairs);
        }
        println!("floor n={n} pairs={pairs}");
        return;
    }
    if who == "vmem" || who == "xalloc-tlsf" || who == "buddy-frames" {
        if random {
            eprintln!("pair_profile: no random-frees mode for {who}");
            std::process::exit(2);
        }
        run_new_peer(&who, n, span_pages, &sizes, pairs);
        println!("{who} n={n} pairs={pairs}");
        return;
    }
    if who == "offset-allocator" {
        let pages = span_pages as u32;
        // Nodes for every live area and every free region between them
        // (up to one per live area in the random mode): with fewer it runs
        // out mid-measurement (issue 23: `prefill + 64` did, at step 343).
        let nodes = u32::try_from(2 * prefill + 1024).expect("node count fits u32");
        let mut a = offset_allocator::Allocator::<u32>::with_max_allocs(pages, nodes);
        let mut live = lay_out(
            &mut a,
            n,
            |a| a.allocate(2).expect("prefill"),
            |a, x| a.free(x),
        );
        if random {
            measured_offset_random(&mut a, &mut live, &sizes, pairs);
        } else {
            if mode == "address" {
                let mut map = AddrMap::default();
                map.reserve(1024);
                measured_offset_by_address(&mut a, &mut map, &sizes, pairs);
            } else {
                measured_offset(&mut a, &sizes, pairs);
            }
        }
        println!("offset-allocator n={n} pairs={pairs}");
        return;
    }
    // No artefact at a class boundary: the tail is not a power of two.
    let end = START + span_pages * PAGE;
    let run = Run {
        n,
        pairs,
        by_handle,
        random,
    };
    // PAIR_NODES=box: one `Box` per area object, else slabs (`SlabNodes`).
    if std::env::var("PAIR_NODES").as_deref() == Ok("box") {
        let s = Space::with_address_index(START, end, PAGE, policy, index, BoxNodes);
        run_space(s.expect("space"), &run, &sizes);
    } else {
        let s = Space::with_address_index(START, end, PAGE, policy, index, SlabNodes::new());
        run_space(s.expect("space"), &run, &sizes);
    }
}

/// Lays out `n` areas in one of issue 21's new peers (pages plus the guard,
/// holes every 8th, as for every contender), then runs its measured loop.
fn run_new_peer(who: &str, n: usize, span_pages: usize, sizes: &[usize], pairs: usize) {
    match who {
        "vmem" => measured_vmem(&laid_out_vmem(START, span_pages, n), sizes, pairs),
        "xalloc-tlsf" => measured_xalloc(&mut laid_out_xalloc(span_pages, n), sizes, pairs),
        _ => measured_buddy(&mut laid_out_buddy(span_pages, n), sizes, pairs),
    }
}

/// What `main` parsed, for [`run_space`].
struct Run {
    n: usize,
    pairs: usize,
    by_handle: bool,
    random: bool,
}

/// Lays out `run.n` areas in `s`, then runs the measured loop.
fn run_space<S: NodeSource>(mut s: Space<S>, run: &Run, sizes: &[usize]) {
    let Run {
        n,
        pairs,
        by_handle,
        random,
    } = *run;
    let (policy, index) = (s.policy(), s.address_index());
    let mut live = lay_out_by_handle(&mut s, n);
    // PAIR_POOLS=1: size pools for every pooled size, 64 areas each, in
    // front of the policy (filled by the measured frees themselves).
    if std::env::var_os("PAIR_POOLS").is_some() {
        s.set_pools(vmarea::POOL_CLASSES, 64).expect("pools");
    }
    if random {
        measured_random(&mut s, &mut live, sizes, pairs);
        s.validate().expect("valid");
        println!("{policy:?} n={n} steps={pairs} random frees, index={index:?}");
        return;
    }
    measured(&mut s, sizes, pairs, by_handle, pair_align());
    s.validate().expect("valid");
    println!("{policy:?} n={n} pairs={pairs} by_handle={by_handle} index={index:?}");
}
