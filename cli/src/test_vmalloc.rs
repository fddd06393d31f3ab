//! A port of Linux's `lib/test_vmalloc.c` as a benchmark of the address
//! range allocator alone (no pages are mapped). Each `vmalloc(n pages)` is
//! an allocation of n pages plus the guard page the allocator adds.
//!
//! Parameters keep the module's names and defaults; the output keeps its
//! `Summary:` lines (`avg` is the average µs of one whole test run).

use crate::allocators::{VmAlloc, PAGE};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The module's parameters.
#[derive(Debug, Clone)]
pub struct Params {
    /// Workers running the tests at once (0 means 1, as the module clamps).
    pub nr_threads: usize,
    /// Run the tests in order instead of a per-worker random order.
    pub sequential_test_order: bool,
    /// Runs of each test per worker.
    pub test_repeat_count: usize,
    /// Iterations of each test's loop.
    pub test_loop_count: usize,
    /// Pages for `fix_size_alloc_test` (0 means 1).
    pub nr_pages: usize,
    /// Bit i runs test i (see [`TESTS`]).
    pub run_test_mask: u32,
    /// Seed of the workers' random numbers.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            nr_threads: 0,
            sequential_test_order: false,
            test_repeat_count: 1,
            test_loop_count: 1_000_000,
            nr_pages: 0,
            run_test_mask: ALL_TESTS_MASK,
            seed: 0x7e57_ab1e,
        }
    }
}

/// xorshift64*: small, seeded, good enough for workload sizes.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `[lo, hi]`.
    pub fn inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// How far a run has got, readable while it runs: loop iterations done in
/// all workers (counted in batches of [`LOOP_BATCH`], so the shared counter
/// is touched once per batch), and a stop flag that ends every worker's
/// loops early (when not all workers could be started).
#[derive(Debug, Default)]
pub struct Progress {
    loops: AtomicU64,
    stop: AtomicBool,
}

/// Loop iterations a worker counts locally before adding them to
/// [`Progress`].
pub const LOOP_BATCH: usize = 1024;

impl Progress {
    /// Loop iterations done so far, in all workers.
    pub fn loops(&self) -> u64 {
        self.loops.load(Ordering::Relaxed)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Why a run could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The machine would not start a worker thread; those started stopped
    /// early.
    Workers {
        /// Workers asked for.
        wanted: usize,
        /// Workers started.
        started: usize,
        /// The system's answer.
        reason: String,
    },
    /// A worker panicked (an allocator bug).
    WorkerPanicked,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Workers {
                wanted,
                started,
                reason,
            } => write!(
                f,
                "could start only {started} of {wanted} workers ({reason}); \
                 lower nr_threads"
            ),
            RunError::WorkerPanicked => f.write_str("a worker panicked"),
        }
    }
}

impl std::error::Error for RunError {}

/// The allocator as the tests see it: `vmalloc`/`vfree` on a shared space.
pub struct Vm<'a> {
    inner: &'a Mutex<Box<dyn VmAlloc + Send>>,
    cpus: usize,
    progress: &'a Progress,
}

impl Vm<'_> {
    /// The indices of a test's loop of `n` iterations, counted into the
    /// run's [`Progress`] as they go; ends early when the run is stopped.
    fn loops(&self, n: usize) -> impl Iterator<Item = usize> + '_ {
        (0..n)
            .take_while(move |i| i % LOOP_BATCH != 0 || !self.progress.stopped())
            .inspect(move |&i| {
                let done = i + 1;
                if done % LOOP_BATCH == 0 {
                    self.progress
                        .loops
                        .fetch_add(LOOP_BATCH as u64, Ordering::Relaxed);
                } else if done == n {
                    self.progress
                        .loops
                        .fetch_add((n % LOOP_BATCH) as u64, Ordering::Relaxed);
                }
            })
    }

    fn vmalloc(&self, size: usize) -> Option<usize> {
        self.vmalloc_align(size, 0)
    }
    fn vmalloc_align(&self, size: usize, align: usize) -> Option<usize> {
        self.inner
            .lock()
            .expect("allocator lock")
            .alloc(size, align)
    }
    fn vfree(&self, addr: usize) {
        let freed = self.inner.lock().expect("allocator lock").free(addr);
        debug_assert!(freed, "vfree of an address the test allocated");
    }
    fn vm_map_ram(&self, size: usize) -> Option<usize> {
        self.inner.lock().expect("allocator lock").map_ram(size)
    }
    fn vm_unmap_ram(&self, addr: usize) {
        let freed = self.inner.lock().expect("allocator lock").unmap_ram(addr);
        debug_assert!(freed, "vm_unmap_ram of an address the test mapped");
    }
}

