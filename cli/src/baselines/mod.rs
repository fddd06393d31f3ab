//! The baselines the comparison measures against: a faithful Linux 2.4
//! `vmlist` (`get_vm_area`/`vfree`), the RFC's problem.

pub mod linux24;
