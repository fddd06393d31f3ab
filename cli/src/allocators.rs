//! Every allocator the tool drives, behind one small trait: the vmarea
//! policies, the Linux 2.4 baseline, and the Rust range-allocator peers.
//! Sizes and alignments are in bytes; the 4 KiB page is the unit.

use crate::baselines::floor::{Floor, FloorArea};
use crate::baselines::linux24;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use vmarea::{
    AddressIndex, BoxNodes, Flags, Policy, RawSpinlock, Request, ShardedSpace, SharedSpace,
    SlabNodes, Space,
};

/// Bytes per page.
pub const PAGE: usize = 4096;
/// x86-64's `VMALLOC_START` (4-level paging).
pub const VMALLOC_START: usize = 0xffff_c900_0000_0000;
/// x86-64's vmalloc space: 32 TiB.
pub const VMALLOC_SIZE: usize = 32 << 40;

/// What an allocator's own free takes back, as
/// [`VmAlloc::alloc_token`] hands it out: the address for an allocator
/// that frees by address only, else the allocator's own handle, so no
/// contender pays for a map it does not need.
pub enum Token {
    /// An address ([`VmAlloc::free`] takes it).
    Addr(usize),
    /// A vmarea area handle (`Space::free_handle`).
    Area(vmarea::Handle),
    /// An `offset-allocator` allocation.
    Offset(offset_allocator::Allocation<u32>),
    /// A `range-alloc` range, in pages.
    Range(core::ops::Range<usize>),
    /// A floor area.
    Floor(FloorArea),
    /// An `xalloc` TLSF region.
    Tlsf(xalloc::SysTlsfRegion),
    /// A buddy block: its first frame and the pages asked for.
    Frames {
        /// First frame.
        frame: usize,
        /// Pages asked for (the buddy rounds them up again on free).
        pages: usize,
    },
}

/// The map from address to handle the tool keeps for an allocator that
/// frees by handle, when a workload frees by address: the same adapter
/// for every such contender, as cheap as an honest one gets. Keys are
/// distinct page-aligned addresses, so one multiply of the page number
/// spreads them (std's default SipHash cost about 320 instructions per
/// alloc+free pair here).
pub type AddrMap<V> = HashMap<usize, V, BuildHasherDefault<PageHasher>>;

/// [`AddrMap`]'s hasher: the page number times a 64-bit odd constant
/// (Fibonacci hashing); the table takes its bucket from the low bits (a
/// bijection of the page number's low bits) and its tag from the top ones.
#[derive(Default)]
pub struct PageHasher(u64);

