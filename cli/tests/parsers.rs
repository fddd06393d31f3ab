//! The tracefs and /proc/vmallocinfo readers on written inputs (valid,
//! truncated, garbage, huge numbers, unknown tokens) and on real recordings
//! from this project's machine (`cli/tests/data/`).

use vmarea::Policy;
use vmarea_cli::trace::{self, Event};
use vmarea_cli::vmallocinfo::{self, Kind};

const ALLOC: &str = "           cargo-4946    [001] .....   884.841599: alloc_vmap_area: va_start: 18446683600637591552 size=20480 align=16384 vstart=0xffffc90000000000 vend=0xffffe8ffffffffff failed=0";
const FREE: &str = "     kworker/0:1-11      [000] .....   884.944707: free_vmap_area_noflush: va_start=0xffffc90000018000 nr_lazy=7890 nr_lazy_max=16384";
const PURGE: &str = "     kworker/0:1-11      [000] .....   885.000000: purge_vmap_area_lazy: start=0xffffc90000000000 end=0xffffc90000100000 num_purged=3278";

#[test]
fn trace_lines_parse() {
    assert_eq!(
        trace::parse_line(ALLOC).unwrap(),
        Some(Event::Alloc {
            va_start: 18446683600637591552,
            size: 20480,
            align: 16384,
            vstart: 0xffffc90000000000,
            vend: 0xffffe8ffffffffff,
            failed: false
        })
    );
    assert_eq!(
        trace::parse_line(FREE).unwrap(),
        Some(Event::Free {
            va_start: 0xffffc90000018000,
            nr_lazy: 7890,
            nr_lazy_max: 16384
        })
    );
    assert_eq!(
        trace::parse_line(PURGE).unwrap(),
        Some(Event::Purge {
            start: 0xffffc90000000000,
            end: 0xffffc90000100000,
            num_purged: 3278
        })
    );
    // Comments, blank lines and other events are skipped, not errors.
    for l in [
        "# tracer: nop",
        "",
        "   ",
        "bash-1 [000] ..... 1.0: sched_switch: prev_comm=bash",
    ] {
        assert_eq!(trace::parse_line(l).unwrap(), None, "{l:?}");
    }
    // Unknown extra fields are tolerated.
    let extra = format!("{ALLOC} extra=1 more: 2");
    assert!(matches!(
        trace::parse_line(&extra),
        Ok(Some(Event::Alloc { .. }))
    ));
}

#[test]
fn bad_trace_lines_are_reported_with_line_numbers() {
    let truncated = &ALLOC[..ALLOC.len() - 30];
    let huge = ALLOC.replace("size=20480", "size=99999999999999999999999");
    let garbage = "alloc_vmap_area: va_start: zzz size=1 align=1 vstart=0x0 vend=0x1 failed=0";
    let text = format!(
        "# header\n{ALLOC}\n{truncated}\n{huge}\n{garbage}\n{FREE}\n\u{0}\u{ff}binary junk\n"
    );
    let (events, bad) = trace::parse(&text);
    assert_eq!(events.len(), 2);
    assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), [3, 4, 5]);
    assert!(bad[0].reason.contains("missing"), "{:?}", bad[0]);
    assert!(bad[1].reason.contains("bad number"), "{:?}", bad[1]);
}

#[test]
fn replay_maps_kernel_addresses_and_counts_unknown_frees() {
    let text = format!(
        "{ALLOC}\n{}\n{FREE}\n{PURGE}\n",
        FREE.replace(
            "0xffffc90000018000",
            &format!("{:#x}", 18446683600637591552u64)
        )
    );
    let (events, bad) = trace::parse(&text);
    assert!(bad.is_empty());
    let range = trace::window(&events).unwrap();
    for &p in vmarea_cli::allocators::POLICIES {
        let r = trace::replay(p, &events, range, None);
        assert_eq!(
            (r.events, r.peak_live, r.unknown_frees, r.failed_here_only),
            (4, 1, 1, 0),
            "{p:?}"
        );
    }
}

#[test]
fn real_trace_replays_without_spurious_failures() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/tracefs-vmalloc.txt"
    ))
    .unwrap();
    let (events, bad) = trace::parse(&text);
    assert!(bad.is_empty(), "{:?}", &bad[..bad.len().min(3)]);
    assert!(events.len() > 7000);
    assert!(events.iter().any(|(_, e)| matches!(e, Event::Purge { .. })));
    let range = trace::window(&events).unwrap();
    for &p in vmarea_cli::allocators::POLICIES {
        let r = trace::replay(p, &events, range, None);
        assert_eq!(r.failed_here_only, 0, "{p:?}");
        assert!(r.peak_live > 1000, "{p:?}");
    }
}

