//! Issue 19's command-line items: endless, junk and maximal input gets a
//! clear error and a non-zero status, never a panic or unbounded memory.

use std::io::Write;
use std::process::{Command, Stdio};

fn vmarea(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vmarea"))
        .args(args)
        .output()
        .expect("run vmarea")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// No panic message, no backtrace.
fn no_panic(o: &std::process::Output) {
    let e = stderr(o);
    assert!(
        !e.contains("panicked") && !e.contains("RUST_BACKTRACE"),
        "{e}"
    );
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vmarea-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Item 8: the documented maximum of workers, on a machine that cannot
/// start them all (address space limited to 4 GB: about 1,500 thread
/// stacks), is refused with a clear error and status 1, never a panic.
#[test]
fn the_maximum_nr_threads_never_panics() {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 4000000 && exec {} test-vmalloc --nr_threads 65535 \
             --test_loop_count 1 --run_test_mask 1",
            env!("CARGO_BIN_EXE_vmarea")
        ))
        .output()
        .unwrap();
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("of 65535 workers") && e.contains("lower nr_threads"),
        "{e}"
    );
}

/// Item 9: an endless line (as `/dev/zero` gives) is refused with its
/// line number, in bounded memory.
#[test]
fn an_endless_line_is_refused_with_its_number() {
    for cmd in ["replay", "info"] {
        let o = vmarea(&[cmd, "/dev/zero"]);
        no_panic(&o);
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        let e = stderr(&o);
        assert!(e.contains(":1:") && e.contains("longer than"), "{cmd}: {e}");
    }
}

/// Item 9: `-` reads standard input.
#[test]
fn a_dash_reads_standard_input() {
    let info = "0xffffc90000000000-0xffffc90000005000   20480 some_fn+0x10/0x20 pages=4 vmalloc\n";
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmarea"))
        .args(["info", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(info.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 areas (1 used"));
}

/// Item 10: junk is not a vmallocinfo dump, whatever few lines parse.
#[test]
fn junk_is_not_a_vmallocinfo_dump() {
    let path = scratch("junk");
    let mut text = String::new();
    for i in 0..2000 {
        text += &format!("garbage line {i} with 0x{i:x}-zz\n");
        if i % 100 == 0 {
            // A few lines that happen to parse.
            text += &format!("0x{:x}-0x{:x} 4096 x\n", i * 8192, i * 8192 + 4096);
        }
    }
    std::fs::write(&path, text).unwrap();
    let o = vmarea(&["info", path.to_str().unwrap()]);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not a vmallocinfo dump"),
        "{}",
        stderr(&o)
    );
}

/// Item 10: a line spanning the whole address space is refused for what
/// it is (too large), not as an overlap, and the status says so.
#[test]
fn a_line_spanning_everything_is_refused_as_too_large() {
    let path = scratch("whole");
    std::fs::write(
        &path,
        "0x0-0xffffffffffffffff 18446744073709551615 vmalloc\n\
         0xffffc90000000000-0xffffc90000005000 20480 vmalloc\n",
    )
    .unwrap();
    let o = vmarea(&["info", path.to_str().unwrap()]);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(all.contains("larger than the space"), "{all}");
    assert!(!all.contains("overlap"), "{all}");
}

/// Item 11: a negative mask is a clear error, not a flag.
#[test]
fn a_negative_mask_is_a_clear_error() {
    for args in [
        &["test-vmalloc", "--run_test_mask", "-1"][..],
        &["test-vmalloc", "run_test_mask=-1"][..],
    ] {
        let o = vmarea(args);
        no_panic(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        assert!(e.contains("-1") && e.contains("negative"), "{args:?}: {e}");
        assert!(!e.contains("unexpected argument"), "{e}");
    }
}

/// Item 11: `nr_pages` whose bytes overflow fails the run (as in the
/// module), saying why before it runs.
#[test]
fn nr_pages_past_the_address_type_fails_saying_why() {
    let max = u64::MAX.to_string();
    let o = vmarea(&[
        "test-vmalloc",
        "--nr_pages",
        &max,
        "--run_test_mask",
        "1",
        "--test_loop_count",
        "1",
    ]);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("nr_pages") && e.contains("bytes"), "{e}");
}

/// Item 11: a long run says how far it has got: loops, not only whole
/// test runs (checked on the progress line the bar draws to a terminal
/// through the library's counter).
#[test]
fn long_runs_count_loops_as_they_go() {
    let p = vmarea_cli::test_vmalloc::Params {
        test_loop_count: 5000,
        run_test_mask: 1,
        nr_threads: 1,
        ..Default::default()
    };
    let seen = std::sync::atomic::AtomicU64::new(0);
    let alloc = std::sync::Mutex::new((vmarea_cli::allocators::CONTENDERS[0].make)());
    let loops = vmarea_cli::test_vmalloc::Progress::default();
    vmarea_cli::test_vmalloc::run(&alloc, &p, &loops, &|| {
        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(loops.loops(), 5000, "every loop counted");
    assert_eq!(seen.into_inner(), 1);
}
