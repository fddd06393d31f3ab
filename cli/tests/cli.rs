//! The binary as a user runs it.

use std::process::Command;

fn vmarea(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vmarea"))
        .args(args)
        .output()
        .expect("run vmarea")
}

#[test]
fn help_for_every_subcommand() {
    let top = vmarea(&["--help"]);
    assert!(top.status.success());
    let text = String::from_utf8_lossy(&top.stdout);
    for sub in ["compare", "test-vmalloc"] {
        assert!(text.contains(sub), "{text}");
        let h = vmarea(&[sub, "--help"]);
        assert!(h.status.success(), "{sub} --help");
        assert!(String::from_utf8_lossy(&h.stdout).contains("Usage"));
    }
}

#[test]
fn test_vmalloc_prints_the_modules_summary_lines() {
    let out = vmarea(&[
        "test-vmalloc",
        "--test_loop_count",
        "200",
        "--run_test_mask",
        "73",
        "--sequential_test_order",
        "true",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // 73 = 1 + 8 + 64: fix_size, random_size, align_shift.
    assert!(
        text.contains(
            "Summary: fix_size_alloc_test passed: 1 failed: 0 repeat: 1 loops: 200 avg: "
        ),
        "{text}"
    );
    assert!(
        text.contains("Summary: random_size_alloc_test passed: 1 failed: 0"),
        "{text}"
    );
    assert!(
        text.contains("Summary: align_shift_alloc_test passed: 0 failed: 1"),
        "{text}"
    );
    assert_eq!(text.matches("Summary:").count(), 3);
}

#[test]
fn test_vmalloc_json_is_parseable() {
    let out = vmarea(&[
        "test-vmalloc",
        "--allocator",
        "linux-2.4",
        "--test_loop_count",
        "100",
        "--run_test_mask",
        "1",
        "--json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v[0]["allocator"], "linux-2.4");
    assert_eq!(v[0]["test"], "fix_size_alloc_test");
    assert_eq!(v[0]["passed"], 1);
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    for args in [
        &["test-vmalloc", "--test_loop_count", "-5"][..],
        &["test-vmalloc", "--allocator", "nope"],
        &["frobnicate"],
    ] {
        let out = vmarea(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}
