//! Physical frames (from the bootloader's memory map) and the kernel's page
//! tables (an `OffsetPageTable` over the bootloader's physical-memory map).

use bootloader_api::info::{MemoryRegionKind, MemoryRegions};
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame, Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

pub const PAGE: u64 = 4096;

/// Frames: a free list threaded through freed frames (through the physical
/// map), then a bump over the usable regions above 1 MiB.
pub struct Frames {
    phys_offset: u64,
    regions: &'static MemoryRegions,
    region: usize,
    next: u64,
    free: u64,
    pub in_use: usize,
}

impl Frames {
    fn alloc(&mut self) -> Option<PhysFrame> {
        if self.free != 0 {
            let f = self.free;
            // SAFETY: a freed frame, mapped at `phys_offset + f`, holds the
            // next free frame's address.
            self.free = unsafe { *((self.phys_offset + f) as *const u64) };
            self.in_use += 1;
            return Some(PhysFrame::containing_address(PhysAddr::new(f)));
        }
        while let Some(r) = self.regions.get(self.region) {
            let start = r.start.max(0x10_0000).max(self.next).next_multiple_of(PAGE);
            if r.kind == MemoryRegionKind::Usable && start + PAGE <= r.end {
                self.next = start + PAGE;
                self.in_use += 1;
                return Some(PhysFrame::containing_address(PhysAddr::new(start)));
            }
            self.region += 1;
            self.next = 0;
        }
        None
    }

    pub fn free(&mut self, f: PhysFrame) {
        let p = f.start_address().as_u64();
        // SAFETY: the frame is ours again; the physical map makes it writable.
        unsafe { *((self.phys_offset + p) as *mut u64) = self.free };
        self.free = p;
        self.in_use -= 1;
    }
}

// SAFETY: `alloc` hands out each usable frame once until it is freed.
unsafe impl FrameAllocator<Size4KiB> for Frames {
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        self.alloc()
    }
}

pub struct Memory {
    pub table: OffsetPageTable<'static>,
    pub frames: Frames,
}

impl Memory {
    /// Maps `page` to a fresh frame, writable, not executable.
    pub fn map(&mut self, page: Page) -> bool {
        let Some(frame) = self.frames.alloc() else {
            return false;
        };
        let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE;
        // SAFETY: `frame` is unused and `page` lies in the vmalloc region,
        // which nothing else maps.
        match unsafe { self.table.map_to(page, frame, flags, &mut self.frames) } {
            // A new mapping: no stale TLB entry can exist (every unmapping
            // was flushed by the purge that made the range reusable).
            Ok(flush) => {
                flush.ignore();
                true
            }
            Err(_) => false,
        }
    }

    /// Maps `page` to the device frame at `phys`, uncached.
    pub fn map_device(&mut self, page: Page, phys: u64) -> bool {
        let frame = PhysFrame::containing_address(PhysAddr::new(phys));
        let flags = PageTableFlags::PRESENT
            | PageTableFlags::WRITABLE
            | PageTableFlags::NO_CACHE
            | PageTableFlags::WRITE_THROUGH
            | PageTableFlags::NO_EXECUTE;
        // SAFETY: device registers, mapped once, in the vmalloc region.
        match unsafe { self.table.map_to(page, frame, flags, &mut self.frames) } {
            Ok(flush) => {
                flush.ignore();
                true
            }
            Err(_) => false,
        }
    }

    /// Maps the low page at `phys` to itself, executable: the AP trampoline
    /// runs there while it turns paging on.
    pub fn map_identity(&mut self, phys: u64) -> bool {
        let frame = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(phys));
        let page = Page::containing_address(VirtAddr::new(phys));
        let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
        // SAFETY: the page is free low memory nothing else uses, and the
        // low virtual page is unmapped (checked by `map_to`).
        match unsafe { self.table.map_to(page, frame, flags, &mut self.frames) } {
            Ok(flush) => {
                flush.flush();
                true
            }
            Err(_) => false,
        }
    }

    /// Removes the identity mapping `map_identity` made (the frame is not
    /// the frame allocator's).
    pub fn unmap_identity(&mut self, phys: u64) {
        let page: Page = Page::containing_address(VirtAddr::new(phys));
        if let Ok((_, flush)) = self.table.unmap(page) {
            flush.flush();
        }
    }

    /// The kernel's view of physical address `phys`.
    pub fn phys_to_virt(&self, phys: u64) -> *mut u8 {
        (self.frames.phys_offset + phys) as *mut u8
    }

    /// The active level-4 table's physical address.
    pub fn cr3(&self) -> u64 {
        Cr3::read().0.start_address().as_u64()
    }

    /// A usable page below 1 MiB (other than page 0) for the AP trampoline.
    pub fn low_page(&self) -> Option<u64> {
        self.frames.regions.iter().find_map(|r| {
            let start = r.start.max(PAGE).next_multiple_of(PAGE);
            (r.kind == MemoryRegionKind::Usable && start + PAGE <= r.end.min(0x10_0000))
                .then_some(start)
        })
    }

    /// Unmaps `page` without flushing (the flush hook does it before the
    /// range is reused) and frees its frame.
    pub fn unmap(&mut self, page: Page) -> bool {
        match self.table.unmap(page) {
            Ok((frame, flush)) => {
                flush.ignore();
                self.frames.free(frame);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether PML4 entries `[first, first + count)` are unused.
    pub fn pml4_free(&self, first: usize, count: usize) -> bool {
        let l4 = self.table.level_4_table();
        (first..first + count).all(|i| l4[i].is_unused())
    }
}

pub static MEMORY: spin::Once<spin::Mutex<Memory>> = spin::Once::new();

pub fn init(phys_offset: u64, regions: &'static MemoryRegions) {
    let (l4, _) = Cr3::read();
    let l4_virt = VirtAddr::new(phys_offset + l4.start_address().as_u64());
    // SAFETY: the bootloader maps all physical memory at `phys_offset`, and
    // the active level-4 table is used only through this `Memory`.
    let table = unsafe {
        OffsetPageTable::new(
            &mut *l4_virt.as_mut_ptr::<PageTable>(),
            VirtAddr::new(phys_offset),
        )
    };
    MEMORY.call_once(|| {
        spin::Mutex::new(Memory {
            table,
            frames: Frames {
                phys_offset,
                regions,
                region: 0,
                next: 0,
                free: 0,
                in_use: 0,
            },
        })
    });
}

pub fn memory() -> spin::MutexGuard<'static, Memory> {
    MEMORY.get().expect("memory::init ran").lock()
}
