//! The Rust peers issue 21 adds beside `offset-allocator` and `range-alloc`
//! (those two live in `allocators.rs`): the `vmem` crate (Bonwick and
//! Adams' vmem, boundary tags and a hash of allocated segments), `xalloc`'s
//! TLSF (`SysTlsf`, two-level segregated fit) and
//! `buddy_system_allocator`'s `FrameAllocator` (a binary buddy over page
//! frames). Each is driven through its public API in page units, as its
//! users would; what each one's free takes is said by `own_free`.

use crate::allocators::{AddrMap, Token, VmAlloc, PAGE, VMALLOC_SIZE, VMALLOC_START};
use bench_table::workload::lay_out;
use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr::NonNull;

/// Pages a peer that counts in `u32` manages (as for `offset-allocator`).
const U32_PAGES: usize = 1 << 31;

/// Boundary tags for the `vmem` arena: one `Box` each, as the global
/// allocator gives them (vmarea's own `BoxNodes` does the same).
pub struct BoxTags;

// SAFETY: `allocate` hands out a fresh, properly sized and aligned block
// for one `Bt` from the global allocator, and `deallocate` returns exactly
// such a block to it; nothing else is done with them.
unsafe impl vmem::Allocator for BoxTags {
    fn allocate(&self) -> Option<NonNull<vmem::Bt>> {
        let b: Box<core::mem::MaybeUninit<vmem::Bt>> = Box::new(core::mem::MaybeUninit::uninit());
        NonNull::new(Box::into_raw(b).cast::<vmem::Bt>())
    }
    unsafe fn deallocate(&self, ptr: NonNull<vmem::Bt>) {
        // SAFETY: `ptr` came from `allocate` (the trait's contract), so it
        // is a `Box` of one uninitialised-or-dead `Bt`; dropping the
        // `MaybeUninit` runs no destructor.
        drop(unsafe { Box::from_raw(ptr.as_ptr().cast::<core::mem::MaybeUninit<vmem::Bt>>()) });
    }
}

/// A lock that does not lock: the arena is reached only through
/// [`VmemArena`]'s `&mut self` methods, one caller at a time, as vmarea's
/// `Space` is (a lock would add a cost no other contender pays).
#[derive(Default)]
pub struct Unshared(PhantomData<Cell<()>>);

// SAFETY: `Unshared` is `!Sync` (a `Cell` marker), so an arena using it is
// `!Sync` (vmem's `Sync` impl requires `L: Sync`) and cannot be reached
// from two threads at once: exclusive access comes from the owner.
unsafe impl vmem::Lock for Unshared {
    type Guard<'a> = ();
    fn lock(&self) {}
}

/// The `vmem` arena every measurement drives.
pub type Arena = vmem::Arena<'static, 'static, BoxTags, Unshared>;

// The no-op lock is sound only while no arena using it can be shared.
static_assertions::assert_not_impl_any!(Unshared: Sync);
static_assertions::assert_not_impl_any!(Arena: Sync);
static_assertions::assert_not_impl_any!(VmemArena: Sync);

/// An arena with a page quantum over `[start, start + len)`, boxed before
/// the span goes in (the arena's lists may point into it, so it must not
/// move afterwards).
pub fn vmem_arena(start: usize, len: usize) -> Box<Arena> {
    let arena =
        Box::new(Arena::create("vmalloc", PAGE, None, BoxTags).expect("a page is a power of two"));
    arena.add_span(start, len).expect("a valid span");
    arena
}

/// The `vmem` crate (1.0): an arena over the vmalloc range with a page
/// quantum, instant fit; frees by address (its hash of allocated
/// segments), aligns (`xalloc` with a layout).
pub struct VmemArena {
    /// Boxed: the arena's lists may point into it (never moved once spans
    /// are added).
    arena: Box<Arena>,
}

impl VmemArena {
    /// An arena over the whole x86-64 vmalloc range.
    pub fn new() -> Self {
        VmemArena {
            arena: vmem_arena(VMALLOC_START, VMALLOC_SIZE),
        }
    }
}

impl Default for VmemArena {
    fn default() -> Self {
        Self::new()
    }
}

