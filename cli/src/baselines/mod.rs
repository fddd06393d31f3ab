//! The baselines the comparison measures against: a faithful Linux 2.4
//! `vmlist` (`get_vm_area`/`vfree`), the RFC's problem, and the floor no
//! allocator gets under (a bump pointer and exact-size free stacks).

pub mod floor;
pub mod linux24;