type Test = fn(&Vm<'_>, &Params, &mut Rng) -> bool;

/// The tests, in the module's order; test i is selected by bit
/// [`MASK_BIT`]`[i]` of `run_test_mask`, the module's own bit.
pub const TESTS: [(&str, Test); 9] = [
    ("fix_size_alloc_test", fix_size_alloc_test),
    ("full_fit_alloc_test", full_fit_alloc_test),
    ("long_busy_list_alloc_test", long_busy_list_alloc_test),
    ("random_size_alloc_test", random_size_alloc_test),
    ("fix_align_alloc_test", fix_align_alloc_test),
    ("random_size_align_alloc_test", random_size_align_alloc_test),
    ("align_shift_alloc_test", align_shift_alloc_test),
    ("pcpu_alloc_test", pcpu_alloc_test),
    ("vm_map_ram_test", vm_map_ram_test),
];

/// The module's `run_test_mask` bit of each test in [`TESTS`]: bits 8 and
/// 9 are its `kvfree_rcu` tests (not ported: they need RCU), so
/// `vm_map_ram_test` is bit 10.
pub const MASK_BIT: [u32; TESTS.len()] = [0, 1, 2, 3, 4, 5, 6, 7, 10];

/// The mask selecting test `idx` of [`TESTS`] alone.
pub const fn mask_of(idx: usize) -> u32 {
    1 << MASK_BIT[idx]
}

/// Whether `mask` selects test `idx` of [`TESTS`].
pub const fn selects(mask: u32, idx: usize) -> bool {
    mask & mask_of(idx) != 0
}

/// Every ported test's bit.
pub const ALL_TESTS_MASK: u32 = {
    let mut m = 0;
    let mut i = 0;
    while i < TESTS.len() {
        m |= mask_of(i);
        i += 1;
    }
    m
};

/// Tests the module expects to fail ("this test case is supposed to be
/// failed": alignments past the space cannot be met); their failures do not
/// make the run fail.
pub const EXPECTED_TO_FAIL: [&str; 1] = ["align_shift_alloc_test"];

/// Names of the tests that failed at least once in `reports` and are not
/// expected to, in test order.
pub fn unexpected_failures(reports: &[WorkerReport]) -> Vec<&'static str> {
    (0..TESTS.len())
        .filter(|&i| !EXPECTED_TO_FAIL.contains(&TESTS[i].0))
        .filter(|&i| {
            reports.iter().any(|r| {
                r.tests
                    .get(i)
                    .and_then(Option::as_ref)
                    .is_some_and(|t| t.failed > 0)
            })
        })
        .map(|i| TESTS[i].0)
        .collect()
}

/// The module's bounds on `nr_threads` (`clamp(nr_threads, 1, USHRT_MAX)`).
pub const fn clamp_threads(n: usize) -> usize {
    if n < 1 {
        1
    } else if n > u16::MAX as usize {
        u16::MAX as usize
    } else {
        n
    }
}

fn fix_size_alloc_test(vm: &Vm<'_>, p: &Params, _: &mut Rng) -> bool {
    // A size past the address type fails, as the module's vmalloc would:
    // it never wraps to a small one.
    let Some(size) = p.nr_pages.max(1).checked_mul(PAGE) else {
        return false;
    };
    vm.loops(p.test_loop_count)
        .all(|_| vm.vmalloc(size).map(|a| vm.vfree(a)).is_some())
}

