//! Lock traffic of per-node sharding (issue 12 point 7): `shard_locks
//! [OPS_PER_CPU]` runs 1, 2, 4, … 64 simulated CPUs (threads) over one
//! `SharedSpace` (a global lock, as Linux before 6.9) and over a
//! `ShardedSpace` of 64 nodes (each CPU its own home node), with a lock
//! that counts acquisitions and contended ones (a `try_lock` that failed
//! before waiting). Each CPU allocates one page (plus guard) on its home
//! node and frees it; every fourth free is of an area the next CPU
//! allocated (a cross-node free). Prints acquisitions and contended
//! acquisitions per operation and the wall time of each run; the 1- and
//! 2-CPU rows are the same-run comparison this 2-core machine allows.
//!
//! ```text
//! cargo run --release -p vmarea-cli --example shard_locks -- 4000
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use vmarea::{BoxNodes, Flags, Policy, RawSpinlock, Request, ShardedSpace, SharedSpace, Space};

const PAGE: usize = 4096;
const START: usize = 0xffff_c900_0000_0000;
const ZONE: usize = 1 << 30;
const NODES: usize = 64;

/// A spinlock that counts how often it is taken and how often it was
/// already held when asked for.
struct Counting {
    raw: RawSpinlock,
    taken: AtomicU64,
    contended: AtomicU64,
}

// SAFETY: exclusion and ordering are `RawSpinlock`'s; the counters are
// side effects only.
unsafe impl lock_api::RawMutex for Counting {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Counting {
        raw: RawSpinlock::new(),
        taken: AtomicU64::new(0),
        contended: AtomicU64::new(0),
    };
    type GuardMarker = lock_api::GuardSend;
    fn lock(&self) {
        self.taken.fetch_add(1, Ordering::Relaxed);
        if !lock_api::RawMutex::try_lock(&self.raw) {
            self.contended.fetch_add(1, Ordering::Relaxed);
            lock_api::RawMutex::lock(&self.raw);
        }
    }
    fn try_lock(&self) -> bool {
        let ok = lock_api::RawMutex::try_lock(&self.raw);
        if ok {
            self.taken.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }
    unsafe fn unlock(&self) {
        // SAFETY: forwarded: the caller holds the lock.
        unsafe { lock_api::RawMutex::unlock(&self.raw) }
    }
}

type Node = SharedSpace<Counting, BoxNodes>;

fn node(start: usize, len: usize) -> Node {
    SharedSpace::new(Space::new(start, start + len, PAGE, Policy::FirstFit, BoxNodes).unwrap())
}

fn counts<'a>(nodes: impl Iterator<Item = &'a Node>) -> (u64, u64) {
    nodes.fold((0, 0), |(t, c), n| {
        let l = n.raw_lock();
        (
            t + l.taken.swap(0, Ordering::Relaxed),
            c + l.contended.swap(0, Ordering::Relaxed),
        )
    })
}

/// Runs the workload on `cpus` threads; `alloc(cpu)` / `free(addr)`.
fn run(
    cpus: usize,
    ops: usize,
    alloc: &(dyn Fn(usize) -> usize + Sync),
    free: &(dyn Fn(usize) + Sync),
) -> f64 {
    let handoff: Vec<Mutex<Vec<usize>>> = (0..cpus).map(|_| Mutex::new(Vec::new())).collect();
    let t = Instant::now();
    std::thread::scope(|s| {
        for cpu in 0..cpus {
            let handoff = &handoff;
            s.spawn(move || {
                for k in 0..ops {
                    let a = alloc(cpu);
                    if k % 4 == 3 {
                        // For the next CPU to free: a cross-node free.
                        handoff[(cpu + 1) % cpus].lock().unwrap().push(a);
                        let theirs = std::mem::take(&mut *handoff[cpu].lock().unwrap());
                        theirs.into_iter().for_each(free);
                    } else {
                        free(a);
                    }
                }
            });
        }
    });
    for h in &handoff {
        h.lock().unwrap().drain(..).for_each(free);
    }
    t.elapsed().as_secs_f64()
}

fn main() {
    let ops: usize = std::env::args()
        .nth(1)
        .map_or(4000, |s| s.parse().expect("OPS_PER_CPU"));
    let global = node(START, ZONE * NODES);
    let sharded: ShardedSpace<Counting, BoxNodes, NODES> =
        ShardedSpace::new(std::array::from_fn(|i| node(START + i * ZONE, ZONE))).unwrap();
    let greq = Request::new(PAGE, START, START + ZONE * NODES).flags(Flags::ALLOC);
    let sreq = sharded.request(PAGE).flags(Flags::ALLOC);
    println!("{ops} alloc+free pairs per CPU; per operation (an alloc or a free):");
    println!("| CPUs | global: locks/op | global: contended/op | global: s | sharded: locks/op | sharded: contended/op | sharded: s |");
    println!("|---|---|---|---|---|---|---|");
    for cpus in [1, 2, 4, 8, 16, 32, 64] {
        counts(std::iter::once(&global));
        let gt = run(
            cpus,
            ops,
            &|_| global.alloc_request(&greq).unwrap().addr,
            &|a| {
                global.free(a).unwrap();
            },
        );
        let (gl, gc) = counts(std::iter::once(&global));
        counts(sharded.nodes().iter());
        let st = run(
            cpus,
            ops,
            &|cpu| sharded.alloc_on(cpu, &sreq).unwrap().0.addr,
            &|a| {
                sharded.free(a).unwrap();
            },
        );
        let (sl, sc) = counts(sharded.nodes().iter());
        let n = (2 * cpus * ops) as f64;
        println!(
            "| {cpus} | {:.3} | {:.4} | {gt:.3} | {:.3} | {:.4} | {st:.3} |",
            gl as f64 / n,
            gc as f64 / n,
            sl as f64 / n,
            sc as f64 / n
        );
    }
    assert_eq!(global.lock().used_count(), 0);
    assert_eq!(sharded.used_count(), 0);
}
