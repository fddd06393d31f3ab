//! `intrusive-avl` on its own: the kernel keeps a tree of the regions it
//! has mapped, keyed by start address, to answer "which region holds this
//! address" (as `find_vm_area` does) without asking the allocator.

use crate::vmalloc::{self, Vm};
use intrusive_avl::{adapter, AvlTree, Link};

pub struct Region {
    vm: Vm,
    link: Link,
}

adapter!(ByStart<'a> = &'a Region: Region { link } key usize = |r| r.vm.addr);

/// Maps 64 regions, finds each by an interior address through the tree,
/// checks the tree, unmaps them in address order. True if all held.
pub fn run() -> bool {
    let mut regions: [Option<Region>; 64] = [const { None }; 64];
    for (i, r) in regions.iter_mut().enumerate() {
        let Some(vm) = vmalloc::vmalloc((1 + i % 5) * 4096) else {
            return false;
        };
        vmalloc::fill(&vm);
        *r = Some(Region {
            vm,
            link: Link::new(),
        });
    }
    let mut ok = true;
    {
        let mut tree = AvlTree::<ByStart>::new();
        for r in regions.iter().flatten() {
            ok &= tree.insert(r).is_ok();
        }
        for r in regions.iter().flatten() {
            let inside = r.vm.addr + r.vm.usable - 1;
            ok &= tree.floor(&inside).get().map(|f| f.vm.addr) == Some(r.vm.addr);
            ok &= vmalloc::VMALLOC.find(inside).map(|a| a.addr) == Some(r.vm.addr);
        }
        ok &= tree.validate().is_ok() && tree.len() == 64;
        let mut last = 0;
        for r in tree.iter() {
            ok &= r.vm.addr > last && vmalloc::check(&r.vm);
            last = r.vm.addr;
        }
        tree.clear();
    }
    for r in regions.iter_mut().filter_map(Option::take) {
        vmalloc::vfree(r.vm);
    }
    ok
}