/// Equal one-page holes everywhere (`fls(ncpu) * 32 MiB / PAGE` of them),
/// then one-page allocations that fit a hole exactly.
fn full_fit_alloc_test(vm: &Vm<'_>, p: &Params, _: &mut Rng) -> bool {
    let fls = usize::BITS - vm.cpus.leading_zeros();
    let junk_length = fls as usize * (32 * 1024 * 1024 / PAGE);
    let mut ptr = Vec::with_capacity(junk_length);
    let mut junk = Vec::with_capacity(junk_length);
    for _ in 0..junk_length {
        ptr.push(vm.vmalloc(PAGE));
        junk.push(vm.vmalloc(PAGE));
    }
    junk.into_iter().flatten().for_each(|a| vm.vfree(a));
    let ok = ptr.iter().all(Option::is_some)
        && vm
            .loops(p.test_loop_count)
            .all(|_| vm.vmalloc(PAGE).map(|a| vm.vfree(a)).is_some());
    ptr.into_iter().flatten().for_each(|a| vm.vfree(a));
    ok
}

fn long_busy_list_alloc_test(vm: &Vm<'_>, p: &Params, _: &mut Rng) -> bool {
    let busy: Vec<Option<usize>> = (0..15_000).map(|_| vm.vmalloc(PAGE)).collect();
    let ok = busy.iter().all(Option::is_some)
        && vm.loops(p.test_loop_count).all(|_| {
            let Some(a) = vm.vmalloc(100 * PAGE) else {
                return false;
            };
            let Some(b) = vm.vmalloc(PAGE) else {
                vm.vfree(a);
                return false;
            };
            vm.vfree(a);
            vm.vfree(b);
            true
        });
    busy.into_iter().flatten().for_each(|a| vm.vfree(a));
    ok
}

fn random_size_alloc_test(vm: &Vm<'_>, p: &Params, rng: &mut Rng) -> bool {
    vm.loops(p.test_loop_count).all(|_| {
        let n = rng.inclusive(1, 100) as usize;
        vm.vmalloc(n * PAGE).map(|a| vm.vfree(a)).is_some()
    })
}

/// Five pages aligned to `THREAD_ALIGN << 1` (x86-64: 16 KiB << 1).
fn fix_align_alloc_test(vm: &Vm<'_>, p: &Params, _: &mut Rng) -> bool {
    vm.loops(p.test_loop_count).all(|_| {
        vm.vmalloc_align(5 * PAGE, 32 * 1024)
            .map(|a| vm.vfree(a))
            .is_some()
    })
}

fn random_size_align_alloc_test(vm: &Vm<'_>, p: &Params, rng: &mut Rng) -> bool {
    vm.loops(p.test_loop_count).all(|_| {
        let r = rng.next_u64() as u8; // the module draws a u8
        let align = 1usize << (r % 23);
        let size = ((r % 10) as usize + 1) * PAGE;
        vm.vmalloc_align(size, align).map(|a| vm.vfree(a)).is_some()
    })
}

/// Alignments 2^0 … 2^63: expected to fail once the alignment exceeds the
/// space (the module says "This test case is supposed to be failed").
fn align_shift_alloc_test(vm: &Vm<'_>, _: &Params, _: &mut Rng) -> bool {
    (0..usize::BITS).all(|i| {
        vm.vmalloc_align(PAGE, 1usize << i)
            .map(|a| vm.vfree(a))
            .is_some()
    })
}

/// 35,000 small objects (1 … PAGE/4 bytes, aligned to 2^1 … 2^11) live at
/// once, then all freed: the per-CPU allocator's load on the vmalloc space.
fn pcpu_alloc_test(vm: &Vm<'_>, _: &Params, rng: &mut Rng) -> bool {
    let objs: Vec<Option<usize>> = (0..35_000)
        .map(|_| {
            let size = rng.inclusive(1, PAGE as u64 / 4) as usize;
            let align = 1usize << rng.inclusive(1, 11);
            vm.vmalloc_align(size, align)
        })
        .collect();
    let ok = objs.iter().all(Option::is_some);
    objs.into_iter().flatten().for_each(|a| vm.vfree(a));
    ok
}

/// `nr_pages` pages (at least one) mapped with `vm_map_ram` and unmapped,
/// `test_loop_count` times. Pages are not mapped here, so the module's
/// write through the mapping has no counterpart.
fn vm_map_ram_test(vm: &Vm<'_>, p: &Params, _: &mut Rng) -> bool {
    let Some(size) = p.nr_pages.max(1).checked_mul(PAGE) else {
        return false;
    };
    vm.loops(p.test_loop_count)
        .all(|_| vm.vm_map_ram(size).map(|a| vm.vm_unmap_ram(a)).is_some())
}

