//! Linux 2.4 `mm/vmalloc.c`, faithfully: one address-sorted singly linked
//! list of *used* areas; allocation walks from `VMALLOC_START` to the first
//! hole that fits (the size includes one guard page); `vfree` walks to the
//! address and unlinks. O(n) both ways: the problem the 2001 RFC reported.
//!
//! Used by the `vmarea compare` command and by the criterion version of
//! the same sweep (`cli/benches/compare.rs`), so both measure one baseline.

/// The page size of the baseline (x86).
pub const PAGE: usize = 4096;

/// One used area (`struct vm_struct`).
pub struct VmStruct {
    /// Start address.
    pub addr: usize,
    /// Size, guard page included.
    pub size: usize,
    next: Option<Box<VmStruct>>,
}

/// The `vmlist` and its bounds (`VMALLOC_START`, `VMALLOC_END`).
pub struct VmList {
    head: Option<Box<VmStruct>>,
    start: usize,
    end: usize,
}

impl VmList {
    /// An empty space `[start, end)`.
    pub fn new(start: usize, end: usize) -> Self {
        VmList {
            head: None,
            start,
            end,
        }
    }

    /// The list `get_vm_area` would build from `areas` (sorted,
    /// `(addr, size with guard)`), without its O(n²) walks.
    pub fn with_areas(start: usize, end: usize, areas: &[(usize, usize)]) -> Self {
        let mut head = None;
        for &(addr, size) in areas.iter().rev() {
            head = Some(Box::new(VmStruct {
                addr,
                size,
                next: head,
            }));
        }
        VmList { head, start, end }
    }

    /// `get_vm_area(size, flags)`.
    pub fn get_vm_area(&mut self, size: usize) -> Option<usize> {
        let size = size + PAGE; // the guard page
        let mut addr = self.start;
        let mut p = &mut self.head;
        while p.as_ref().is_some_and(|tmp| size + addr > tmp.addr) {
            let tmp = p.as_mut()?;
            addr = tmp.size + tmp.addr;
            if addr > self.end - size {
                return None;
            }
            p = &mut tmp.next;
        }
        let next = p.take();
        *p = Some(Box::new(VmStruct { addr, size, next }));
        Some(addr)
    }

    /// `vfree(addr)`.
    pub fn vfree(&mut self, addr: usize) -> bool {
        let mut p = &mut self.head;
        while p.as_ref().is_some_and(|tmp| tmp.addr != addr) {
            p = &mut p.as_mut().expect("checked").next;
        }
        match p.take() {
            Some(mut tmp) => {
                *p = tmp.next.take();
                true
            }
            None => false,
        }
    }
}

impl Drop for VmList {
    fn drop(&mut self) {
        // Iteratively: a recursive drop of 1e5 boxes would overflow.
        let mut cur = self.head.take();
        while let Some(mut n) = cur {
            cur = n.next.take();
        }
    }
}
