//! Decodes bytes into allocator operations (bad inputs included) and runs
//! them on every policy against the interval model shared with the
//! proptest suite (`tests/src/vmarea_model.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmarea::{AddressIndex, Policy};

use cross_tests::vmarea_model::{run_over_slabs, run_pooled, run_with, Op, PAGES};

/// Four bytes per operation: opcode, then three operand bytes.
fn decode(data: &[u8]) -> Vec<Op> {
    data.chunks_exact(4)
        .map(|c| {
            let (a, b, d) = (usize::from(c[1]), usize::from(c[2]), usize::from(c[3]));
            match c[0] % 8 {
                0..=3 => Op::Alloc {
                    pages: a % 24,
                    align_shift: u32::from(c[2] % 6),
                    guard: d & 1 == 1,
                    window: (d & 6 == 6).then_some((b % (PAGES + 8), d % (PAGES + 8))),
                    raw_align: (c[0] & 0x80 != 0).then_some(a * 257 + b),
                    phase: if c[0] & 0x40 != 0 { b % 20 } else { 0 },
                    nocross_shift: (c[0] & 0x20 != 0).then_some(u32::from(c[3] % 8)),
                },
                4 => Op::FreeLive(a),
                5 => match b % 3 {
                    0 => Op::FreeHandle(a),
                    1 => Op::FreeLazy(a),
                    _ => Op::Purge,
                },
                6 => Op::FreeAddr(a + b % 8),
                _ if d % 16 == 15 => Op::AddSpan {
                    below: b & 1 == 1,
                    gap: b % 5,
                    pages: a % 48,
                },
                _ => Op::Find(a),
            }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    // The first byte's low bit drops the busy tree (AddressIndex::None);
    // its next bit puts size pools in front of the policy instead, and the
    // one after takes the area objects from slabs (`SlabNodes`) instead.
    let head = data.first().copied().unwrap_or(0);
    let index = if head & 1 == 1 {
        AddressIndex::None
    } else {
        AddressIndex::BusyTree
    };
    let pools = head & 2 == 2;
    let slabs = head & 4 == 4;
    let ops = decode(data.get(1..).unwrap_or_default());
    for &policy in Policy::ALL {
        if pools {
            run_pooled(policy, 4, 3, &ops);
        } else if slabs {
            run_over_slabs(policy, &ops);
        } else {
            run_with(policy, index, &ops);
        }
    }
});