/// One test's outcome on one worker.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Runs that succeeded.
    pub passed: usize,
    /// Runs that failed.
    pub failed: usize,
    /// Average µs of one run.
    pub avg_usec: u64,
}

/// What one worker measured: per test (None if masked out) and in total.
#[derive(Debug, Clone)]
pub struct WorkerReport {
    /// Indexed like [`TESTS`].
    pub tests: Vec<Option<Outcome>>,
    /// Wall time of the worker's whole sequence, µs.
    pub total_usec: u64,
}

/// Runs the selected tests on `alloc` with `p.nr_threads` workers (each its
/// own test order unless `sequential_test_order`), as the module does.
/// `progress` is called after each test run; `loops` counts loop
/// iterations as they go. If the machine will not start every worker, the
/// started ones stop early and the run is an error, as is a worker's panic.
pub fn run(
    alloc: &Mutex<Box<dyn VmAlloc + Send>>,
    p: &Params,
    loops: &Progress,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<WorkerReport>, RunError> {
    let workers = p.nr_threads.max(1);
    let repeat = p.test_repeat_count.max(1);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(workers);
        let mut refused = None;
        for w in 0..workers {
            let worker = move || {
                let vm = Vm {
                    inner: alloc,
                    cpus,
                    progress: loops,
                };
                run_worker(&vm, p, w, repeat, progress)
            };
            match std::thread::Builder::new().spawn_scoped(scope, worker) {
                Ok(h) => handles.push(h),
                Err(e) => {
                    loops.stop.store(true, Ordering::Relaxed);
                    refused = Some(e.to_string());
                    break;
                }
            }
        }
        let started = handles.len();
        let reports: Result<Vec<_>, _> = handles
            .into_iter()
            .map(|h| h.join().map_err(|_| RunError::WorkerPanicked))
            .collect();
        match refused {
            Some(reason) => Err(RunError::Workers {
                wanted: workers,
                started,
                reason,
            }),
            None => reports,
        }
    })
}

/// One worker's sequence of the selected tests.
fn run_worker(
    vm: &Vm<'_>,
    p: &Params,
    w: usize,
    repeat: usize,
    progress: &(dyn Fn() + Sync),
) -> WorkerReport {
    let mut rng = Rng::new(p.seed ^ (w as u64).wrapping_mul(0x5851_F42D_4C95_7F2D));
    let mut order: Vec<usize> = (0..TESTS.len()).collect();
    if !p.sequential_test_order {
        for i in (1..order.len()).rev() {
            let j = (rng.next_u64() % i as u64) as usize; // as the module: below i
            order.swap(i, j);
        }
    }
    let mut tests = vec![None; TESTS.len()];
    let start = Instant::now();
    for idx in order {
        if !selects(p.run_test_mask, idx) {
            continue;
        }
        let mut out = Outcome::default();
        let t = Instant::now();
        for _ in 0..repeat {
            if (TESTS[idx].1)(vm, p, &mut rng) {
                out.passed += 1;
            } else {
                out.failed += 1;
            }
            progress();
        }
        out.avg_usec = t.elapsed().as_micros() as u64 / repeat as u64;
        tests[idx] = Some(out);
    }
    WorkerReport {
        tests,
        total_usec: start.elapsed().as_micros() as u64,
    }
}

/// The module's summary lines for `reports`.
pub fn summary(reports: &[WorkerReport], p: &Params) -> String {
    let mut out = String::new();
    for (w, r) in reports.iter().enumerate() {
        for (idx, t) in r.tests.iter().enumerate() {
            if let Some(t) = t {
                out += &format!(
                    "Summary: {} passed: {} failed: {} repeat: {} loops: {} avg: {} usec\n",
                    TESTS[idx].0,
                    t.passed,
                    t.failed,
                    p.test_repeat_count.max(1),
                    p.test_loop_count,
                    t.avg_usec
                );
            }
        }
        out += &format!("All test took worker{w}={} usec\n", r.total_usec);
    }
    out
}