impl Hasher for PageHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, addr: usize) {
        self.0 = ((addr / PAGE) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// One allocator under test. `alloc` takes the caller's size (a `vmalloc`
/// request); the allocator adds the guard page itself, as Linux does.
pub trait VmAlloc {
    /// Display name.
    fn name(&self) -> String;
    /// Allocates `size` bytes aligned to `align` (0 or a power of two);
    /// `None` on failure, or if the allocator cannot honour the alignment.
    fn alloc(&mut self, size: usize, align: usize) -> Option<usize>;
    /// Frees the area at `addr`; false if there is none.
    fn free(&mut self, addr: usize) -> bool;
    /// What this allocator's own free takes: `address`, `handle` or
    /// `range` (the [`Token`] that [`alloc_token`](Self::alloc_token)
    /// returns).
    fn own_free(&self) -> &'static str {
        "address"
    }
    /// Allocates `size` bytes (no alignment) and returns what this
    /// allocator's own free takes back. The default allocates by
    /// [`alloc`](Self::alloc) and returns the address.
    fn alloc_token(&mut self, size: usize) -> Option<Token> {
        self.alloc(size, 0).map(Token::Addr)
    }
    /// Frees what [`alloc_token`](Self::alloc_token) returned; false if
    /// the token is of another allocator's kind.
    ///
    /// # Safety
    /// `token` was returned by this allocator's `alloc_token` and not
    /// freed since (a handle is trusted, as the allocators' own frees
    /// trust it).
    unsafe fn free_token(&mut self, token: Token) -> bool {
        match token {
            Token::Addr(addr) => self.free(addr),
            _ => false,
        }
    }
    /// `vm_map_ram` of `size` bytes (no guard page). The default is an
    /// allocation of its own, the path Linux takes above `VMAP_MAX_ALLOC`
    /// (and the only one a single-threaded allocator without per-CPU
    /// blocks has).
    fn map_ram(&mut self, size: usize) -> Option<usize> {
        self.alloc(size, 0)
    }
    /// Reports every event to [`crate::recording::record`] (vmarea's spaces
    /// only; false if the allocator has no events).
    fn record_events(&mut self) -> bool {
        false
    }
    /// `vm_unmap_ram` of what [`map_ram`](Self::map_ram) returned.
    fn unmap_ram(&mut self, addr: usize) -> bool {
        self.free(addr)
    }
    /// Whether alignments above a page are supported.
    fn aligns(&self) -> bool {
        true
    }
    /// Bytes of allocator metadata per live area.
    fn metadata_per_area(&self) -> usize;
    /// After everything was freed: the allocator's own invariants hold and
    /// the whole space is free again.
    fn check_whole(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A vmarea `Space` with one policy, freeing by address, its area objects
/// carved from slabs ([`SlabNodes`]: one cache line each, as a kernel's
/// `kmem_cache` would place them; measured against one `Box` each in
/// `docs/benchmarks.md`).
pub struct VmArea {
    space: Space<SlabNodes>,
    pooled: bool,
}

/// The size pools of the `+pools` contenders: every pooled size (1 … 32
/// pages, guard included), 64 ready areas each.
pub const CLI_POOLS: (usize, usize) = (vmarea::POOL_CLASSES, 64);

impl VmArea {
    /// A space over the x86-64 vmalloc range.
    pub fn new(policy: Policy) -> Self {
        Self::with_range(policy, VMALLOC_START, VMALLOC_SIZE)
    }

    /// As [`new`](Self::new), with size pools ([`CLI_POOLS`]) in front of
    /// the policy.
    pub fn with_pools(policy: Policy) -> Self {
        Self::new(policy).pooled()
    }

    /// A space over `[start, start + size)` (page-aligned, at most
    /// `vmarea::MAX_SPAN` bytes); the caller vouches for the bounds.
    pub fn with_range(policy: Policy, start: usize, size: usize) -> Self {
        Self::try_with_range(policy, start, size).expect("caller passes valid bounds")
    }

    /// A space over `[start, start + size)`, or why not.
    pub fn try_with_range(
        policy: Policy,
        start: usize,
        size: usize,
    ) -> Result<Self, vmarea::Error> {
        let end = start.checked_add(size).ok_or(vmarea::Error::BadSpace)?;
        Ok(VmArea {
            space: Space::new(start, end, PAGE, policy, SlabNodes::new())?,
            pooled: false,
        })
    }

    /// The space, for checks.
    pub fn space(&self) -> &Space<SlabNodes> {
        &self.space
    }

    /// The space, mutably.
    pub fn space_mut(&mut self) -> &mut Space<SlabNodes> {
        &mut self.space
    }

    /// This space with [`CLI_POOLS`] turned on.
    fn pooled(mut self) -> Self {
        self.space
            .set_pools(CLI_POOLS.0, CLI_POOLS.1)
            .expect("at most POOL_CLASSES");
        self.pooled = true;
        self
    }

    /// The configuration an `offset-allocator` user would pick: size pools,
    /// no busy tree (`AddressIndex::None`), freed by handle. `free(addr)` still works but walks the
    /// address list, so the tool drives it by handle only
    /// ([`Contender::by_address`] false).
    pub fn handle_only_with_pools(policy: Policy) -> Self {
        let space = Space::with_address_index(
            VMALLOC_START,
            VMALLOC_START + VMALLOC_SIZE,
            PAGE,
            policy,
            AddressIndex::None,
            SlabNodes::new(),
        )
        .expect("the x86-64 vmalloc range is a valid space");
        VmArea {
            space,
            pooled: false,
        }
        .pooled()
    }
}

impl VmAlloc for VmArea {
    fn name(&self) -> String {
        let pools = if self.pooled { "+pools" } else { "" };
        let index = match self.space.address_index() {
            AddressIndex::None => " handle-only",
            _ => "",
        };
        format!("{:?}{pools}{index}", self.space.policy())
    }
    fn own_free(&self) -> &'static str {
        "handle"
    }
    fn alloc_token(&mut self, size: usize) -> Option<Token> {
        let req = self.space.request(size);
        let (_, handle) = self.space.alloc_handle(&req).ok()?;
        Some(Token::Area(handle))
    }
    unsafe fn free_token(&mut self, token: Token) -> bool {
        match token {
            // SAFETY: caller contract: the handle came from this space's
            // `alloc_handle` (in `alloc_token`) and was not freed since.
            Token::Area(handle) => {
                unsafe { self.space.free_handle(handle) };
                true
            }
            Token::Addr(addr) => self.free(addr),
            _ => false,
        }
    }
    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        let (lo, hi) = self.space.bounds();
        let req = Request {
            size,
            align,
            flags: Flags::ALLOC,
            tag: 0,
            lo,
            hi,
            phase: 0,
            nocross: 0,
        };
        self.space.alloc_request(&req).ok().map(|a| a.addr)
    }
    fn free(&mut self, addr: usize) -> bool {
        self.space.free(addr).is_ok()
    }
    fn record_events(&mut self) -> bool {
        self.space.set_event_hook(Some(crate::recording::record));
        true
    }
    fn map_ram(&mut self, size: usize) -> Option<usize> {
        let req = self.space.request(size).flags(Flags::MAP | Flags::NO_GUARD);
        self.space.alloc_request(&req).ok().map(|a| a.addr)
    }
    fn metadata_per_area(&self) -> usize {
        core::mem::size_of::<vmarea::Area>()
    }
    fn check_whole(&self) -> Result<(), String> {
        self.space.validate().map_err(|e| e.to_string())?;
        let st = self.space.stats();
        let (start, end) = self.space.bounds();
        // Pools keep ready areas after everything was freed: whole means
        // every byte free or pooled.
        let whole = if self.pooled {
            st.free_bytes + st.pooled_bytes == end - start
        } else {
            st.largest_free == end - start
        };
        if st.used_areas != 0 || st.lazy_areas != 0 || !whole {
            return Err(format!("space not whole again: {st:?}"));
        }
        Ok(())
    }
}

/// Nodes of [`ShardedVmArea`].
pub const SHARDS: usize = 4;

/// A vmarea `ShardedSpace` of [`SHARDS`] InstantFit nodes over the vmalloc
/// range (one zone each, behind the crate's spinlock), driven from one
/// thread as CPU 0: every call takes one node's lock and goes through the
/// shared layer's stash of area objects, so beside InstantFit on a plain
/// `Space` it shows what the many-CPU layer costs a single CPU (its gain
/// with many CPUs is `cli/examples/shard_locks.rs`'s). Its area objects
/// are one `Box` each: a sharded space shares its node source between
/// CPUs, which [`SlabNodes`] (not `Sync`) does not allow.
pub struct ShardedVmArea {
    sharded: ShardedSpace<RawSpinlock, BoxNodes, SHARDS>,
}

impl ShardedVmArea {
    /// Four zones of 8 TiB over the x86-64 vmalloc range.
    pub fn new() -> Self {
        let zone = VMALLOC_SIZE / SHARDS;
        let nodes = core::array::from_fn(|i| {
            let start = VMALLOC_START + i * zone;
            let space = Space::new(start, start + zone, PAGE, Policy::InstantFit, BoxNodes)
                .expect("a zone of the vmalloc range is a valid space");
            SharedSpace::with_lock(RawSpinlock::new(), space)
        });
        ShardedVmArea {
            sharded: ShardedSpace::new(nodes).expect("consecutive zones"),
        }
    }
}

impl Default for ShardedVmArea {
    fn default() -> Self {
        Self::new()
    }
}

impl VmAlloc for ShardedVmArea {
    fn name(&self) -> String {
        format!("InstantFit sharded×{SHARDS}")
    }
    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        let req = self.sharded.request(size).align(align);
        self.sharded.alloc_on(0, &req).ok().map(|(a, _)| a.addr)
    }
    fn free(&mut self, addr: usize) -> bool {
        self.sharded.free(addr).is_ok()
    }
    fn metadata_per_area(&self) -> usize {
        core::mem::size_of::<vmarea::Area>()
    }
    fn check_whole(&self) -> Result<(), String> {
        self.sharded.validate().map_err(|e| e.to_string())?;
        match self.sharded.used_count() {
            0 => Ok(()),
            n => Err(format!("{n} areas still used")),
        }
    }
}

