//! Model test: random sequences of every operation against a sorted `Vec`
//! model, `validate()` after every step, on a plain and an augmented tree.

use cross_tests::avl_fixture::*;
use cross_tests::avl_model::{run, Op};
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    let k = 0u64..48;
    let v = 0u64..1000;
    prop_oneof![
        6 => (k.clone(), v.clone()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => (k.clone(), v.clone()).prop_map(|(k, v)| Op::InsertMulti(k, v)),
        4 => k.clone().prop_map(Op::Remove),
        2 => (0usize..64).prop_map(Op::RemovePtr),
        1 => k.clone().prop_map(Op::Find),
        1 => k.clone().prop_map(Op::Bounds),
        1 => (k.clone(), k.clone(), any::<bool>()).prop_map(|(a, b, i)| Op::Range(a, b, i)),
        1 => (k.clone(), proptest::collection::vec(any::<bool>(), 0..8)).prop_map(|(k, s)| Op::Walk(k, s)),
        1 => (k.clone(), v.clone()).prop_map(|(k, v)| Op::InsertBefore(k, v)),
        1 => (k.clone(), v.clone()).prop_map(|(k, v)| Op::InsertAfter(k, v)),
        1 => (k.clone(), v.clone()).prop_map(|(k, v)| Op::Replace(k, v)),
        2 => (k.clone(), v.clone()).prop_map(|(k, v)| Op::SetVal(k, v)),
        1 => Just(Op::PopFront),
        1 => Just(Op::PopBack),
        1 => (0usize..64).prop_map(Op::IterBoth),
        1 => (0u64..1100).prop_map(Op::LowestAtLeast),
        1 => (0usize..8).prop_map(Op::Drain),
        1 => Just(Op::Clear),
    ]
}

/// Native: every run. Under Miri (both borrow models, in CI): a few
/// cases per test, the CI budget's share (25 minutes on 2 cores).
fn cases() -> u32 {
    cross_tests::proptest_cases(256, 3)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Miri's isolation forbids the file system that persistence uses.
        failure_persistence: if cfg!(miri) { None } else { ProptestConfig::default().failure_persistence },
        ..ProptestConfig::default()
    })]

    #[test]
    fn plain_tree_matches_model(ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 40 } else { 300 })) {
        run::<ByKey>(&ops, false);
    }

    #[test]
    fn augmented_tree_matches_model(ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 40 } else { 300 })) {
        run::<ByKeyMax>(&ops, true);
    }
}
