//! Test support shared by the model suites in `tests/tests/` and the fuzz
//! targets in `fuzz/`: each model executor applies an operation both to the
//! real structure and to a plain model, then checks `validate()`, the full
//! contents, and that refused calls changed nothing. One executor per
//! structure, so a proptest case and a fuzz input check the same things.
//!
//! - [`avl_fixture`], [`avl_model`]: the tree against a sorted `Vec`.
//! - [`vmarea_model`]: a `Space` per policy against a map of intervals.
//! - [`shared_model`]: the whole safe surface of `SharedSpace` (caches,
//!   guards, deferred and lazy frees, the flush hook, running out of nodes).
// Test support, not an API: its items are documented where they are not
// obvious from the model they mirror.
#![allow(missing_docs)]

/// Proptest cases per suite: `native` normally, `miri` under Miri (about
/// 1000× slower); `PROPTEST_CASES` overrides both.
pub fn proptest_cases(native: u32, miri: u32) -> u32 {
    let default = if cfg!(miri) { miri } else { native };
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub mod avl_fixture;
pub mod avl_model;
pub mod shared_model;
pub mod vmarea_model;
