//! Per-node sharding (Linux 6.9's `vmap_node`, vmem's per-CPU arenas): the
//! address range split into `N` equal, consecutive zones, one
//! [`SharedSpace`] per zone, each with its own lock, busy tree, free index,
//! lazy list and depot.
//!
//! - An allocation goes to the calling CPU's home node (`cpu % N`) and
//!   only when that node has no room to the others, in order: CPUs on
//!   different nodes allocate under different locks.
//! - An area never crosses a zone, so the node of any address inside it is
//!   `(addr - start) / zone`: a free or a lookup, of a start or an interior
//!   address, takes exactly one node's lock, whichever CPU calls. (Linux
//!   allocates from one global free tree, so its areas may span zones; its
//!   lookup starts at the address's zone and walks the nodes until it finds
//!   the area. Here each node owns the free space of its zone, and the
//!   price is that no area is larger than a zone.)
//! - Caches, deferred frees and `VmapBlocks` work per node, on
//!   [`ShardedSpace::node`].

use super::shared::{RawLock, SharedSpace};
use crate::error::{Error, ValidateError};
use crate::info::AreaInfo;
use crate::nodes::NodeSource;
use crate::request::Request;
use crate::space::Handle;

/// `N` shared spaces over consecutive equal zones of one address range.
///
/// ```
/// use vmarea::{AreaPool, Flags, Policy, RawSpinlock, SharedSpace, ShardedSpace, Space};
///
/// static AREAS: AreaPool<32> = AreaPool::new();
/// let zone = 0x10_0000;
/// let node = |i: usize| -> SharedSpace<RawSpinlock, &AreaPool<32>> {
///     let start = 0x100_0000 + i * zone;
///     SharedSpace::new(Space::new(start, start + zone, 0x1000, Policy::FirstFit, &AREAS).unwrap())
/// };
/// let sharded = ShardedSpace::new([node(0), node(1)]).unwrap();
/// let req = sharded.request(0x3000).flags(Flags::ALLOC);
/// let (a, _) = sharded.alloc_on(1, &req).unwrap(); // CPU 1: node 1's zone
/// assert_eq!(sharded.node_of(a.addr), Some(1));
/// assert_eq!(sharded.find(a.addr + 5).unwrap().addr, a.addr); // one node's lock
/// sharded.free(a.addr).unwrap();
/// sharded.validate().unwrap();
/// ```
pub struct ShardedSpace<L: RawLock, S: NodeSource, const N: usize> {
    nodes: [SharedSpace<L, S>; N],
    start: usize,
    zone: usize,
    quantum: usize,
}

impl<L: RawLock, S: NodeSource, const N: usize> ShardedSpace<L, S, N> {
    /// Shards over `nodes`, which must cover consecutive zones of one size
    /// with one quantum (node i from `start + i * zone`); otherwise
    /// `BadSpace`, and the nodes are dropped. From then on each node's
    /// bounds are its zone: a node refuses spans and imports
    /// ([`Guard::add_span`](crate::Guard::add_span) and
    /// [`Guard::set_import`](crate::Guard::set_import) answer `BadRange`),
    /// and an import source a node had is dropped, so that no address is
    /// ever served by a node other than the one its zone routes to.
    pub fn new(mut nodes: [SharedSpace<L, S>; N]) -> Result<Self, Error> {
        let (start, first_end) = nodes.first().ok_or(Error::BadSpace)?.bounds();
        let zone = first_end - start;
        let quantum = nodes[0].quantum();
        let consecutive = nodes.iter().enumerate().all(|(i, n)| {
            let want = i
                .checked_mul(zone)
                .and_then(|o| start.checked_add(o))
                .and_then(|s| Some((s, s.checked_add(zone)?)));
            Some(n.bounds()) == want && n.quantum() == quantum
        });
        if !consecutive {
            return Err(Error::BadSpace);
        }
        for n in &mut nodes {
            n.fix_to_zone();
        }
        Ok(ShardedSpace {
            nodes,
            start,
            zone,
            quantum,
        })
    }

    /// The whole range `[start, end)`.
    pub fn bounds(&self) -> (usize, usize) {
        (self.start, self.start + self.zone * N)
    }

    /// Bytes per zone: the largest area any node can hold.
    pub fn zone(&self) -> usize {
        self.zone
    }

