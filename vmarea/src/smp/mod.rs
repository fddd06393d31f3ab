//! The many-CPU layer: a [`SharedSpace`](shared::SharedSpace) behind a
//! pluggable lock with a lock-free deferred free (`shared`), the depot of
//! full magazines beside it (`depot`), the per-CPU caches that exchange
//! magazines with it (`cache`), per-node sharding over several shared
//! spaces (`sharded`), `vm_map_ram`-style per-CPU blocks
//! (`vmap_blocks`); its spinlock for kernels without their own is `crate::sync`'s.
//! It uses the allocator core only through `Space`'s API.

pub(crate) mod cache;
pub(crate) mod depot;
pub(crate) mod sharded;
pub(crate) mod shared;
pub(crate) mod vmap_blocks;
