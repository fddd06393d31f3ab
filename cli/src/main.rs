//! `vmarea`: the project's main job. See `vmarea --help`.

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;
use vmarea::Policy;
use vmarea_cli::allocators::{select, CONTENDERS};
use vmarea_cli::report::{human_bytes, Contender, Envelope, InfoSummary, SweepPoint, TestRun};
use vmarea_cli::test_vmalloc::{self, Params, TESTS};

/// Where `compare` writes its plot unless told otherwise.
const DEFAULT_SVG: &str = "target/compare.svg";

#[derive(Parser)]
#[command(
    name = "vmarea",
    version,
    about = "The 2001 vmalloc RFC's allocator on Linux's own workloads"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Every policy, Linux 2.4 and the Rust peers on the same workloads:
    /// a live-area sweep, churn packing, and the test_vmalloc cases.
    Compare(CompareArgs),
    /// Port of Linux's lib/test_vmalloc.c on the address-range allocator.
    TestVmalloc(TestVmallocArgs),
    /// Replay a vmalloc tracepoint log recorded from tracefs on every policy.
    Replay(ReplayArgs),
    /// Load a /proc/vmallocinfo snapshot as a starting layout and report on it.
    Info(InfoArgs),
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// The trace (`cat /sys/kernel/tracing/trace` with events/vmalloc enabled).
    file: std::path::PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct InfoArgs {
    /// The snapshot (`cat /proc/vmallocinfo`, as root).
    file: std::path::PathBuf,
    /// Continue with this trace from the loaded layout.
    #[arg(long)]
    then_replay: Option<std::path::PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct CompareArgs {
    /// Full sizes (up to 1e6 live areas, larger loop counts); minutes, not seconds.
    #[arg(long)]
    full: bool,
    /// Where to write the log–log plot of the by-address sweep; the plot of
    /// each allocator's own free goes beside it, with `-own` before the
    /// extension.
    #[arg(long, default_value = DEFAULT_SVG)]
    svg: std::path::PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// The module's defaults (or the values given).
    Custom,
    /// tools/testing/selftests/mm/test_vmalloc.sh performance: sequential order, repeat 3.
    Performance,
    /// stress: one worker per CPU, repeat 20.
    Stress,
    /// smoke: 10,000 loops, repeat 10.
    Smoke,
}

#[derive(clap::Args)]
struct TestVmallocArgs {
    /// Allocator to run the tests on (`policies`: the five vmarea policies).
    #[arg(long, default_value = "first-fit", value_parser = allocator_names())]
    allocator: String,
    /// Preset of the kernel's test script; explicit parameters override it.
    #[arg(long, value_enum, default_value = "custom")]
    mode: Mode,
    /// Workers running the tests at once.
    #[arg(long = "nr_threads", alias = "nr-threads")]
    nr_threads: Option<usize>,
    /// Run the tests in their numbered order (a module boolean: 1/0, Y/N,
    /// true/false).
    #[arg(long = "sequential_test_order", alias = "sequential-test-order", value_parser = module_bool)]
    sequential_test_order: Option<bool>,
    /// Runs of each test.
    #[arg(long = "test_repeat_count", alias = "test-repeat-count")]
    test_repeat_count: Option<usize>,
    /// Iterations of each test's loop (module default 1,000,000).
    #[arg(long = "test_loop_count", alias = "test-loop-count")]
    test_loop_count: Option<usize>,
    /// Pages for fix_size_alloc_test.
    #[arg(long = "nr_pages", alias = "nr-pages")]
    nr_pages: Option<usize>,
    /// Bit i runs test i: 1 fix_size, 2 full_fit, 4 long_busy_list, 8 random_size,
    /// 16 fix_align, 32 random_size_align, 64 align_shift, 128 pcpu, 1024
    /// vm_map_ram (decimal or 0x hex, as the module takes it).
    #[arg(long = "run_test_mask", alias = "run-test-mask", value_parser = module_uint, allow_hyphen_values = true)]
    run_test_mask: Option<u32>,
    /// Record the allocator's own events to this file in tracefs format
    /// (vmarea allocators; `vmarea replay FILE` reads it back).
    #[arg(long)]
    trace: Option<std::path::PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// The test_vmalloc module's parameters, which it also takes as
/// `name=value` (`modprobe test_vmalloc run_test_mask=7 nr_threads=2`).
const MODULE_PARAMS: [&str; 6] = [
    "nr_threads",
    "sequential_test_order",
    "test_repeat_count",
    "test_loop_count",
    "nr_pages",
    "run_test_mask",
];

/// Rewrites the module's `name=value` syntax after `test-vmalloc` into
/// `--name=value`, so `vmarea test-vmalloc run_test_mask=0x7 nr_threads=2`
/// works as `modprobe` would take it.
fn module_syntax(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut in_test_vmalloc = false;
    args.enumerate()
        .map(|(i, a)| {
            if i > 0 && a == "test-vmalloc" {
                in_test_vmalloc = true;
            }
            match a.split_once('=') {
                Some((name, _)) if in_test_vmalloc && MODULE_PARAMS.contains(&name) => {
                    format!("--{a}")
                }
                _ => a,
            }
        })
        .collect()
}

/// A module boolean: `1`/`0`, `Y`/`N` (any case), `true`/`false`.
fn module_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "y" | "yes" | "true" => Ok(true),
        "0" | "n" | "no" | "false" => Ok(false),
        _ => Err(format!("{s:?} is not a boolean (1/0, Y/N, true/false)")),
    }
}

