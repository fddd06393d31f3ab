//! Model test of the whole shared surface (issue 8 point 12): a
//! `SharedSpace` with caches, guards, deferred and lazy frees, purges
//! through the flush hook, `PoolNodes` running out (`NoNode`) and `BoxNodes`;
//! see `tests/src/shared_model.rs` for what is checked after every step.

use cross_tests::shared_model::{run_shared, SOp, PAGES};
use proptest::prelude::*;
use vmarea::Policy;

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => (1usize..12).prop_map(|p| p * 4096 - 100),
        1 => Just(0usize),
        1 => prop_oneof![Just(usize::MAX), Just(usize::MAX / 2), any::<usize>()],
    ]
}

fn op() -> impl Strategy<Value = SOp> {
    prop_oneof![
        5 => (size(), prop_oneof![Just(0usize), Just(4096), Just(1 << 15), Just(usize::MAX), any::<usize>()],
              any::<bool>(), proptest::option::weighted(0.1, (0usize..PAGES + 4, 0usize..PAGES + 4)))
            .prop_map(|(size, align, guard, window)| SOp::Alloc { size, align, guard, window }),
        4 => (0usize..2, prop_oneof![(1usize..9).prop_map(|p| p * 4096), size()])
            .prop_map(|(cache, size)| SOp::CacheAlloc { cache, size }),
        4 => (0usize..2, 0usize..64).prop_map(|(cache, n)| SOp::CacheFree { cache, n }),
        1 => (0usize..64).prop_map(SOp::FreeCachedByAddr),
        2 => (0usize..64).prop_map(SOp::Free),
        2 => (0usize..64).prop_map(SOp::FreeLazy),
        2 => (0usize..64, any::<bool>()).prop_map(|(n, under_lock)| SOp::FreeDeferred { n, under_lock }),
        1 => (0usize..PAGES + 4).prop_map(SOp::FreeAddr),
        1 => (0usize..PAGES + 4).prop_map(SOp::Find),
        1 => Just(SOp::Drain),
        1 => Just(SOp::Purge),
        1 => (0usize..2).prop_map(SOp::FlushCache),
        1 => Just(SOp::FlushDepot),
        4 => (0usize..2, prop_oneof![8 => (1usize..70).prop_map(|p| p * 4096 - 7), 1 => size()])
            .prop_map(|(cpu, size)| SOp::Map { cpu, size }),
        3 => (0usize..2, 0usize..64).prop_map(|(cpu, n)| SOp::Unmap { cpu, n }),
        1 => (0usize..64).prop_map(SOp::FreeMappedByAddr),
        1 => (0usize..2).prop_map(SOp::PurgeBlocks),
        1 => (any::<bool>(), prop_oneof![Just(0usize), 1usize..64, Just(usize::MAX / 4096)], prop_oneof![Just(0usize), 1usize..64, any::<usize>()])
            .prop_map(|(below, gap, pages)| SOp::AddSpan { below, gap, pages }),
        1 => (0usize..2, any::<bool>()).prop_map(|(cpu, swap)| SOp::MoveBlocks { cpu, swap }),
        1 => (0usize..2).prop_map(SOp::ReassignBlocks),
        1 => (0usize..2, any::<bool>()).prop_map(|(cache, swap)| SOp::MoveCache { cache, swap }),
        1 => (0usize..2).prop_map(SOp::ReassignCache),
        1 => Just(SOp::Reshare),
    ]
}

fn cases() -> u32 {
    cross_tests::proptest_cases(64, 1)
}

fn len() -> std::ops::Range<usize> {
    0..if cfg!(miri) { 25 } else { 150 }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: if cfg!(miri) { None } else { ProptestConfig::default().failure_persistence },
        ..ProptestConfig::default()
    })]

    #[test]
    fn shared_surface_matches_model_first_fit_boxes(ops in proptest::collection::vec(op(), len())) {
        run_shared(Policy::FirstFit, None, &ops);
    }

    #[test]
    fn shared_surface_matches_model_instant_fit_pool(ops in proptest::collection::vec(op(), len())) {
        run_shared(Policy::InstantFit, Some(24), &ops);
    }

    #[test]
    fn shared_surface_matches_model_rfc_pool(ops in proptest::collection::vec(op(), len())) {
        run_shared(Policy::Rfc, Some(40), &ops);
    }

    #[test]
    fn shared_surface_matches_model_best_fit_boxes(ops in proptest::collection::vec(op(), len())) {
        run_shared(Policy::BestFit, None, &ops);
    }
}
