//! Throughput of alloc+free pairs through a `SharedSpace` with 1 and 2
//! threads: every pair under the lock, against per-thread magazine caches;
//! for a fixed size (fix_size_alloc_test: 1 page + guard) and random sizes
//! (1–4 pages + guard). Median of 7 runs of 200,000 pairs per thread.
//!
//! `cargo bench -p vmarea --features alloc --bench shared`

use std::time::Instant;
use vmarea::{BoxNodes, Flags, Policy, RawSpinlock, Request, SharedSpace, Space};

const Q: usize = 4096;
const S: usize = 0xffff_c900_0000_0000;
const PAIRS: usize = 200_000;

fn run(threads: usize, cached: bool, random: bool) -> f64 {
    let sh: SharedSpace<RawSpinlock, BoxNodes> =
        SharedSpace::new(Space::new(S, S + (1 << 30), Q, Policy::FirstFit, BoxNodes).unwrap());
    let t = Instant::now();
    std::thread::scope(|scope| {
        for id in 0..threads {
            let sh = &sh;
            scope.spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ id as u64;
                let mut size = || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if random {
                        (1 + (x % 4) as usize) * Q
                    } else {
                        Q
                    }
                };
                if cached {
                    let mut c = sh.cache(Flags::ALLOC);
                    for _ in 0..PAIRS {
                        let a = c.alloc(size()).unwrap();
                        c.free(std::hint::black_box(a)).unwrap();
                    }
                } else {
                    for _ in 0..PAIRS {
                        let req = Request {
                            size: size(),
                            align: 0,
                            flags: Flags::ALLOC,
                            tag: 0,
                            lo: S,
                            hi: S + (1 << 30),
                            phase: 0,
                            nocross: 0,
                        };
                        let a = sh.alloc_request(&req).unwrap();
                        sh.free(std::hint::black_box(a.addr)).unwrap();
                    }
                }
            });
        }
    });
    (threads * PAIRS) as f64 / t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a.starts_with("--format")) {
        return; // `cargo test --benches` probing: nothing to list
    }
    println!("| workload | threads | lock: Mpairs/s | caches: Mpairs/s | caches ÷ lock |");
    println!("|---|---|---|---|---|");
    for (name, random) in [("fix_size (1 page)", false), ("random (1-4 pages)", true)] {
        for threads in [1, 2] {
            let lock = median((0..7).map(|_| run(threads, false, random)).collect()) / 1e6;
            let cache = median((0..7).map(|_| run(threads, true, random)).collect()) / 1e6;
            println!(
                "| {name} | {threads} | {lock:.2} | {cache:.2} | {:.1}× |",
                cache / lock
            );
        }
    }
}