/// Linux 2.4's linear list (no alignment support).
pub struct Linux24 {
    list: linux24::VmList,
}

impl Linux24 {
    /// An empty 2.4 vmalloc space over the x86-64 range.
    pub fn new() -> Self {
        Linux24 {
            list: linux24::VmList::new(VMALLOC_START, VMALLOC_START + VMALLOC_SIZE),
        }
    }
}

impl Default for Linux24 {
    fn default() -> Self {
        Self::new()
    }
}

impl VmAlloc for Linux24 {
    fn name(&self) -> String {
        "linux-2.4".into()
    }
    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        if align > PAGE {
            return None; // 2.4's get_vm_area cannot align
        }
        self.list.get_vm_area(size.div_ceil(PAGE) * PAGE)
    }
    fn free(&mut self, addr: usize) -> bool {
        self.list.vfree(addr)
    }
    fn aligns(&self) -> bool {
        false
    }
    fn metadata_per_area(&self) -> usize {
        // addr, size, next (+ flags in the real struct): the Box's payload.
        core::mem::size_of::<linux24::VmStruct>()
    }
}

/// `offset-allocator` in page units (free by handle; to free by address
/// the tool keeps the handles in an [`AddrMap`], which it counts as
/// metadata).
pub struct OffsetAlloc {
    inner: offset_allocator::Allocator<u32>,
    live: AddrMap<offset_allocator::Allocation<u32>>,
}