    /// The node holding `addr`, if it lies in the range.
    pub fn node_of(&self, addr: usize) -> Option<usize> {
        let i = addr.checked_sub(self.start)? / self.zone;
        (i < N).then_some(i)
    }

    /// Node `i`'s shared space (for its caches, deferred frees, blocks).
    /// Panics if `i >= N`.
    pub fn node(&self, i: usize) -> &SharedSpace<L, S> {
        &self.nodes[i]
    }

    /// Every node, in address order.
    pub fn nodes(&self) -> &[SharedSpace<L, S>; N] {
        &self.nodes
    }

    /// A request for `size` bytes anywhere in the range, to refine with
    /// [`Request`]'s builders.
    pub fn request(&self, size: usize) -> Request {
        let (lo, hi) = self.bounds();
        Request::new(size, lo, hi)
    }

    /// Allocates for CPU `cpu`: on its home node `cpu % N`, else on the
    /// next node (in order, wrapping) whose part of the window has room.
    /// The window is clipped to each node's zone. A request refused for
    /// its own sake (zero size, bad alignment or flags, a window outside
    /// the range) is refused before any node is asked, with nothing
    /// changed; `NoSpace` means no node had room (each node asked may have
    /// purged its lazy frees first, as a single space does).
    pub fn alloc_on(&self, cpu: usize, req: &Request) -> Result<(AreaInfo, Handle), Error> {
        let (start, end) = self.bounds();
        req.check_alone(self.quantum)?;
        if req.lo >= req.hi || req.lo < start || req.hi > end {
            return Err(Error::BadRange);
        }
        let home = cpu % N;
        let mut last = Error::NoSpace;
        for k in 0..N {
            let i = (home + k) % N;
            let (ns, ne) = self.nodes[i].bounds();
            let (lo, hi) = (req.lo.max(ns), req.hi.min(ne));
            if lo >= hi {
                continue;
            }
            match self.nodes[i].alloc_handle(&Request { lo, hi, ..*req }) {
                Ok(r) => return Ok(r),
                // Another node may have room (or a window part that fits).
                Err(e @ (Error::NoSpace | Error::BadAlign)) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Frees the used area starting at `addr`, under its node's lock only.
    pub fn free(&self, addr: usize) -> Result<AreaInfo, Error> {
        let i = self.node_of(addr).ok_or(Error::NotAllocated { addr })?;
        self.nodes[i].free(addr)
    }

    /// Frees the used area starting at `addr` lazily, under its node's lock.
    pub fn free_lazy(&self, addr: usize) -> Result<AreaInfo, Error> {
        let i = self.node_of(addr).ok_or(Error::NotAllocated { addr })?;
        self.nodes[i].lock().free_lazy(addr)
    }

    /// The used area containing `addr` (start or interior), under its
    /// node's lock only.
    pub fn find(&self, addr: usize) -> Option<AreaInfo> {
        self.nodes[self.node_of(addr)?].find(addr)
    }

    /// The used area containing `addr`, under its node's busy lock only,
    /// never a space lock (see [`SharedSpace::find_fault`]).
    ///
    /// # Errors
    /// [`Error::NoAddressIndex`] if the nodes keep no busy tree.
    pub fn find_fault(&self, addr: usize) -> Result<Option<AreaInfo>, Error> {
        match self.node_of(addr) {
            Some(i) => self.nodes[i].find_fault(addr),
            None => Ok(None),
        }
    }

    /// Purges every node's lazy frees; returns how many areas in all.
    pub fn purge(&self) -> usize {
        self.nodes.iter().map(|n| n.lock().purge()).sum()
    }

    /// Used areas in all nodes (each node counted under its own lock).
    pub fn used_count(&self) -> usize {
        self.nodes.iter().map(|n| n.lock().used_count()).sum()
    }

    /// Validates each node's space.
    pub fn validate(&self) -> Result<(), ValidateError> {
        self.nodes.iter().try_for_each(|n| n.lock().validate())
    }

    /// The quantum every node shares.
    pub fn quantum(&self) -> usize {
        self.quantum
    }
}

impl<L: RawLock, S: NodeSource, const N: usize> core::fmt::Debug for ShardedSpace<L, S, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShardedSpace")
            .field("bounds", &self.bounds())
            .field("zone", &self.zone)
            .field("nodes", &self.nodes)
            .finish()
    }
}