/// A module unsigned integer: decimal, or hex with `0x`. A negative one is
/// refused by name (the module's `kstrtouint` refuses it too).
fn module_uint(s: &str) -> Result<u32, String> {
    if s.starts_with('-') {
        return Err(format!(
            "{s}: negative; the mask is unsigned (0 to 0xffffffff)"
        ));
    }
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|e| format!("{s:?}: {e}"))
}

/// `--allocator` takes a contender's `cli` value or `policies`.
fn allocator_names() -> clap::builder::PossibleValuesParser {
    let names: Vec<&'static str> = CONTENDERS
        .iter()
        .filter(|c| c.by_address)
        .map(|c| c.cli)
        .chain(["policies"])
        .collect();
    clap::builder::PossibleValuesParser::new(names)
}

fn test_vmalloc_cmd(a: TestVmallocArgs) {
    let mut p = Params::default();
    match a.mode {
        Mode::Custom => {}
        Mode::Performance => {
            p.sequential_test_order = true;
            p.test_repeat_count = 3;
        }
        Mode::Stress => {
            p.nr_threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            p.test_repeat_count = 20;
        }
        Mode::Smoke => {
            p.test_loop_count = 10_000;
            p.test_repeat_count = 10;
        }
    }
    // Clamped as the module clamps it (1 … USHRT_MAX).
    p.nr_threads = test_vmalloc::clamp_threads(a.nr_threads.unwrap_or(p.nr_threads));
    p.sequential_test_order = a.sequential_test_order.unwrap_or(p.sequential_test_order);
    p.test_repeat_count = a.test_repeat_count.unwrap_or(p.test_repeat_count);
    p.test_loop_count = a.test_loop_count.unwrap_or(p.test_loop_count);
    p.nr_pages = a.nr_pages.unwrap_or(p.nr_pages);
    p.run_test_mask = a.run_test_mask.unwrap_or(p.run_test_mask);
    if p.nr_pages
        .checked_mul(vmarea_cli::allocators::PAGE)
        .is_none()
    {
        // Every allocation of it fails, as the module's vmalloc would (and
        // the run with it, status 1): say why before running.
        eprintln!(
            "vmarea: warning: nr_pages={}: that many {}-byte pages is more bytes than an \
             address holds; fix_size_alloc_test and vm_map_ram_test will fail",
            p.nr_pages,
            vmarea_cli::allocators::PAGE
        );
    }

    let selected = (0..TESTS.len())
        .filter(|&i| test_vmalloc::selects(p.run_test_mask, i))
        .count();
    if selected == 0 {
        // The module runs nothing then, silently; say so.
        eprintln!(
            "vmarea: warning: run_test_mask {:#x} selects no test (bits 0-7 and 10 are the \
             ported tests; 8 and 9, the module's kvfree_rcu tests, are not ported)",
            p.run_test_mask,
        );
    }
    let mut allocs: Vec<_> = select(&a.allocator).iter().map(|c| (c.make)()).collect();
    if let Some(path) = &a.trace {
        if let Err(e) = vmarea_cli::trace::start_recording(path) {
            eprintln!("vmarea: cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
        for alloc in &mut allocs {
            if !alloc.record_events() {
                eprintln!("vmarea: warning: {} reports no events", alloc.name());
            }
        }
    }
    let runs = (allocs.len() * selected * p.nr_threads.max(1) * p.test_repeat_count.max(1)) as u64;
    let bar = ProgressBar::new(runs);
    let loops = std::sync::Arc::new(test_vmalloc::Progress::default());
    let shown = std::sync::Arc::clone(&loops);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {bar:40} {pos}/{len} test runs, {loops} loops, {elapsed} {msg}",
        )
        .expect("template")
        .with_key(
            "loops",
            move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}", shown.loops());
            },
        ),
    );
    // A single test can run for minutes at the module's loop counts: the
    // spinner and the clock keep moving meanwhile.
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    let mut json = Vec::new();
    let mut failed = Vec::new();
    for alloc in allocs {
        let name = alloc.name();
        bar.set_message(name.clone());
        let shared = Mutex::new(alloc);
        let reports = match test_vmalloc::run(&shared, &p, &loops, &|| bar.inc(1)) {
            Ok(r) => r,
            Err(e) => {
                bar.finish_and_clear();
                eprintln!("vmarea: {name}: {e}");
                std::process::exit(1);
            }
        };
        for t in test_vmalloc::unexpected_failures(&reports) {
            failed.push(format!("{name}: {t}"));
        }
        if a.json {
            for (w, r) in reports.iter().enumerate() {
                for (i, t) in r.tests.iter().enumerate() {
                    if let Some(t) = t {
                        json.push(TestRun {
                            allocator: name.clone(),
                            worker: w,
                            test: TESTS[i].0,
                            passed: t.passed,
                            failed: t.failed,
                            repeat: p.test_repeat_count.max(1),
                            loops: p.test_loop_count,
                            avg_usec: t.avg_usec,
                        });
                    }
                }
            }
        } else {
            bar.suspend(|| print!("== {name}\n{}", test_vmalloc::summary(&reports, &p)));
        }
    }
    bar.finish_and_clear();
    if let Err(e) = vmarea_cli::trace::stop_recording() {
        eprintln!("vmarea: trace incomplete: {e}");
        std::process::exit(1);
    }
    if a.json {
        println!("{}", Envelope::new("test-vmalloc", json).to_json());
    }
    if !failed.is_empty() {
        // The run fails if any test failed, except those the module says
        // are supposed to fail (align_shift).
        eprintln!("vmarea: failed: {}", failed.join(", "));
        std::process::exit(1);
    }
}

