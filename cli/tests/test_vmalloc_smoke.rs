//! The test_vmalloc port as a correctness test for every policy: every
//! allocation that should succeed does (align_shift_alloc_test fails once
//! per run, as the kernel module says it must), and afterwards the space
//! validates and is whole again. Also with two workers sharing one space.

use std::sync::Mutex;
use vmarea_cli::allocators::{VmAlloc, VmArea, POLICIES};
use vmarea_cli::test_vmalloc::{run, Params, Progress, TESTS};

fn smoke(workers: usize) -> Params {
    Params {
        nr_threads: workers,
        test_loop_count: if cfg!(debug_assertions) { 500 } else { 10_000 },
        test_repeat_count: 2,
        ..Params::default()
    }
}

fn check(alloc: Box<dyn VmAlloc + Send>, p: &Params) {
    let name = alloc.name();
    let shared = Mutex::new(alloc);
    let reports = run(&shared, p, &Progress::default(), &|| {}).expect("the workers start");
    assert_eq!(reports.len(), p.nr_threads.max(1));
    for r in &reports {
        for (i, t) in r.tests.iter().enumerate() {
            let t = t.as_ref().expect("every test selected");
            let (want_pass, want_fail) = if TESTS[i].0 == "align_shift_alloc_test" {
                (0, 2)
            } else {
                (2, 0)
            };
            assert_eq!(
                (t.passed, t.failed),
                (want_pass, want_fail),
                "{name}: {}",
                TESTS[i].0
            );
        }
    }
    let alloc = shared.into_inner().expect("lock");
    alloc
        .check_whole()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
}

#[test]
fn every_policy_passes_in_smoke_mode() {
    for &p in POLICIES {
        check(Box::new(VmArea::new(p)), &smoke(1));
    }
}

#[test]
fn two_workers_share_one_space() {
    for &p in POLICIES {
        check(Box::new(VmArea::new(p)), &smoke(2));
    }
}