impl OffsetAlloc {
    /// A space of `pages` pages for at most `max_allocs` live areas.
    pub fn new(pages: u32, max_allocs: u32) -> Self {
        OffsetAlloc {
            inner: offset_allocator::Allocator::with_max_allocs(pages, max_allocs),
            live: Default::default(),
        }
    }
}

impl VmAlloc for OffsetAlloc {
    fn name(&self) -> String {
        "offset-allocator".into()
    }
    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        if align > PAGE {
            return None; // no alignment support
        }
        let a = self
            .inner
            .allocate(u32::try_from(size.div_ceil(PAGE) + 1).ok()?)?;
        let addr = VMALLOC_START + a.offset as usize * PAGE;
        self.live.insert(addr, a);
        Some(addr)
    }
    fn free(&mut self, addr: usize) -> bool {
        match self.live.remove(&addr) {
            Some(a) => {
                self.inner.free(a);
                true
            }
            None => false,
        }
    }
    fn own_free(&self) -> &'static str {
        "handle"
    }
    fn alloc_token(&mut self, size: usize) -> Option<Token> {
        let pages = u32::try_from(size.div_ceil(PAGE) + 1).ok()?;
        self.inner.allocate(pages).map(Token::Offset)
    }
    unsafe fn free_token(&mut self, token: Token) -> bool {
        match token {
            Token::Offset(a) => {
                self.inner.free(a);
                true
            }
            Token::Addr(addr) => self.free(addr),
            _ => false,
        }
    }
    fn aligns(&self) -> bool {
        false
    }
    fn metadata_per_area(&self) -> usize {
        // Its node array entry (~7 words) plus the handle map entry.
        7 * 4 + core::mem::size_of::<(usize, offset_allocator::Allocation<u32>)>()
    }
}