fn compare_cmd(a: CompareArgs) {
    use vmarea_cli::compare;
    // Only the default location is created; any other folder must exist.
    // Checked before the run, so a bad path fails at once.
    if a.svg == std::path::Path::new(DEFAULT_SVG) {
        let _ = std::fs::create_dir_all("target");
    }
    let own_svg = own_plot_path(&a.svg);
    for path in [&a.svg, &own_svg] {
        if let Err(e) = std::fs::File::create(path) {
            eprintln!("vmarea: cannot write the plot to {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    let opts = if a.full {
        compare::Options::full()
    } else {
        compare::Options::quick()
    };
    let steps: usize = compare::contenders()
        .iter()
        .map(|c| opts.sizes.len() + if c.by_address { TESTS.len() } else { 0 })
        .sum();
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} {elapsed}").expect("template"),
    );
    let rows = compare::run(&opts, &|m: &str| {
        bar.set_message(m.to_string());
        bar.inc(1);
    });
    bar.finish_and_clear();
    let stamp = stamp();
    for (path, sweep) in [
        (&a.svg, compare::Sweep::ByAddress),
        (&own_svg, compare::Sweep::OwnFree),
    ] {
        if let Err(e) = std::fs::write(path, compare::svg_stamped(&rows, sweep, &stamp)) {
            eprintln!("vmarea: cannot write the plot to {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    let svg_note = format!(
        "plots: {} (by address), {} (each allocator's own free)",
        a.svg.display(),
        own_svg.display()
    );
    if a.json {
        let v: Vec<Contender> = rows
            .iter()
            .map(|r| Contender {
                allocator: r.name.clone(),
                own_free: r.own_free,
                by_address: r.by_address,
                metadata_bytes_per_area: r.metadata,
                sweep: r
                    .sweep
                    .iter()
                    .map(|p| SweepPoint {
                        live: p.live,
                        ns_per_pair: p.ns_per_pair,
                        ns_per_pair_own_free: p.ns_per_pair_own,
                        span_over_live: p.span_ratio,
                    })
                    .collect(),
                test_vmalloc_usec: r.cases.iter().cloned().collect(),
            })
            .collect();
        println!("{}", Envelope::new("compare", v).to_json());
    } else {
        println!("{}\n{svg_note}", compare::table(&rows, &opts));
    }
}

/// The commit (`git rev-parse --short HEAD`, if this runs in a checkout)
/// and today's date (UTC), for the plots' captions.
fn stamp() -> String {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|c| !c.is_empty())
        .map_or_else(
            || "an unknown commit".to_string(),
            |c| format!("commit {c}"),
        );
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{commit}, {year:04}-{month:02}-{day:02}")
}

/// `compare.svg` → `compare-own.svg`, beside it.
fn own_plot_path(svg: &std::path::Path) -> std::path::PathBuf {
    let stem = svg
        .file_stem()
        .map_or_else(Default::default, |s| s.to_string_lossy());
    let ext = svg
        .extension()
        .map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
    svg.with_file_name(format!("{stem}-own{ext}"))
}

/// Reads `path` (`-`: standard input) with `parse`, line by line; a file
/// that cannot be opened or read to its end is reported and the run ends
/// (status 2 for an unreadable file, 1 for an over-long line).
fn read_with<T>(
    path: &std::path::Path,
    parse: impl FnOnce(&mut dyn std::io::BufRead) -> Result<T, vmarea_cli::input::InputError>,
) -> T {
    use vmarea_cli::input::{self, InputError};
    let mut r = input::open(path).unwrap_or_else(|e| {
        eprintln!("vmarea: cannot read {}: {e}", path.display());
        std::process::exit(2);
    });
    match parse(&mut *r) {
        Ok(x) => x,
        Err(e @ InputError::LineTooLong { .. }) => {
            eprintln!("vmarea: {}:{e}", path.display());
            std::process::exit(1);
        }
        Err(InputError::Io(e)) => {
            eprintln!("vmarea: cannot read {}: {e}", path.display());
            std::process::exit(2);
        }
    }
}

fn report_bad(path: &std::path::Path, bad: &vmarea_cli::input::Malformed) {
    for b in &bad.first {
        eprintln!("{}:{}: skipped: {}", path.display(), b.line, b.reason);
    }
    if bad.count > bad.first.len() {
        eprintln!(
            "{}: {} more malformed lines skipped",
            path.display(),
            bad.count - bad.first.len()
        );
    }
}

fn replay_table(reports: &[vmarea_cli::trace::ReplayReport]) -> String {
    let mut t = String::from(
        "| policy | events | ops/s | peak live | peak bytes | peak span | failed here only | failed in trace only | unknown frees | fragmentation |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        t += &format!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {:.3} |\n",
            r.policy,
            r.events,
            r.ops_per_sec,
            r.peak_live,
            human_bytes(r.peak_bytes),
            human_bytes(r.peak_span),
            r.failed_here_only,
            r.failed_in_trace_only,
            r.unknown_frees,
            r.fragmentation
        );
    }
    t
}

