//! `vm_map_ram` against an area per mapping, for instruction counting under
//! callgrind: `vmap_profile blocks|areas PAIRS` maps and unmaps one page
//! PAIRS times on a `SharedSpace` (FirstFit, 1e4 live one-page areas laid
//! out first), either through one CPU's `VmapBlocks` (`measured_blocks`)
//! or as `alloc_request` + `free_lazy` of a one-page `MAP | NO_GUARD` area
//! under the space's lock (`measured_areas`, what `vm_map_ram` does above
//! `VMAP_MAX_ALLOC`). Only the measured function is collected:
//!
//! ```text
//! cargo build --release -p vmarea-cli --example vmap_profile
//! valgrind --tool=callgrind --toggle-collect='vmap_profile::measured*' \
//!     target/release/examples/vmap_profile blocks 200000
//! ```
//!
//! Instructions per pair = the collected Ir ÷ PAIRS. Both include the
//! purges their lazy frees trigger (the flush hook is not set).

use std::hint::black_box;
use vmarea::{BoxNodes, Flags, Policy, RawSpinlock, SharedSpace, Space, VmapBlocks};

const PAGE: usize = 4096;
const START: usize = 0xffff_c900_0000_0000;

type Shared = SharedSpace<RawSpinlock, BoxNodes>;

#[inline(never)]
fn measured_blocks(vb: &mut VmapBlocks<'_, RawSpinlock, BoxNodes>, pairs: usize) {
    for _ in 0..pairs {
        let m = vb.map(PAGE).expect("map");
        black_box(m.addr());
        vb.unmap(m).expect("unmap");
    }
}

#[inline(never)]
fn measured_areas(sh: &Shared, pairs: usize) {
    let req = sh.request(PAGE).flags(Flags::MAP | Flags::NO_GUARD);
    for _ in 0..pairs {
        let (a, _) = sh.alloc_handle(&req).expect("alloc");
        black_box(a.addr);
        sh.lock().free_lazy(a.addr).expect("free");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, pairs) = match &args[..] {
        [_, m, p] => (m.as_str(), p.parse().expect("PAIRS")),
        _ => {
            eprintln!("usage: vmap_profile blocks|areas PAIRS");
            std::process::exit(2);
        }
    };
    let space =
        Space::new(START, START + (1 << 40), PAGE, Policy::FirstFit, BoxNodes).expect("space");
    let sh: Shared = SharedSpace::new(space);
    for _ in 0..10_000 {
        sh.alloc(PAGE, 0, Flags::ALLOC).expect("prefill");
    }
    match mode {
        "blocks" => measured_blocks(&mut VmapBlocks::new(&sh), pairs),
        "areas" => measured_areas(&sh, pairs),
        _ => {
            eprintln!("mode: blocks or areas");
            std::process::exit(2);
        }
    }
}
