//! alloc+free pairs with N live areas (N = 1e2 … 1e6), side by side in one
//! run: each vmarea policy, freeing by address and by handle. vmarea alone:
//! the comparison with Linux 2.4 and the Rust peers is the command line's
//! (`vmarea compare`, and its criterion version `cli/benches/compare.rs`).
//!
//! Workload, in 4 KiB pages: N live 1-page areas (2 pages with the guard)
//! are laid out from the start of the space, then every 8th is freed to
//! leave holes. Each measured iteration allocates 1–4 pages (+ guard; sizes
//! from a fixed pseudo-random sequence) and frees that area again.
//!
//! `cargo bench -p vmarea --bench alloc` (about 3 minutes);
//! `VMAREA_BENCH_SIZES=100,10000` picks sizes; `--quick` stops at 1e5. The
//! medians and ratios to FirstFit are printed at the end and written to
//! `target/criterion/vmarea-table.md`.

use criterion::{BenchmarkId, Criterion};
use std::hint::black_box;
use std::time::{Duration, SystemTime};
use vmarea::{BoxNodes, Flags, Policy, Space};

use bench_table as criterion_table;
use bench_table::workload::{lay_out, prefill_count, sizes};

const PAGE: usize = 4096;
const START: usize = 0xffff_c900_0000_0000;

fn span_pages(n: usize) -> usize {
    2 * prefill_count(n) + 1024
}

const CONTENDERS: [&str; 6] = [
    "FirstFit",
    "Rfc",
    "InstantFit",
    "BestFit",
    "FirstFit-handle",
    "InstantFit-handle",
];

fn bench_space(
    c: &mut Criterion,
    name: &str,
    policy: Policy,
    by_handle: bool,
    n: usize,
    sz: &[usize],
) {
    let end = START + span_pages(n) * PAGE;
    let mut s = Space::new(START, end, PAGE, policy, BoxNodes).expect("space");
    lay_out(
        &mut s,
        n,
        |s| s.alloc(PAGE, 0, Flags::ALLOC).expect("prefill").addr,
        |s, a| {
            s.free(a).expect("free");
        },
    );
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
        bench_space(&mut c, CONTENDERS[0], Policy::FirstFit, false, n, &sz);
        bench_space(&mut c, CONTENDERS[1], Policy::Rfc, false, n, &sz);
        bench_space(&mut c, CONTENDERS[2], Policy::InstantFit, false, n, &sz);
        bench_space(&mut c, CONTENDERS[3], Policy::BestFit, false, n, &sz);
        bench_space(&mut c, CONTENDERS[4], Policy::FirstFit, true, n, &sz);
        bench_space(&mut c, CONTENDERS[5], Policy::InstantFit, true, n, &sz);
    }
    c.final_summary();
    let rows: Vec<(&str, usize)> = ns.iter().map(|&n| ("pair", n)).collect();
    let mut t = criterion_table::markdown(
        &CONTENDERS,
        &rows,
        start,
        |t, _| t,
        |t, b| format!("{:.2}×", t / b),
    );
    t += "\nMedian ns per alloc+free pair; (N×) = this time ÷ FirstFit's (by address).\n";
    println!("\n{t}");
    let _ = std::fs::write(home.join("vmarea-table.md"), &t);
}