fn replay_cmd(a: ReplayArgs) {
    use vmarea_cli::trace;
    let (events, bad) = read_with(&a.file, trace::read);
    report_bad(&a.file, &bad);
    let Some(range) = trace::window(&events) else {
        eprintln!("vmarea: {}: no alloc_vmap_area events", a.file.display());
        std::process::exit(1);
    };
    // The kernel's own placement first, then each policy on the same
    // requests.
    let reports: Vec<_> = std::iter::once(trace::replay_as_traced(&events, range))
        .chain(
            vmarea_cli::allocators::POLICIES
                .iter()
                .map(|&p| trace::replay(p, &events, range, None)),
        )
        .collect();
    if a.json {
        println!("{}", Envelope::new("replay", &reports).to_json());
    } else {
        println!(
            "{} events from {} ({} malformed lines skipped)\n\n{}",
            events.len(),
            a.file.display(),
            bad.count,
            replay_table(&reports)
        );
    }
}

fn info_cmd(a: InfoArgs) {
    use vmarea_cli::{trace, vmallocinfo};
    let (numbered, bad) = read_with(&a.file, vmallocinfo::read);
    report_bad(&a.file, &bad);
    if numbered.is_empty() {
        // As `replay` refuses a file with no events: an empty or binary
        // file is not a vmallocinfo dump.
        eprintln!("vmarea: {}: no vmallocinfo lines", a.file.display());
        std::process::exit(1);
    }
    if !vmallocinfo::is_dump(numbered.len(), bad.count) {
        eprintln!(
            "vmarea: {}: not a vmallocinfo dump ({} malformed lines, {} vmallocinfo lines; \
             a dump has more of the second)",
            a.file.display(),
            bad.count,
            numbered.len()
        );
        std::process::exit(1);
    }
    let lines = vmallocinfo::sorted(&numbered);
    let file_order: Vec<_> = numbered.into_iter().map(|(_, l)| l).collect();
    let loaded = vmallocinfo::load(Policy::FirstFit, &lines, &file_order);
    let loaded_unplaced = loaded.unplaced_reasons.clone();
    let st = loaded.vm.space().stats();
    let count = |k| lines.iter().filter(|l| l.kind == k).count();
    let replayed = a.then_replay.as_ref().map(|path| {
        let (events, bad) = read_with(path, trace::read);
        report_bad(path, &bad);
        let range = loaded.vm.space().bounds();
        trace::replay(Policy::FirstFit, &events, range, Some(loaded.vm))
    });
    let summary = InfoSummary {
        lines: lines.len(),
        malformed: bad.count,
        real_addresses: loaded.real_addresses,
        used: count(vmallocinfo::Kind::Used),
        vm_map_ram: count(vmallocinfo::Kind::MapRam),
        unpurged: count(vmallocinfo::Kind::Unpurged),
        unplaced: loaded.unplaced,
        used_bytes: st.used_bytes,
        lazy_bytes: st.lazy_bytes,
        free_bytes: st.free_bytes,
        largest_free: st.largest_free,
        free_ranges: st.free_ranges,
        fragmentation: st.fragmentation(),
        replay: replayed,
    };
    if a.json {
        println!("{}", Envelope::new("info", &summary).to_json());
        return;
    }
    let hb = human_bytes;
    println!(
        "{} areas ({} used, {} vm_map_ram, {} unpurged){}",
        summary.lines,
        summary.used,
        summary.vm_map_ram,
        summary.unpurged,
        if summary.real_addresses {
            ""
        } else {
            "; addresses hashed (kptr_restrict): laid out in file order"
        },
    );
    println!(
        "used {}, unpurged {}, free {} in {} ranges, largest free {}, fragmentation {:.3}",
        hb(summary.used_bytes),
        hb(summary.lazy_bytes),
        hb(summary.free_bytes),
        summary.free_ranges,
        hb(summary.largest_free),
        summary.fragmentation,
    );
    if let Some(r) = summary.replay {
        println!("\nthen replayed (FirstFit):\n\n{}", replay_table(&[r]));
    }
    if summary.unplaced > 0 {
        // The figures above leave these areas out: the run says so and
        // fails.
        for u in &loaded_unplaced {
            eprintln!("vmarea: {}: not placed: {u}", a.file.display());
        }
        eprintln!(
            "vmarea: {} areas could not be placed; the figures leave them out",
            summary.unplaced
        );
        std::process::exit(1);
    }
}

fn main() {
    // Output piped into `head` and the like ends quietly when the reader
    // goes away, as command-line tools do, instead of a panic on EPIPE.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
    match Cli::parse_from(module_syntax(std::env::args())).cmd {
        Cmd::Compare(a) => compare_cmd(a),
        Cmd::TestVmalloc(a) => test_vmalloc_cmd(a),
        Cmd::Replay(a) => replay_cmd(a),
        Cmd::Info(a) => info_cmd(a),
    }
}