/// `range-alloc` in page units (best fit over a sorted vector of free
/// ranges; free needs the range, kept in an [`AddrMap`] to free by
/// address).
pub struct RangeAlloc {
    inner: range_alloc::RangeAllocator<usize>,
    live: AddrMap<core::ops::Range<usize>>,
}

impl RangeAlloc {
    /// A space of `pages` pages.
    pub fn new(pages: usize) -> Self {
        RangeAlloc {
            inner: range_alloc::RangeAllocator::new(0..pages),
            live: Default::default(),
        }
    }
}

impl VmAlloc for RangeAlloc {
    fn name(&self) -> String {
        "range-alloc".into()
    }
    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        let pages = size.div_ceil(PAGE) + 1;
        // It aligns offsets from 0; they are absolute addresses only up to
        // the base's own alignment (2^40 for VMALLOC_START).
        if align > 1 << VMALLOC_START.trailing_zeros() {
            return None;
        }
        let r = if align > PAGE {
            self.inner
                .allocate_range_aligned(pages, align / PAGE)
                .ok()?
        } else {
            self.inner.allocate_range(pages).ok()?
        };
        let addr = VMALLOC_START + r.start * PAGE;
        self.live.insert(addr, r);
        Some(addr)
    }
    fn free(&mut self, addr: usize) -> bool {
        match self.live.remove(&addr) {
            Some(r) => {
                self.inner.free_range(r);
                true
            }
            None => false,
        }
    }
    fn own_free(&self) -> &'static str {
        "range"
    }
    fn alloc_token(&mut self, size: usize) -> Option<Token> {
        let pages = size.div_ceil(PAGE) + 1;
        self.inner.allocate_range(pages).ok().map(Token::Range)
    }
    unsafe fn free_token(&mut self, token: Token) -> bool {
        match token {
            Token::Range(r) => {
                self.inner.free_range(r);
                true
            }
            Token::Addr(addr) => self.free(addr),
            _ => false,
        }
    }
    fn metadata_per_area(&self) -> usize {
        core::mem::size_of::<core::ops::Range<usize>>()
            + core::mem::size_of::<(usize, core::ops::Range<usize>)>()
    }
}

/// The floor (`baselines::floor`): a bump pointer and exact-size free
/// stacks, freed by handle only. It has no address index, so it cannot
/// free by address or align: [`alloc`](VmAlloc::alloc) refuses and
/// [`free`](VmAlloc::free) finds nothing; it is driven through
/// [`alloc_token`](VmAlloc::alloc_token) alone ([`Contender::by_address`]
/// false).
pub struct FloorAlloc {
    floor: Floor,
}

/// The largest request the floor serves, in pages (guard included).
pub const FLOOR_MAX_PAGES: usize = 64;

impl FloorAlloc {
    /// A floor over the x86-64 vmalloc range.
    pub fn new() -> Self {
        FloorAlloc {
            floor: Floor::new(VMALLOC_SIZE / PAGE, FLOOR_MAX_PAGES),
        }
    }
}

impl Default for FloorAlloc {
    fn default() -> Self {
        Self::new()
    }
}

