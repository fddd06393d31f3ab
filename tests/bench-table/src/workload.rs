//! The pair workload every benchmark of the allocators shares (the
//! criterion sweeps in `vmarea/benches/alloc.rs` and `cli/benches/compare.rs`,
//! and the callgrind harness `cli/examples/pair_profile.rs`): N live
//! one-page areas (two with the guard) laid out from the start of the space,
//! every 8th freed again to leave holes, then requests of 1–4 pages.

/// Sizes in pages for the measured allocations: a fixed xorshift sequence
/// of 1–4, 4096 long (index it with `k & 4095`).
pub fn sizes() -> Vec<usize> {
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

/// How many one-page areas the prefill allocates so that N stay live once
/// every 8th is freed.
pub fn prefill_count(n: usize) -> usize {
    n + n / 8
}

/// Whether prefill area `i` is freed again (every 8th), leaving a hole.
pub fn is_hole(i: usize) -> bool {
    i % 8 == 7
}

/// The prefill areas to free again: every 8th.
pub fn holes<T>(all: Vec<T>) -> impl Iterator<Item = T> {
    all.into_iter()
        .enumerate()
        .filter(|&(i, _)| is_hole(i))
        .map(|(_, x)| x)
}
