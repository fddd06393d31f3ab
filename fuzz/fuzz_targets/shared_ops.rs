//! The whole safe surface of the shared layer (issue 8 point 9): bytes
//! decode into operations on a `SharedSpace` — caches, guards, deferred
//! frees (also under the lock), lazy frees purged through the flush hook,
//! depot flushes, `vm_map_ram` blocks on two CPUs, `PoolNodes` running
//! out, every owner type moved, swapped and reassigned, the space unshared
//! and shared again — with sizes and alignments up to `usize::MAX`,
//! checked after every step by the model executor the
//! proptest suite uses (`tests/src/shared_model.rs`). cargo fuzz
//! builds it with AddressSanitizer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmarea::Policy;

use cross_tests::shared_model::{run_shared, SOp, PAGES};

/// A raw size or alignment: small page multiples mostly, and edge values.
fn raw(sel: u8, a: u8, b: u8) -> usize {
    let x = usize::from(a) << 8 | usize::from(b);
    match sel % 8 {
        0 => 0,
        1 => usize::MAX,
        2 => usize::MAX - x,
        3 => x.wrapping_mul(4096).wrapping_add(usize::from(b)),
        4 => 1usize.wrapping_shl(u32::from(a % 64)),
        _ => (usize::from(a % 12) + 1) * 4096 - usize::from(b),
    }
}

/// Five bytes per operation: opcode, then four operand bytes.
fn decode(data: &[u8]) -> Vec<SOp> {
    data.chunks_exact(5)
        .map(|c| {
            let (a, b, d, e) = (c[1], c[2], c[3], c[4]);
            let (ua, ub) = (usize::from(a), usize::from(b));
            match c[0] % 23 {
                0..=2 => SOp::Alloc {
                    size: raw(c[0] >> 4, a, b),
                    align: if d & 0x80 != 0 { raw(d, e, a) } else { 0 },
                    guard: e & 1 == 1,
                    window: (e & 6 == 6)
                        .then_some((ub % (PAGES + 8), usize::from(d) % (PAGES + 8))),
                },
                3 | 4 => SOp::CacheAlloc {
                    cache: usize::from(e & 1),
                    size: raw(c[0] >> 4, a, b),
                },
                5 | 6 => SOp::CacheFree {
                    cache: usize::from(e & 1),
                    n: ua,
                },
                7 => SOp::FreeCachedByAddr(ua),
                8 => SOp::Free(ua),
                9 => SOp::FreeLazy(ua),
                10 => SOp::FreeDeferred {
                    n: ua,
                    under_lock: e & 1 == 1,
                },
                11 => SOp::FreeAddr(ua.wrapping_mul(usize::from(b % 3 + 1))),
                12 => SOp::Find(ua),
                13 | 14 => SOp::Map {
                    cpu: usize::from(e & 1),
                    size: if d & 1 == 0 {
                        (ua % 70 + 1) * 4096 - usize::from(b)
                    } else {
                        raw(c[0] >> 4, a, b)
                    },
                },
                15 => SOp::Unmap {
                    cpu: usize::from(e & 1),
                    n: ua,
                },
                16 => match d % 2 {
                    0 => SOp::FreeMappedByAddr(ua),
                    _ => SOp::PurgeBlocks(usize::from(e & 1)),
                },
                17 => SOp::AddSpan {
                    below: e & 1 == 1,
                    gap: ua % 64,
                    pages: if d & 0x80 != 0 { raw(d, e, b) } else { ub % 64 },
                },
                19 => SOp::MoveBlocks {
                    cpu: usize::from(e & 1),
                    swap: d & 1 == 1,
                },
                20 => SOp::MoveCache {
                    cache: usize::from(e & 1),
                    swap: d & 1 == 1,
                },
                21 => match d % 3 {
                    0 => SOp::ReassignBlocks(usize::from(e & 1)),
                    1 => SOp::ReassignCache(usize::from(e & 1)),
                    _ => SOp::Reshare,
                },
                _ => match b % 4 {
                    0 => SOp::Drain,
                    1 => SOp::Purge,
                    2 => SOp::FlushCache(usize::from(e & 1)),
                    _ => SOp::FlushDepot,
                },
            }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let ops = decode(rest);
    let (policy, pool) = match head % 6 {
        0 => (Policy::FirstFit, None),
        1 => (Policy::FirstFit, Some(24)),
        2 => (Policy::InstantFit, Some(16)),
        3 => (Policy::BestFit, None),
        4 => (Policy::Rfc, Some(40)),
        _ => (Policy::Rfc, None),
    };
    run_shared(policy, pool, &ops);
});