impl VmAlloc for FloorAlloc {
    fn name(&self) -> String {
        "floor".into()
    }
    fn alloc(&mut self, _size: usize, _align: usize) -> Option<usize> {
        None // no address index: an address could never be freed
    }
    fn free(&mut self, _addr: usize) -> bool {
        false
    }
    fn own_free(&self) -> &'static str {
        "handle"
    }
    fn alloc_token(&mut self, size: usize) -> Option<Token> {
        self.floor.alloc(size.div_ceil(PAGE) + 1).map(Token::Floor)
    }
    unsafe fn free_token(&mut self, token: Token) -> bool {
        match token {
            Token::Floor(a) => {
                self.floor.free(a);
                true
            }
            _ => false,
        }
    }
    fn aligns(&self) -> bool {
        false
    }
    fn metadata_per_area(&self) -> usize {
        0 // the caller holds the handle; nothing is kept per live area
    }
}

/// The vmarea policies.
pub const POLICIES: &[Policy] = Policy::ALL;

/// Makes a fresh allocator.
pub type Make = fn() -> Box<dyn VmAlloc + Send>;

/// One contender the tool drives: its name in tables and plots, its value
/// for `--allocator`, and how to make a fresh one. [`CONTENDERS`] is the
/// only list of them: `compare`, `test-vmalloc` and the tests read it.
#[derive(Clone, Copy)]
pub struct Contender {
    /// Name in tables, plots and JSON.
    pub name: &'static str,
    /// Value of `test-vmalloc --allocator`.
    pub cli: &'static str,
    /// A fresh instance over the x86-64 vmalloc range.
    pub make: Make,
    /// Whether it frees by address (`free(addr)`), so the by-address
    /// sweep, the churn and `test-vmalloc` can drive it. False for the
    /// contenders driven by handle only (the floor, and a vmarea space
    /// without its busy tree); `--allocator` does not offer them.
    pub by_address: bool,
}

fn make_policy<const P: usize>() -> Box<dyn VmAlloc + Send> {
    Box::new(VmArea::new(POLICIES[P]))
}

fn make_pooled<const P: usize>() -> Box<dyn VmAlloc + Send> {
    Box::new(VmArea::with_pools(POLICIES[P]))
}

fn make_linux24() -> Box<dyn VmAlloc + Send> {
    Box::new(Linux24::new())
}

fn make_offset() -> Box<dyn VmAlloc + Send> {
    // Its offsets are u32 pages, and it sizes its node arrays up front.
    Box::new(OffsetAlloc::new(
        (VMALLOC_SIZE / PAGE).min(1 << 31) as u32,
        (1 << 23) - 2,
    ))
}

fn make_range_alloc() -> Box<dyn VmAlloc + Send> {
    Box::new(RangeAlloc::new(VMALLOC_SIZE / PAGE))
}

fn make_vmem() -> Box<dyn VmAlloc + Send> {
    Box::new(crate::peers::VmemArena::new())
}

fn make_xalloc() -> Box<dyn VmAlloc + Send> {
    Box::new(crate::peers::XallocTlsf::new())
}

fn make_buddy() -> Box<dyn VmAlloc + Send> {
    Box::new(crate::peers::BuddyFrames::new())
}

fn make_handle_only_pooled<const P: usize>() -> Box<dyn VmAlloc + Send> {
    Box::new(VmArea::handle_only_with_pools(POLICIES[P]))
}

fn make_sharded() -> Box<dyn VmAlloc + Send> {
    Box::new(ShardedVmArea::new())
}

fn make_floor() -> Box<dyn VmAlloc + Send> {
    Box::new(FloorAlloc::new())
}

