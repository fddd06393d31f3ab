//! Issue 23: a harness cannot publish a figure from a failed run. Every
//! `pair_profile` mode runs briefly here and must exit cleanly (before the
//! fix, `offset-allocator … random` ran out of nodes and panicked, and the
//! panic's instructions were published as its figure); and a contender
//! that fails exits non-zero, which `scripts/callgrind-cells.sh` checks.

use std::process::Command;

/// The example binary `cargo test` built beside this test.
fn pair_profile() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join("pair_profile")
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    Command::new(pair_profile())
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run pair_profile (built by cargo test)")
}

#[test]
fn every_mode_exits_cleanly() {
    let contenders = [
        "Rfc",
        "FirstFit",
        "InstantFit",
        "BestFit",
        "offset-allocator",
        "linux-2.4",
        "floor",
    ];
    for who in contenders {
        for mode in [
            &["x"][..],
            &["handle"],
            &["handle-only"],
            &["x", "random"],
            &["handle", "random"],
        ] {
            if who == "linux-2.4" && mode.len() == 2 {
                continue; // no random mode for the baseline
            }
            let mut args = vec![who, "3000", "300"];
            args.extend_from_slice(mode);
            for envs in [&[][..], &[("PAIR_POOLS", "1")], &[("PAIR_ALIGN", "65536")]] {
                let o = run(&args, envs);
                assert!(
                    o.status.success(),
                    "{args:?} {envs:?}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
    }
}

/// Issue 21's peers (pairs only: they have no random mode, refused with a
/// non-zero exit) and offset-allocator freeing by address.
#[test]
fn the_new_peers_and_the_by_address_mode_exit_cleanly() {
    for args in [
        &["vmem", "3000", "300"][..],
        &["xalloc-tlsf", "3000", "300"],
        &["buddy-frames", "3000", "300"],
        &["vmem", "0", "300"],
        &["offset-allocator", "3000", "300", "address"],
    ] {
        let o = run(args, &[]);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = run(&["vmem", "3000", "300", "x", "random"], &[]);
    assert!(
        !o.status.success(),
        "a random mode it does not have must fail"
    );
}

#[test]
fn an_unknown_contender_is_refused_not_measured_as_another() {
    // It used to measure InstantFit under the name it was given.
    let o = run(&["NoSuchPolicy", "10", "10"], &[]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unknown contender must not measure"
    );
    assert!(o.stdout.is_empty());
}
