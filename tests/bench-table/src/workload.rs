//! The pair workload every benchmark of the allocators shares (the
//! criterion sweeps in `vmarea/benches/alloc.rs` and `cli/benches/compare.rs`,
//! the main job's sweep in `cli/src/compare.rs`, and the profiling examples
//! `cli/examples/pair_profile.rs` and `node_layout.rs`, which lay it out on
//! a vmarea space through `vmarea_cli::workload`): N live
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

/// Pages of the space for the random-frees workload: random replacement
/// grows the live set to about 3.5 pages per area, and the span (not a
/// power of two) leaves no free tail at a size-class boundary.
pub fn random_span_pages(n: usize) -> usize {
    6 * prefill_count(n) + 1000
}

/// The next index of the random-frees workload: xorshift64 on `x`, taken
/// modulo `len`.
pub fn random_index(x: &mut u64, len: usize) -> usize {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    (*x % len as u64) as usize
}

/// The seed of [`random_index`]'s sequence.
pub const RANDOM_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// The layout every allocator bench starts from, on any allocator `a`:
/// [`prefill_count`]`(n)` areas made by `alloc` in order, then every 8th
/// handed to `free` again, leaving holes. Returns the `n` live ones in
/// prefill order.
pub fn lay_out<A, T>(
    a: &mut A,
    n: usize,
    mut alloc: impl FnMut(&mut A) -> T,
    mut free: impl FnMut(&mut A, T),
) -> Vec<T> {
    let all: Vec<T> = (0..prefill_count(n)).map(|_| alloc(a)).collect();
    let mut live = Vec::with_capacity(n);
    for (i, x) in all.into_iter().enumerate() {
        if is_hole(i) {
            free(a, x);
        } else {
            live.push(x);
        }
    }
    live
}