const INFO: &str = "\
0xffffc90000000000-0xffffc90000005000   20480 irq_init_percpu_irqstack+0xed/0x120 vmap
0xffffc90000010000-0xffffc90000012000    8192 acpi_os_map_iomem+0x1bc/0x1e0 phys=0x00000000000a0000 ioremap
0xffffc90000006000-0xffffc9000000b000   20480 unpurged vm_area
0xffffc90000020000-0xffffc90000024000   16384 vm_map_ram
0xffffc90000030000-0xffffc90000035000   20480 kernel_clone+0xb8/0x400 pages=4 vmalloc N0=4 some_new_token
";

#[test]
fn vmallocinfo_parses_every_line_kind_sorted() {
    let (lines, bad) = vmallocinfo::parse(INFO);
    assert!(bad.is_empty());
    assert_eq!(lines.len(), 5);
    assert!(lines.windows(2).all(|w| w[0].start <= w[1].start));
    let kinds: Vec<Kind> = lines.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::Used,
            Kind::Unpurged,
            Kind::Used,
            Kind::MapRam,
            Kind::Used
        ]
    );
    assert!(lines[4].tokens.contains(&"some_new_token".to_string()));
    assert!(vmallocinfo::addresses_usable(&lines));
    let loaded = vmallocinfo::load(Policy::FirstFit, &lines, &lines);
    assert!(loaded.real_addresses);
    assert_eq!(loaded.unplaced, 0);
    let st = loaded.vm.space().stats();
    assert_eq!(st.used_bytes, 20480 + 8192 + 16384 + 20480);
    assert_eq!(st.lazy_bytes, 20480);
    assert!(loaded.vm.space().find(0xffffc90000010000).is_some());
    loaded.vm.space().validate().unwrap();
}

#[test]
fn vmallocinfo_bad_lines_and_hashed_addresses() {
    let text = "garbage\n0x10-0x20\n0x10-0x20 0 vmap\n0xzz-0x20 4096 vmap\n0x10-0x20 99999999999999999999999 x\n\n0x5-0x3 4096 vmalloc\n";
    let (lines, bad) = vmallocinfo::parse(text);
    assert_eq!(
        bad.iter().map(|b| b.line).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(lines.len(), 1);
    assert!(!vmallocinfo::addresses_usable(&lines)); // end < start: hashed
    let loaded = vmallocinfo::load(Policy::InstantFit, &lines, &lines);
    assert!(!loaded.real_addresses);
    assert_eq!(loaded.vm.space().stats().used_bytes, 4096);
}

#[test]
fn real_vmallocinfo_loads_in_file_order() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/vmallocinfo.txt"
    ))
    .unwrap();
    let (lines, bad) = vmallocinfo::parse(&text);
    assert!(bad.is_empty());
    assert!(lines.len() > 1000);
    assert!(
        !vmallocinfo::addresses_usable(&lines),
        "this machine hashes kernel pointers"
    );
    let loaded = vmallocinfo::load(Policy::FirstFit, &lines, &lines);
    assert_eq!(loaded.unplaced, 0);
    loaded.vm.space().validate().unwrap();
}

#[test]
fn addresses_no_space_can_cover_fall_back_to_file_order() {
    // Found by fuzzing: consistent END − START, but spanning more than a
    // space may (vmarea::MAX_SPAN bytes). Loading must not panic.
    let text = "0x0-0x1000 4096 vmap\n0xffffffff00000000-0xffffffff00001000 4096 vmap\n";
    let (lines, bad) = vmallocinfo::parse(text);
    assert!(bad.is_empty());
    assert!(vmallocinfo::addresses_usable(&lines));
    let loaded = vmallocinfo::load(Policy::FirstFit, &lines, &lines);
    assert!(!loaded.real_addresses);
    assert_eq!(loaded.vm.space().stats().used_bytes, 8192);
    // And a trace whose window is wider than a space is clamped, not fatal.
    let wide = "a-1 [0] ..... 1.0: alloc_vmap_area: va_start: 4096 size=4096 align=4096 vstart=0x0 vend=0xffffffffffffffff failed=0";
    let (events, _) = trace::parse(wide);
    let range = trace::window(&events).unwrap();
    assert_eq!(
        trace::replay(Policy::FirstFit, &events, range, None).failed_here_only,
        0
    );
}