impl VmAlloc for VmemArena {
    fn name(&self) -> String {
        "vmem".into()
    }
    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        // Pages plus the guard page, as every contender.
        let bytes = (size.div_ceil(PAGE) + 1) * PAGE;
        if align > PAGE {
            let layout = vmem::Layout::from_size_align(bytes, align)?;
            return self
                .arena
                .xalloc(layout, vmem::AllocPolicy::InstantFit)
                .ok();
        }
        self.arena.alloc(bytes, vmem::AllocPolicy::InstantFit).ok()
    }
    fn free(&mut self, addr: usize) -> bool {
        self.arena.free(addr).is_ok()
    }
    fn metadata_per_area(&self) -> usize {
        // One boundary tag per allocated segment (its hash chains through
        // the tag), plus the free segment it may split off.
        core::mem::size_of::<vmem::Bt>()
    }
    fn check_whole(&self) -> Result<(), String> {
        match self.arena.allocated_space() {
            0 => Ok(()),
            n => Err(format!("vmem: {n} bytes still allocated")),
        }
    }
}

/// `xalloc`'s TLSF (0.2, `SysTlsf<u32>`, in pages; its block headers from
/// the global allocator): frees by region handle, so freeing by address
/// goes through an [`AddrMap`]; aligns (`alloc_aligned`).
pub struct XallocTlsf {
    inner: xalloc::SysTlsf<u32>,
    live: AddrMap<xalloc::SysTlsfRegion>,
}

impl XallocTlsf {
    /// A TLSF over the first 2^31 pages of the vmalloc range.
    pub fn new() -> Self {
        XallocTlsf {
            inner: xalloc::SysTlsf::new(U32_PAGES as u32),
            live: AddrMap::default(),
        }
    }

    fn pages(size: usize) -> Option<u32> {
        u32::try_from(size.div_ceil(PAGE) + 1).ok()
    }
}

impl Default for XallocTlsf {
    fn default() -> Self {
        Self::new()
    }
}

impl VmAlloc for XallocTlsf {
    fn name(&self) -> String {
        "xalloc-tlsf".into()
    }
    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        let pages = Self::pages(size)?;
        let (region, offset) = if align > PAGE {
            let align = u32::try_from(align / PAGE).ok()?;
            self.inner.alloc_aligned(pages, align)?
        } else {
            self.inner.alloc(pages)?
        };
        let addr = VMALLOC_START + offset as usize * PAGE;
        self.live.insert(addr, region);
        Some(addr)
    }
    fn free(&mut self, addr: usize) -> bool {
        match self.live.remove(&addr) {
            Some(r) => self.inner.dealloc(r).is_ok(),
            None => false,
        }
    }
    fn own_free(&self) -> &'static str {
        "handle"
    }
    fn alloc_token(&mut self, size: usize) -> Option<Token> {
        let (region, _) = self.inner.alloc(Self::pages(size)?)?;
        Some(Token::Tlsf(region))
    }
    unsafe fn free_token(&mut self, token: Token) -> bool {
        match token {
            Token::Tlsf(r) => self.inner.dealloc(r).is_ok(),
            Token::Addr(addr) => self.free(addr),
            _ => false,
        }
    }
    fn metadata_per_area(&self) -> usize {
        // Its block header (from the global allocator) plus the handle
        // map's entry.
        core::mem::size_of::<xalloc::tlsf::TlsfBlock<u32, xalloc::arena::sys::Ptr>>()
            + core::mem::size_of::<(usize, xalloc::SysTlsfRegion)>()
    }
}

/// `buddy_system_allocator`'s `FrameAllocator` (0.13) over page frames: a
/// binary buddy, so every request is rounded up to a power of two of
/// pages (the waste the memory figures show); frees by (frame, count),
/// which the caller keeps (an [`AddrMap`] of block sizes to free by
/// address); a block is aligned to its own size, so an alignment is met by
/// asking for a block at least that large.
pub struct BuddyFrames {
    inner: buddy_system_allocator::FrameAllocator,
    live: AddrMap<usize>,
}

