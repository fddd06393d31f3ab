//! The stress case on every CPU at once: each CPU allocates from its own
//! per-CPU cache (small areas) and from the shared space (larger ones),
//! fills every area with the pattern, and hands about half of them to the
//! next CPU, which checks and frees them: cached areas into its own cache
//! (dirty, no IPI), the rest lazily into the space. Only purges flush, in
//! batches, with one shootdown IPI per other CPU each. The log gives per
//! CPU and in total the allocations, cross-CPU frees, shootdown IPIs sent
//! and handled, the space lock's acquisitions (contended ones apart) and
//! its longest and mean hold, and the line CI reads:
//! `smp_stress: cpus N frees F ipis I ipis_per_free X`.

use crate::cases::Rng;
use crate::shootdown::{HANDLED_ON, IPIS_SENT, SENT_BY};
use crate::smp::{self, MAX_CPUS};
use crate::vmalloc::{self, Vm};
use crate::{arch, println};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use vmarea::Cached;

/// One configuration of the case: where areas come from and go back to.
pub struct Backend {
    /// The case's name in its `Summary:` line and its counts line.
    pub test: &'static str,
    pub line: &'static str,
    vmalloc: fn(usize, usize) -> Option<Vm>,
    vfree: fn(Vm),
    cached: fn(usize, usize) -> Option<Cached<'static>>,
    uncached: fn(usize, Cached<'static>),
    /// Builds what the backend needs, on the boot CPU (whose stack is
    /// large: a node is tens of KiB while it is built).
    prepare: fn(),
    /// Empties caches and depots and purges; (valid, used areas).
    finish: fn() -> (bool, usize),
}

/// One `SharedSpace` for all CPUs, a cache per CPU.
pub static SHARED: Backend = Backend {
    test: "smp_stress_test",
    line: "smp_stress",
    vmalloc: |_, size| vmalloc::vmalloc(size),
    vfree: vmalloc::vfree,
    cached: vmalloc::vmalloc_cached,
    uncached: vmalloc::vunmap_cached,
    prepare: || {},
    finish: || {
        for cache in vmalloc::CACHES.iter().take(smp::online()) {
            cache.lock().flush();
        }
        vmalloc::VMALLOC.flush_depot();
        vmalloc::VMALLOC.purge();
        let g = vmalloc::VMALLOC.lock();
        let valid = g.validate().is_ok();
        let left = g.used_count() - vmalloc::PERMANENT.load(Ordering::Relaxed);
        (valid, left)
    },
};

/// A `ShardedSpace` with a node per CPU (`sharded.rs`).
pub static SHARDED: Backend = Backend {
    test: "smp_stress_sharded_test",
    line: "smp_stress_sharded",
    vmalloc: crate::sharded::vmalloc,
    vfree: crate::sharded::vfree,
    cached: crate::sharded::vmalloc_cached,
    uncached: crate::sharded::vunmap_cached,
    prepare: crate::sharded::prepare,
    finish: crate::sharded::finish,
};

/// The backend `worker` uses (set by `run` before the CPUs start).
static CURRENT_IS_SHARDED: AtomicBool = AtomicBool::new(false);

fn backend() -> &'static Backend {
    if CURRENT_IS_SHARDED.load(Ordering::Acquire) {
        &SHARDED
    } else {
        &SHARED
    }
}

/// Iterations per CPU.
pub const LOOPS: usize = 3000;
const MAILBOX: usize = 64;
const P: usize = 4096;

