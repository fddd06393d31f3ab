//! Decodes bytes into tree operations and runs them against the sorted-Vec
//! model shared with the proptest suite (`tests/src/avl_model.rs`),
//! validating the tree after every step, on a plain and an augmented tree.
#![no_main]

use libfuzzer_sys::fuzz_target;

use cross_tests::avl_model::{run, Op};

/// Three bytes per operation: opcode, then two operand bytes.
fn decode(data: &[u8]) -> Vec<Op> {
    data.chunks_exact(3)
        .map(|c| {
            let (a, b) = (u64::from(c[1] % 48), u64::from(c[2]) * 4);
            match c[0] % 20 {
                0..=4 => Op::Insert(a, b),
                5 => Op::InsertMulti(a, b),
                6 | 7 => Op::Remove(a),
                8 => Op::RemovePtr(usize::from(c[2])),
                9 => Op::Find(a),
                10 => Op::Bounds(a),
                11 => Op::Range(a, u64::from(c[2] % 48), c[2] & 1 == 1),
                12 => Op::Walk(a, (0..c[2] % 8).map(|i| c[2] >> i & 1 == 1).collect()),
                13 => Op::InsertBefore(a, b),
                14 => Op::InsertAfter(a, b),
                15 => Op::Replace(a, b),
                16 => Op::SetVal(a, b),
                17 => {
                    if c[2] & 1 == 0 {
                        Op::PopFront
                    } else {
                        Op::PopBack
                    }
                }
                18 => Op::LowestAtLeast(b),
                _ => match c[2] % 8 {
                    0 => Op::Clear,
                    1 => Op::Drain(usize::from(c[1] % 8)),
                    _ => Op::IterBoth(usize::from(c[1] % 64)),
                },
            }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let ops = decode(data);
    run::<cross_tests::avl_fixture::ByKey>(&ops, false);
    run::<cross_tests::avl_fixture::ByKeyMax>(&ops, true);
});