impl BuddyFrames {
    /// A buddy allocator over every page of the vmalloc range.
    pub fn new() -> Self {
        let mut inner = buddy_system_allocator::FrameAllocator::new();
        inner.add_frame(0, VMALLOC_SIZE / PAGE);
        BuddyFrames {
            inner,
            live: AddrMap::default(),
        }
    }

    /// The block a request takes: its pages and the guard, rounded up to a
    /// power of two of frames, and at least the alignment in frames.
    fn block(size: usize, align: usize) -> usize {
        (size.div_ceil(PAGE) + 1)
            .next_power_of_two()
            .max(align / PAGE)
    }
}

impl Default for BuddyFrames {
    fn default() -> Self {
        Self::new()
    }
}

impl VmAlloc for BuddyFrames {
    fn name(&self) -> String {
        "buddy-frames".into()
    }
    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        // Frame numbers count from the range's start, which is aligned to
        // 2^40 bytes: a block of 2^k frames starts at a multiple of 2^k
        // frames, an address aligned to 2^(k+12) bytes up to there.
        if align > 1 << VMALLOC_START.trailing_zeros() {
            return None;
        }
        let block = Self::block(size, align);
        let frame = self.inner.alloc(block)?;
        let addr = VMALLOC_START + frame * PAGE;
        self.live.insert(addr, block);
        Some(addr)
    }
    fn free(&mut self, addr: usize) -> bool {
        match self.live.remove(&addr) {
            Some(block) => {
                self.inner.dealloc((addr - VMALLOC_START) / PAGE, block);
                true
            }
            None => false,
        }
    }
    fn own_free(&self) -> &'static str {
        "frame and count"
    }
    fn alloc_token(&mut self, size: usize) -> Option<Token> {
        let pages = size.div_ceil(PAGE) + 1;
        let frame = self.inner.alloc(pages)?;
        Some(Token::Frames { frame, pages })
    }
    unsafe fn free_token(&mut self, token: Token) -> bool {
        match token {
            Token::Frames { frame, pages } => {
                self.inner.dealloc(frame, pages);
                true
            }
            Token::Addr(addr) => self.free(addr),
            _ => false,
        }
    }
    fn metadata_per_area(&self) -> usize {
        // Nothing per live block inside it (free blocks sit in B-tree
        // sets); the caller keeps the count: the map's entry.
        core::mem::size_of::<(usize, usize)>()
    }
}

/// `n` live two-page areas laid out in a fresh `vmem` arena over `span_pages`
/// pages from `start`, as every contender of the benchmarks is laid out
/// (`bench_table::workload::lay_out`: every eighth freed again).
pub fn laid_out_vmem(start: usize, span_pages: usize, n: usize) -> Box<Arena> {
    let mut arena = vmem_arena(start, span_pages * PAGE);
    lay_out(
        &mut arena,
        n,
        |a| {
            a.alloc(2 * PAGE, vmem::AllocPolicy::InstantFit)
                .expect("prefill")
        },
        |a, x| a.free(x).expect("free"),
    );
    arena
}

/// [`laid_out_vmem`] for `xalloc`'s TLSF over `span_pages` pages.
pub fn laid_out_xalloc(span_pages: usize, n: usize) -> xalloc::SysTlsf<u32> {
    let pages = u32::try_from(span_pages).expect("pages fit u32");
    let mut tlsf = xalloc::SysTlsf::<u32>::new(pages);
    lay_out(
        &mut tlsf,
        n,
        |a| a.alloc(2).expect("prefill").0,
        |a, r| a.dealloc(r).expect("free"),
    );
    tlsf
}

/// [`laid_out_vmem`] for the buddy allocator over frames `0..span_pages`.
pub fn laid_out_buddy(span_pages: usize, n: usize) -> buddy_system_allocator::FrameAllocator {
    let mut buddy = buddy_system_allocator::FrameAllocator::new();
    buddy.add_frame(0, span_pages);
    lay_out(
        &mut buddy,
        n,
        |a| a.alloc(2).expect("prefill"),
        |a, x| a.dealloc(x, 2),
    );
    buddy
}
