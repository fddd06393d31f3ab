//! The `vmarea` command-line tool's library: the allocators it drives and
//! the baselines, the port of Linux's `test_vmalloc`, and the comparison. `main.rs` is only
//! argument parsing and printing; integration tests use this crate directly.

pub mod allocators;
pub mod baselines;
pub mod compare;
pub mod input;
pub mod peers;
pub mod recording;
pub mod report;
pub mod test_vmalloc;
pub mod trace;
pub mod vmallocinfo;
pub mod workload;
