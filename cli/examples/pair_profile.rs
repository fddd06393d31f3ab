//! A fixed alloc+free workload for instruction counting under callgrind:
//! `pair_profile CONTENDER N PAIRS [handle|handle-only]` (`handle-only`:
//! frees by handle on a space without the busy tree, `AddressIndex::None`;
//! CONTENDER: a vmarea policy,
//! `Rfc` `FirstFit` `InstantFit` `BestFit`, or `offset-allocator`, the
//! peer issue 10 measures against, driven natively) lays out N live one-page areas
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
//! Instructions per pair = the collected Ir ÷ PAIRS.

use std::hint::black_box;
use vmarea::{AddressIndex, BoxNodes, Flags, Policy, Space};

const PAGE: usize = 4096;
const START: usize = 0xffff_c900_0000_0000;

#[inline(never)]
fn measured_offset(a: &mut offset_allocator::Allocator<u32>, sizes: &[usize], pairs: usize) {
    for k in 0..pairs {
        // Pages plus the guard page, as the vmarea requests.
        let x = a.allocate(sizes[k & 4095] as u32 + 1).expect("alloc");
        a.free(black_box(x));
    }
}

#[inline(never)]
fn measured(s: &mut Space<BoxNodes>, sizes: &[usize], pairs: usize, by_handle: bool) {
    for k in 0..pairs {
        let req = s.request(sizes[k & 4095] * PAGE);
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

/// Sizes in pages: a fixed xorshift sequence of 1–4.
fn sizes() -> Vec<usize> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1 + (x % 4) as usize
        })
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let who = args.next().unwrap_or_default();
    let policy = match who.as_str() {
        "Rfc" => Policy::Rfc,
        "FirstFit" => Policy::FirstFit,
        "BestFit" => Policy::BestFit,
        _ => Policy::InstantFit,
    };
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let pairs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let mode = args.next().unwrap_or_default();
    let by_handle = mode.starts_with("handle");
    let index = if mode == "handle-only" {
        AddressIndex::None
    } else {
        AddressIndex::BusyTree
    };
    let prefill = n + n / 8;
    let sizes = sizes();
    if who == "offset-allocator" {
        let pages = (2 * prefill + 1000) as u32;
        let mut a = offset_allocator::Allocator::<u32>::with_max_allocs(pages, prefill as u32 + 64);
        let all: Vec<_> = (0..prefill)
            .map(|_| a.allocate(2).expect("prefill"))
            .collect();
        for (i, x) in all.into_iter().enumerate() {
            if i % 8 == 7 {
                a.free(x);
            }
        }
        measured_offset(&mut a, &sizes, pairs);
        println!("offset-allocator n={n} pairs={pairs}");
        return;
    }
    // No artefact at a class boundary: the tail is not a power of two.
    let end = START + (2 * prefill + 1000) * PAGE;
    let mut s =
        Space::with_address_index(START, end, PAGE, policy, index, BoxNodes).expect("space");
    let one_page = s.request(PAGE).flags(Flags::ALLOC);
    let all: Vec<_> = (0..prefill)
        .map(|_| s.alloc_handle(&one_page).expect("prefill").1)
        .collect();
    for (i, h) in all.into_iter().enumerate() {
        if i % 8 == 7 {
            // SAFETY: `h` came from this space and is freed once.
            unsafe { s.free_handle(h) };
        }
    }
    measured(&mut s, &sizes, pairs, by_handle);
    s.validate().expect("valid");
    println!("{policy:?} n={n} pairs={pairs} by_handle={by_handle} index={index:?}");
}
