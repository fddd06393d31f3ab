//! Model test per policy: random allocs and frees (bad inputs included)
//! against a plain map of used intervals. After every step: `validate()`,
//! the used areas equal the model's, and a refused call changed nothing.
//! FirstFit must place at the model's lowest fit; no policy may answer
//! `NoSpace` while the model has a fit.

use cross_tests::vmarea_model::{run, run_over_slabs, run_pooled, run_with, Op, PAGES};
use proptest::prelude::*;
use vmarea::AddressIndex;
use vmarea::Policy;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..24, 0u32..5, any::<bool>(), proptest::option::weighted(0.2, (0usize..PAGES + 8, 0usize..PAGES + 8)), proptest::option::weighted(0.05, 0usize..100_000), prop_oneof![8 => Just(0usize), 2 => 0usize..20], proptest::option::weighted(0.2, 0u32..7))
            .prop_map(|(pages, align_shift, guard, window, raw_align, phase, nocross_shift)| Op::Alloc { pages, align_shift, guard, window, raw_align, phase, nocross_shift }),
        3 => (0usize..64).prop_map(Op::FreeLive),
        1 => (0usize..64).prop_map(Op::FreeHandle),
        2 => (0usize..64).prop_map(Op::FreeLazy),
        1 => Just(Op::Purge),
        1 => (0usize..PAGES + 4).prop_map(Op::FreeAddr),
        1 => (0usize..PAGES + 4).prop_map(Op::Find),
        1 => (any::<bool>(), 0usize..8, 0usize..64).prop_map(|(below, gap, pages)| Op::AddSpan { below, gap, pages }),
    ]
}

/// Native: every run. Under Miri (both borrow models, in CI): a few
/// cases per test, the CI budget's share (25 minutes on 2 cores).
fn cases() -> u32 {
    cross_tests::proptest_cases(200, 2)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: if cfg!(miri) { None } else { ProptestConfig::default().failure_persistence },
        ..ProptestConfig::default()
    })]

    #[test]
    fn rfc_matches_model(ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 30 } else { 200 })) {
        run(Policy::Rfc, &ops);
    }

    #[test]
    fn first_fit_matches_model(ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 30 } else { 200 })) {
        run(Policy::FirstFit, &ops);
    }

    #[test]
    fn instant_fit_matches_model(ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 30 } else { 200 })) {
        run(Policy::InstantFit, &ops);
    }

    #[test]
    fn best_fit_matches_model(ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 30 } else { 200 })) {
        run(Policy::BestFit, &ops);
    }

    #[test]
    fn next_fit_matches_model(ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 30 } else { 200 })) {
        run(Policy::NextFit, &ops);
    }

    /// Without the busy tree: frees by address and `find` walk the list.
    #[test]
    fn no_address_index_matches_model(
        ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 30 } else { 200 }),
        p in 0usize..Policy::ALL.len(),
    ) {
        let policy = Policy::ALL[p];
        run_with(policy, AddressIndex::None, &ops);
    }

    /// With size pools in front of the policy (up to 4 quanta, 3 each).
    #[test]
    fn pooled_matches_model(
        ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 30 } else { 200 }),
        p in 0usize..Policy::ALL.len(),
    ) {
        let policy = Policy::ALL[p];
        run_pooled(policy, 4, 3, &ops);
    }

    /// With the area objects carved from slabs (`SlabNodes`).
    #[test]
    fn slab_nodes_match_model(
        ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 30 } else { 200 }),
        p in 0usize..Policy::ALL.len(),
    ) {
        run_over_slabs(Policy::ALL[p], &ops);
    }
}