/// Every contender, the 2.4 baseline first and the floor last.
pub const CONTENDERS: [Contender; 15] = [
    Contender {
        name: "linux-2.4",
        cli: "linux-2.4",
        make: make_linux24,
        by_address: true,
    },
    Contender {
        name: "Rfc",
        cli: "rfc",
        make: make_policy::<0>,
        by_address: true,
    },
    Contender {
        name: "FirstFit",
        cli: "first-fit",
        make: make_policy::<1>,
        by_address: true,
    },
    Contender {
        name: "InstantFit",
        cli: "instant-fit",
        make: make_policy::<2>,
        by_address: true,
    },
    Contender {
        name: "BestFit",
        cli: "best-fit",
        make: make_policy::<3>,
        by_address: true,
    },
    Contender {
        name: "NextFit",
        cli: "next-fit",
        make: make_policy::<4>,
        by_address: true,
    },
    Contender {
        name: "InstantFit+pools",
        cli: "instant-fit-pools",
        make: make_pooled::<2>,
        by_address: true,
    },
    Contender {
        name: "InstantFit sharded×4",
        cli: "instant-fit-sharded",
        make: make_sharded,
        by_address: true,
    },
    Contender {
        name: "offset-allocator",
        cli: "offset-allocator",
        make: make_offset,
        by_address: true,
    },
    Contender {
        name: "range-alloc",
        cli: "range-alloc",
        make: make_range_alloc,
        by_address: true,
    },
    Contender {
        name: "vmem",
        cli: "vmem",
        make: make_vmem,
        by_address: true,
    },
    Contender {
        name: "xalloc-tlsf",
        cli: "xalloc-tlsf",
        make: make_xalloc,
        by_address: true,
    },
    Contender {
        name: "buddy-frames",
        cli: "buddy-frames",
        make: make_buddy,
        by_address: true,
    },
    Contender {
        name: "InstantFit+pools handle-only",
        cli: "instant-fit-pools-handle-only",
        make: make_handle_only_pooled::<2>,
        by_address: false,
    },
    Contender {
        name: "floor",
        cli: "floor",
        make: make_floor,
        by_address: false,
    },
];

/// The contenders `--allocator VALUE` names: one, or `policies` for the
/// five vmarea policies.
pub fn select(cli: &str) -> Vec<Contender> {
    if cli == "policies" {
        return CONTENDERS[1..6].to_vec();
    }
    CONTENDERS
        .iter()
        .copied()
        .filter(|c| c.by_address && c.cli == cli)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every contender frees what its own `alloc_token` returned, and the
    /// vmarea spaces are whole again afterwards.
    #[test]
    fn every_contender_frees_its_own_tokens() {
        for c in CONTENDERS {
            let mut a = (c.make)();
            let tokens: Vec<Token> = (1..=40)
                .map(|i| a.alloc_token((i % 4 + 1) * PAGE).expect(c.name))
                .collect();
            for t in tokens {
                // SAFETY: each token came from `a` and is freed once.
                assert!(unsafe { a.free_token(t) }, "{}", c.name);
            }
            if c.by_address {
                a.check_whole().expect(c.name);
            }
        }
    }

    /// A token of another allocator's kind is refused, not misread.
    #[test]
    fn a_foreign_token_is_refused() {
        let mut floor = FloorAlloc::new();
        let mut offset = make_offset();
        let t = offset.alloc_token(PAGE).expect("offset-allocator");
        // SAFETY: refused by kind before anything is read.
        assert!(!unsafe { floor.free_token(t) });
        assert!(floor.alloc(PAGE, 0).is_none() && !floor.free(0));
    }

    /// The address map's hash spreads consecutive pages over the low bits
    /// (the bucket) and differs in the top bits (the tag).
    #[test]
    fn the_page_hash_spreads_consecutive_pages() {
        use std::hash::BuildHasher;
        let b = BuildHasherDefault::<PageHasher>::default();
        let h: Vec<u64> = (0..64)
            .map(|i| b.hash_one(VMALLOC_START + i * PAGE))
            .collect();
        let low: std::collections::HashSet<u64> = h.iter().map(|x| x & 63).collect();
        let top: std::collections::HashSet<u64> = h.iter().map(|x| x >> 57).collect();
        assert_eq!(low.len(), 64);
        assert!(top.len() > 32, "{}", top.len());
    }
}
