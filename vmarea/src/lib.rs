//! The RFC's allocator of virtually contiguous areas, `no_std`.
//!
//! In February 2001 an LLNL team told linux-kernel that `vmalloc`/`vfree`
//! walked a list of every area on each call, and proposed an AVL tree of used
//! areas by address, a hash of unused areas by size, and an address-sorted
//! list of all areas. [`Space`] is that design, with the policies later
//! systems learned: Linux's augmented first-fit free tree and vmem's
//! instant-fit and best-fit power-of-two lists and next fit ([`Policy`]).
//!
//! ```
//! use vmarea::{AreaPool, Flags, Policy, Space};
//!
//! // Area objects from a static pool: no heap (`BoxNodes`, feature `alloc`,
//! // takes them from the global allocator instead).
//! static AREAS: AreaPool<64> = AreaPool::new();
//!
//! // A 1 GiB space of 4 KiB pages.
//! let mut space = Space::new(0x1000_0000, 0x5000_0000, 4096, Policy::FirstFit, &AREAS).unwrap();
//! let a = space.alloc(3 * 4096, 4096, Flags::ALLOC).unwrap();
//! assert_eq!(a.size, 4 * 4096); // three pages and a guard page
//! assert_eq!(a.usable(), 3 * 4096);
//! let b = space.alloc(8192, 0x10000, Flags::ALLOC).unwrap();
//! assert_eq!(b.addr % 0x10000, 0);
//! assert_eq!(space.find(a.addr + 5000).unwrap().addr, a.addr);
//! space.free(a.addr).unwrap();
//! assert!(space.free(a.addr).is_err()); // already freed: refused
//! space.validate().unwrap();
//! ```
//!
//! Area objects come from a [`NodeSource`]: `BoxNodes` or `SlabNodes`
//! (feature `alloc`), [`PoolNodes`] over caller memory, or an [`AreaPool`]
//! in a `static`.
//! Refused calls return an [`Error`]; what each leaves unchanged is stated
//! on the call (see [`Error`]).
//!
//! Many CPUs share a space through [`SharedSpace`] (a pluggable lock, per-CPU
//! [`CpuCache`]s, a lock-free deferred free, and a [`FlushHook`] for TLB
//! flushes before lazily freed ranges are reused); it never calls its node
//! source with its lock held, and it can be built in a `static`
//! ([`SharedSpace::const_new`]).
//!
//! The whole kernel-style setup ships with the crate as an example,
//! `examples/kernel_static.rs` in the package: a static pool, a static
//! shared space behind the kernel's own `lock_api` lock, per-CPU caches, the
//! flush hook, `vfree_atomic` through the deferred free, and the page-fault
//! handler's [`SharedSpace::find_fault`]. It builds for a kernel target
//! (`cargo build -p vmarea --example kernel_static --target
//! x86_64-unknown-none --no-default-features`) and runs on the host
//! (`cargo run -p vmarea --example kernel_static`).
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]

#[cfg(feature = "alloc")]
extern crate alloc;
// The loom model checker (and its weakening switch) and the unit tests
// run on std.
#[cfg(any(loom, test))]
extern crate std;
#[cfg(all(loom, not(feature = "loom")))]
compile_error!("--cfg loom needs the `loom` feature: --features loom");

// The allocator core: the area, the space, its busy tree and the
// free-space policies, where area objects come from, what callers see.
mod area;
mod busy;
mod error;
mod events;
mod flush;
mod info;
mod nodes;
mod policy;
mod pools;
mod request;
mod space;
// The loom shim every atomic goes through.
mod sync;
// Generic intrusive containers (list.h, hlist), internal.
mod containers;
// The many-CPU layer.
mod smp;

pub use area::{Area, Flags, MAX_SPAN};
pub use busy::AddressIndex;
pub use error::{Error, ValidateError};
#[cfg(feature = "events")]
#[cfg_attr(docsrs, doc(cfg(feature = "events")))]
pub use events::{Event, EventHook};
pub use flush::{FlushHook, PurgeBatch};
pub use info::{AreaInfo, Counters, Segments, Stats};
pub use nodes::{AreaPool, NodeSource, PoolNodes, Stash};
#[cfg(feature = "alloc")]
pub use nodes::{BoxNodes, SlabNodes, SLAB_AREAS};
pub use policy::Policy;
pub use pools::POOL_CLASSES;
pub use request::Request;

/// A shared space over a `static` pool of area objects: what a kernel keeps
/// in a `static` (`static VMALLOC: StaticShared<MySpin, 4096> =
/// SharedSpace::const_new(…, &AREAS)`).
pub type StaticShared<L, const N: usize> = SharedSpace<L, &'static AreaPool<N>>;

/// A per-CPU cache over a [`StaticShared`] space.
pub type StaticCache<L, const N: usize> = CpuCache<'static, L, &'static AreaPool<N>>;

/// Per-CPU `vm_map_ram` blocks over a [`StaticShared`] space.
pub type StaticBlocks<L, const N: usize> = VmapBlocks<'static, L, &'static AreaPool<N>>;
pub use smp::cache::{Cached, CpuCache, ForeignCached};
pub use smp::depot::{CACHE_CLASSES, DEPOT_MAGAZINES, ROUNDS};
pub use smp::sharded::ShardedSpace;
pub use smp::shared::{Guard, RawLock, SharedSpace};
pub use smp::vmap_blocks::{
    BlockError, ForeignMapped, MappedRam, VmapBlocks, BLOCK_QUANTA, BLOCK_SLOTS, MAX_BLOCK_MAP,
};
pub use space::{Handle, Import, Space};
#[cfg(loom)]
pub use sync::weaken;
pub use sync::RawSpinlock;
#[cfg(not(loom))]
pub use sync::SpinMutex;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
