//! The test_vmalloc cases (the same ones `vmarea test-vmalloc` ports), run
//! in the kernel on real mappings: every allocation is filled with a
//! pattern over its whole usable size and checked before it is freed; some
//! frees go through the timer interrupt (`vfree_atomic`). Loop counts are
//! the module's smoke sizes, scaled down where a case maps thousands of
//! pages at once (noted per case). After each case the space must validate
//! and hold no area.

use crate::println;
use crate::vmalloc::{self, check, fill, Vm, VMALLOC};

const P: usize = 4096;
const LOOPS: usize = 1000;

/// xorshift64*.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// Allocates, fills, checks, frees (every 8th free from the interrupt).
struct Vms {
    frees: usize,
    bad: usize,
}

impl Vms {
    fn alloc(&mut self, size: usize, align: usize) -> Option<Vm> {
        let v = vmalloc::vmalloc_align(size, align)?;
        fill(&v);
        Some(v)
    }

    fn free(&mut self, v: Vm) {
        if !check(&v) {
            self.bad += 1;
        }
        self.frees += 1;
        if !self.frees.is_multiple_of(8) || !vmalloc::vfree_from_irq(v) {
            vmalloc::vfree(v);
        }
    }

    fn pair(&mut self, size: usize, align: usize) -> bool {
        match self.alloc(size, align) {
            Some(v) => {
                self.free(v);
                true
            }
            None => false,
        }
    }
}

fn fix_size(vm: &mut Vms, _: &mut Rng) -> bool {
    (0..LOOPS).all(|_| vm.pair(P, 0))
}

/// The module makes fls(ncpu) * 8192 one-page holes; 1024 here (each hole
/// costs a mapped page).
fn full_fit(vm: &mut Vms, _: &mut Rng) -> bool {
    let mut ptr = [None; 1024];
    let mut junk = [None; 1024];
    for i in 0..ptr.len() {
        ptr[i] = vm.alloc(P, 0);
        junk[i] = vm.alloc(P, 0);
    }
    junk.iter_mut()
        .filter_map(Option::take)
        .for_each(|v| vm.free(v));
    let ok = ptr.iter().all(Option::is_some) && (0..LOOPS).all(|_| vm.pair(P, 0));
    ptr.iter_mut()
        .filter_map(Option::take)
        .for_each(|v| vm.free(v));
    ok
}

/// The module keeps 15,000 areas live; 1,500 here.
fn long_busy_list(vm: &mut Vms, _: &mut Rng) -> bool {
    let mut busy = [None; 1500];
    for b in busy.iter_mut() {
        *b = vm.alloc(P, 0);
    }
    let ok = busy.iter().all(Option::is_some)
        && (0..LOOPS / 10).all(|_| {
            let (Some(a), Some(b)) = (vm.alloc(100 * P, 0), vm.alloc(P, 0)) else {
                return false;
            };
            vm.free(a);
            vm.free(b);
            true
        });
    busy.iter_mut()
        .filter_map(Option::take)
        .for_each(|v| vm.free(v));
    ok
}

fn random_size(vm: &mut Vms, rng: &mut Rng) -> bool {
    (0..LOOPS / 10).all(|_| vm.pair(rng.inclusive(1, 100) as usize * P, 0))
}

fn fix_align(vm: &mut Vms, _: &mut Rng) -> bool {
    (0..LOOPS).all(|_| vm.pair(5 * P, 32 * 1024))
}

fn random_size_align(vm: &mut Vms, rng: &mut Rng) -> bool {
    (0..LOOPS).all(|_| {
        let r = rng.next() as u8;
        vm.pair((r as usize % 10 + 1) * P, 1 << (r % 23))
    })
}

/// Alignments 2^0 … 2^63: the module says it "is supposed to be failed"
/// once the alignment exceeds the space; it passes if the large ones fail
/// cleanly and every small one succeeds.
fn align_shift(vm: &mut Vms, _: &mut Rng) -> bool {
    (0..64).all(|i| {
        let ok = vm.pair(P, 1usize << i);
        ok == ((1usize << i) <= vmalloc::VMALLOC_END - vmalloc::VMALLOC_START)
    })
}

/// The module keeps 35,000 small objects live; 3,500 here.
fn pcpu(vm: &mut Vms, rng: &mut Rng) -> bool {
    let mut objs = [None; 3500];
    for o in objs.iter_mut() {
        let size = rng.inclusive(1, P as u64 / 4) as usize;
        *o = vm.alloc(size, 1 << rng.inclusive(1, 11));
    }
    let ok = objs.iter().all(Option::is_some);
    objs.iter_mut()
        .filter_map(Option::take)
        .for_each(|v| vm.free(v));
    ok
}

/// `vm_map_ram_test`: map one page (the module's `nr_pages` default) from
/// CPU 0's blocks, write it, unmap it; the blocks are purged afterwards
/// so the space holds only its permanent areas again.
fn vm_map_ram(_: &mut Vms, _: &mut Rng) -> bool {
    let ok = (0..LOOPS).all(|i| {
        let Some(m) = vmalloc::vm_map_ram(0, 1) else {
            return false;
        };
        let p = m.addr() as *mut u8;
        // SAFETY: the page at `m.addr()` was just mapped, writable, for us.
        let seen = unsafe {
            p.write_volatile(b'a' + (i % 26) as u8);
            p.read_volatile()
        };
        vmalloc::vm_unmap_ram(0, m, 1);
        seen == b'a' + (i % 26) as u8
    });
    let mut blocks = vmalloc::BLOCKS[0].lock();
    ok && blocks.validate().is_ok() && {
        blocks.purge();
        blocks.blocks() == 0
    }
}

type Case = fn(&mut Vms, &mut Rng) -> bool;

const CASES: [(&str, Case, usize); 9] = [
    ("fix_size_alloc_test", fix_size, LOOPS),
    ("full_fit_alloc_test", full_fit, LOOPS),
    ("long_busy_list_alloc_test", long_busy_list, LOOPS / 10),
    ("random_size_alloc_test", random_size, LOOPS / 10),
    ("fix_align_alloc_test", fix_align, LOOPS),
    ("random_size_align_alloc_test", random_size_align, LOOPS),
    ("align_shift_alloc_test", align_shift, 64),
    ("pcpu_alloc_test", pcpu, 3500),
    ("vm_map_ram_test", vm_map_ram, LOOPS),
];

/// Runs every case; false if any failed.
pub fn run_all() -> bool {
    let mut rng = Rng(0x7e57_ab1e_u64.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut all_ok = true;
    for (name, case, loops) in CASES {
        let mut vm = Vms { frees: 0, bad: 0 };
        let t0 = crate::arch::rdtsc();
        let ok = case(&mut vm, &mut rng);
        let cycles = crate::arch::rdtsc() - t0;
        // Let the interrupt free what it was given, then check the space.
        crate::wait_until(|| vmalloc::irq_queue_len() == 0);
        let g = VMALLOC.lock();
        let valid = g.validate();
        let left = g.used_count();
        drop(g);
        let passed = ok
            && vm.bad == 0
            && valid.is_ok()
            && left == vmalloc::PERMANENT.load(core::sync::atomic::Ordering::Relaxed);
        println!(
            "Summary: {name} passed: {} failed: {} repeat: 1 loops: {loops} avg: {cycles} cycles",
            usize::from(passed),
            usize::from(!passed)
        );
        if !passed {
            println!(
                "  {name}: ok={ok} pattern errors={} validate={valid:?} areas left={left}",
                vm.bad
            );
        }
        all_ok &= passed;
    }
    all_ok
}
