//! The benches' starting layout on a vmarea space, freed by handle: the
//! one piece of `bench_table::workload` that needs vmarea's types, shared
//! by the criterion sweep (`benches/compare.rs`) and the profiling
//! examples (`pair_profile`, `node_layout`).

use bench_table::workload::lay_out;
use vmarea::{Flags, Handle, NodeSource, Space};

/// Lays out [`lay_out`]'s layout on `s`: one-quantum areas (`Flags::ALLOC`,
/// a guard quantum each) from the bottom of the space, every 8th freed
/// again by its handle. Returns the `n` live handles in prefill order.
pub fn lay_out_by_handle<S: NodeSource>(s: &mut Space<S>, n: usize) -> Vec<Handle> {
    let one = s.request(s.quantum()).flags(Flags::ALLOC);
    lay_out(
        s,
        n,
        |s| s.alloc_handle(&one).expect("prefill").1,
        // SAFETY: each prefilled area is freed once, by its own handle.
        |s, h| unsafe {
            s.free_handle(h);
        },
    )
}
