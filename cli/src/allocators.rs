//! Every allocator the tool drives, behind one small trait: the vmarea
//! policies, the Linux 2.4 baseline, and the Rust range-allocator peers.
//! Sizes and alignments are in bytes; the 4 KiB page is the unit.

use crate::baselines::linux24;
use vmarea::{BoxNodes, Flags, Policy, Request, Space};

/// Bytes per page.
pub const PAGE: usize = 4096;
/// x86-64's `VMALLOC_START` (4-level paging).
pub const VMALLOC_START: usize = 0xffff_c900_0000_0000;
/// x86-64's vmalloc space: 32 TiB.
pub const VMALLOC_SIZE: usize = 32 << 40;

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
    /// `vm_map_ram` of `size` bytes (no guard page). The default is an
    /// allocation of its own, the path Linux takes above `VMAP_MAX_ALLOC`
    /// (and the only one a single-threaded allocator without per-CPU
    /// blocks has).
    fn map_ram(&mut self, size: usize) -> Option<usize> {
        self.alloc(size, 0)
    }
    /// Reports every event to [`crate::trace::record`] (vmarea's spaces
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

/// A vmarea `Space` with one policy, freeing by address.
pub struct VmArea {
    space: Space<BoxNodes>,
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
        let mut v = Self::new(policy);
        v.space
            .set_pools(CLI_POOLS.0, CLI_POOLS.1)
            .expect("at most POOL_CLASSES");
        v.pooled = true;
        v
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
            space: Space::new(start, end, PAGE, policy, BoxNodes)?,
            pooled: false,
        })
    }

    /// The space, for checks.
    pub fn space(&self) -> &Space<BoxNodes> {
        &self.space
    }

    /// The space, mutably.
    pub fn space_mut(&mut self) -> &mut Space<BoxNodes> {
        &mut self.space
    }
}

impl VmAlloc for VmArea {
    fn name(&self) -> String {
        let pools = if self.pooled { "+pools" } else { "" };
        format!("{:?}{pools}", self.space.policy())
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
        self.space.set_event_hook(Some(crate::trace::record));
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

/// `offset-allocator` in page units (free by handle; the tool keeps the
/// handles in a map from address, which it counts as metadata).
pub struct OffsetAlloc {
    inner: offset_allocator::Allocator<u32>,
    live: std::collections::HashMap<usize, offset_allocator::Allocation<u32>>,
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
    fn aligns(&self) -> bool {
        false
    }
    fn metadata_per_area(&self) -> usize {
        // Its node array entry (~7 words) plus the handle map entry.
        7 * 4 + core::mem::size_of::<(usize, offset_allocator::Allocation<u32>)>()
    }
}

/// `range-alloc` in page units (best fit over a sorted vector of free
/// ranges; free needs the range, kept in a map from address).
pub struct RangeAlloc {
    inner: range_alloc::RangeAllocator<usize>,
    live: std::collections::HashMap<usize, core::ops::Range<usize>>,
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
    fn metadata_per_area(&self) -> usize {
        core::mem::size_of::<core::ops::Range<usize>>()
            + core::mem::size_of::<(usize, core::ops::Range<usize>)>()
    }
}

/// The vmarea policies.
pub const POLICIES: [Policy; 5] = [
    Policy::Rfc,
    Policy::FirstFit,
    Policy::InstantFit,
    Policy::BestFit,
    Policy::NextFit,
];

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

/// Every contender, the 2.4 baseline first.
pub const CONTENDERS: [Contender; 9] = [
    Contender {
        name: "linux-2.4",
        cli: "linux-2.4",
        make: make_linux24,
    },
    Contender {
        name: "Rfc",
        cli: "rfc",
        make: make_policy::<0>,
    },
    Contender {
        name: "FirstFit",
        cli: "first-fit",
        make: make_policy::<1>,
    },
    Contender {
        name: "InstantFit",
        cli: "instant-fit",
        make: make_policy::<2>,
    },
    Contender {
        name: "BestFit",
        cli: "best-fit",
        make: make_policy::<3>,
    },
    Contender {
        name: "NextFit",
        cli: "next-fit",
        make: make_policy::<4>,
    },
    Contender {
        name: "InstantFit+pools",
        cli: "instant-fit-pools",
        make: make_pooled::<2>,
    },
    Contender {
        name: "offset-allocator",
        cli: "offset-allocator",
        make: make_offset,
    },
    Contender {
        name: "range-alloc",
        cli: "range-alloc",
        make: make_range_alloc,
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
        .filter(|c| c.cli == cli)
        .collect()
}