enum Item {
    Cached(Cached<'static>),
    Vm(Vm),
}

impl Item {
    fn range(&self) -> (usize, usize) {
        match self {
            Item::Cached(c) => (c.addr(), c.usable()),
            Item::Vm(v) => (v.addr, v.usable),
        }
    }
}

/// Areas sent to each CPU, to be checked and freed there.
struct Mailbox {
    items: [Option<Item>; MAILBOX],
    len: usize,
}

static MAILBOXES: [spin::Mutex<Mailbox>; MAX_CPUS] = [const {
    spin::Mutex::new(Mailbox {
        items: [const { None }; MAILBOX],
        len: 0,
    })
}; MAX_CPUS];

/// Per CPU: done sending; counters.
static FINISHED: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static ALLOCS: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
static CACHED_ALLOCS: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
static CROSS_FREES: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
static FAILURES: AtomicUsize = AtomicUsize::new(0);
static CYCLES: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

fn free(cpu: usize, item: Item) {
    let (addr, len) = item.range();
    if !vmalloc::check_range(addr, len) {
        FAILURES.fetch_add(1, Ordering::Relaxed);
    }
    let b = backend();
    match item {
        Item::Cached(c) => (b.uncached)(cpu, c),
        Item::Vm(v) => (b.vfree)(v),
    }
}

/// Checks and frees what the other CPU sent.
fn drain(cpu: usize) {
    loop {
        let item = {
            let mut m = MAILBOXES[cpu].lock();
            if m.len == 0 {
                return;
            }
            m.len -= 1;
            let n = m.len;
            m.items[n].take()
        };
        if let Some(item) = item {
            free(cpu, item);
            CROSS_FREES[cpu].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Hands `item` to CPU `to`; gives it back if its mailbox is full.
fn send(to: usize, item: Item) -> Option<Item> {
    let mut m = MAILBOXES[to].lock();
    if m.len == MAILBOX {
        return Some(item);
    }
    let n = m.len;
    m.items[n] = Some(item);
    m.len += 1;
    None
}

/// One CPU's part.
fn worker(cpu: usize) {
    let other = (cpu + 1) % smp::online();
    let mut rng = Rng(0x5eed_0000_0001 ^ ((cpu as u64 + 1) << 32) | 1);
    let t0 = arch::rdtsc();
    for _ in 0..LOOPS {
        let r = rng.next();
        let item = if r.is_multiple_of(2) {
            // A cached class: up to 7 usable pages (8 with the guard).
            let size = rng.inclusive(1, 7 * P as u64) as usize;
            (backend().cached)(cpu, size).map(|c| {
                CACHED_ALLOCS[cpu].fetch_add(1, Ordering::Relaxed);
                Item::Cached(c)
            })
        } else {
            (backend().vmalloc)(cpu, rng.inclusive(1, 16) as usize * P).map(Item::Vm)
        };
        let Some(item) = item else {
            FAILURES.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        ALLOCS[cpu].fetch_add(1, Ordering::Relaxed);
        let (addr, len) = item.range();
        vmalloc::fill_range(addr, len);
        let kept = if (r >> 8).is_multiple_of(2) && other != cpu {
            send(other, item)
        } else {
            Some(item)
        };
        if let Some(item) = kept {
            free(cpu, item);
        }
        drain(cpu);
    }
    // Items come from the previous CPU: drain until every CPU has stopped
    // sending (with two CPUs that was the other one; with more, waiting
    // for the next one left the previous one's last items unfreed).
    FINISHED[cpu].store(true, Ordering::Release);
    let all_done = || (0..smp::online()).all(|c| FINISHED[c].load(Ordering::Acquire));
    while !all_done() {
        drain(cpu);
        core::hint::spin_loop();
    }
    drain(cpu);
    CYCLES[cpu].store(arch::rdtsc() - t0, Ordering::Relaxed);
}

/// Runs the case on every CPU with backend `b`, then empties the caches,
/// purges, and checks the space(s). True if it passed.
pub fn run(b: &'static Backend) -> bool {
    (b.prepare)();
    CURRENT_IS_SHARDED.store(core::ptr::eq(b, &SHARDED), Ordering::Release);
    for c in [&ALLOCS, &CACHED_ALLOCS, &CROSS_FREES] {
        for x in c {
            x.store(0, Ordering::Relaxed);
        }
    }
    for f in &FINISHED {
        f.store(false, Ordering::Relaxed);
    }
    FAILURES.store(0, Ordering::Relaxed);
    let cpus = smp::online();
    let ipis_at_start = IPIS_SENT.load(Ordering::Relaxed);
    let sent_at_start: [usize; MAX_CPUS] =
        core::array::from_fn(|c| SENT_BY[c].load(Ordering::Relaxed));
    let handled_at_start: [usize; MAX_CPUS] =
        core::array::from_fn(|c| HANDLED_ON[c].load(Ordering::Relaxed));
    vmalloc::reset_lock_stats();
    smp::run_on_all(worker);
    let ipis_in_stress = IPIS_SENT.load(Ordering::Relaxed) - ipis_at_start;
    // Every range freed in the case flushed: its IPIs count too.
    let (valid, left) = (b.finish)();
    let ipis = IPIS_SENT.load(Ordering::Relaxed) - ipis_at_start;
    let cross: usize = CROSS_FREES.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    let allocs: usize = ALLOCS.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    let failures = FAILURES.load(Ordering::Relaxed);
    // Every allocation is freed once, by its CPU or the next one.
    let frees = allocs;
    let passed = cpus == smp::CPUS
        && failures == 0
        && valid
        && left == 0
        && CROSS_FREES
            .iter()
            .take(cpus)
            .all(|c| c.load(Ordering::Relaxed) > 0)
        && ipis_in_stress > 0;
    let cycles = CYCLES
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    println!(
        "Summary: {} passed: {} failed: {} repeat: 1 loops: {LOOPS} avg: {cycles} cycles",
        b.test,
        usize::from(passed),
        usize::from(!passed)
    );
    let (mut acq, mut contended, mut hold_max, mut hold_sum) = (0, 0, 0, 0);
    for cpu in 0..cpus {
        let a = vmalloc::LOCK_ACQUIRES[cpu].load(Ordering::Relaxed);
        let c = vmalloc::LOCK_CONTENDED[cpu].load(Ordering::Relaxed);
        let m = vmalloc::LOCK_HOLD_MAX[cpu].load(Ordering::Relaxed);
        let h = vmalloc::LOCK_HOLD_SUM[cpu].load(Ordering::Relaxed);
        (acq, contended, hold_max, hold_sum) =
            (acq + a, contended + c, hold_max.max(m), hold_sum + h);
        println!(
            "  CPU {cpu}: {} allocations ({} from its cache), {} cross-CPU frees, IPIs {} sent {} handled, space lock {a} acquisitions ({c} contended), hold max {m} mean {} cycles",
            ALLOCS[cpu].load(Ordering::Relaxed),
            CACHED_ALLOCS[cpu].load(Ordering::Relaxed),
            CROSS_FREES[cpu].load(Ordering::Relaxed),
            SENT_BY[cpu].load(Ordering::Relaxed) - sent_at_start[cpu],
            HANDLED_ON[cpu].load(Ordering::Relaxed) - handled_at_start[cpu],
            h / a.max(1),
        );
    }
    println!(
        "  total: {allocs} allocations, {cross} cross-CPU frees, {ipis} IPIs, space lock{} {acq} acquisitions ({contended} contended), hold max {hold_max} mean {} cycles; failures {failures}, valid {valid}, areas left {left}",
        if core::ptr::eq(b, &SHARDED) { "s" } else { "" },
        hold_sum / acq.max(1)
    );
    let per_free = (ipis as u64 * 10_000 + frees as u64 / 2) / (frees as u64).max(1);
    println!(
        "{}: cpus {cpus} frees {frees} ipis {ipis} ipis_per_free {}.{:04}",
        b.line,
        per_free / 10_000,
        per_free % 10_000
    );
    passed
}
