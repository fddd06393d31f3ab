//! Linux vmalloc tracepoints as recorded from tracefs (`events/vmalloc/`),
//! and their replay on each policy.
//!
//! Recording (as root):
//! ```text
//! mount -t tracefs nodev /sys/kernel/tracing      # if not mounted
//! cd /sys/kernel/tracing
//! echo 16384 > buffer_size_kb; echo > trace
//! echo 1 > events/vmalloc/enable; echo 1 > tracing_on
//! ... run the workload ...
//! echo 0 > tracing_on; echo 0 > events/vmalloc/enable
//! cat trace > vmalloc-trace.txt
//! ```
//! Lines look like (after the `task-pid [cpu] flags timestamp: ` prefix):
//! `alloc_vmap_area: va_start: %lu size=%lu align=%lu vstart=0x%lx vend=0x%lx failed=%d`,
//! `free_vmap_area_noflush: va_start=0x%lx nr_lazy=%lu nr_lazy_max=%lu`,
//! `purge_vmap_area_lazy: start=0x%lx end=0x%lx num_purged=%u`.
//! `va_start` is decimal in the alloc event and hex in the free event.

use crate::allocators::{VmArea, PAGE};
use std::collections::HashMap;
use std::time::Instant;
use vmarea::{Flags, Policy, Request};

/// One vmalloc tracepoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `alloc_vmap_area`.
    Alloc {
        /// The kernel's start address (0 when it failed).
        va_start: u64,
        /// Bytes, guard page included.
        size: u64,
        /// Alignment.
        align: u64,
        /// Window start.
        vstart: u64,
        /// Window end (inclusive, as the kernel prints it).
        vend: u64,
        /// Whether the kernel failed it.
        failed: bool,
    },
    /// `free_vmap_area_noflush`: a lazy free.
    Free {
        /// The kernel's start address.
        va_start: u64,
        /// Lazily freed pages pending.
        nr_lazy: u64,
        /// The kernel's purge threshold in pages.
        nr_lazy_max: u64,
    },
    /// `purge_vmap_area_lazy`: the lazy batch was merged.
    Purge {
        /// Lowest purged address.
        start: u64,
        /// End of the purged range.
        end: u64,
        /// Areas purged.
        num_purged: u64,
    },
}

pub use crate::input::BadLine;
use crate::input::{Collected, InputError, Malformed};

/// Parses a number in decimal or `0x` hex.
pub fn number(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse::<u64>(),
    };
    r.map_err(|e| format!("bad number {s:?}: {e}"))
}

/// The value after `key=` or `key: ` in `fields`.
fn field<'a>(fields: &'a str, key: &str) -> Result<&'a str, String> {
    let mut rest = fields;
    while let Some(i) = rest.find(key) {
        let after = &rest[i + key.len()..];
        let boundary = i == 0 || rest[..i].ends_with(' ');
        let value = after.strip_prefix('=').or_else(|| after.strip_prefix(": "));
        if let (true, Some(v)) = (boundary, value) {
            return Ok(v.split_whitespace().next().unwrap_or(""));
        }
        rest = after;
    }
    Err(format!("missing {key}"))
}

/// Parses one line: `Ok(None)` for comments, blank lines and other events.
pub fn parse_line(line: &str) -> Result<Option<Event>, String> {
    let line = line.trim_end();
    if line.trim_start().starts_with('#') || line.trim().is_empty() {
        return Ok(None);
    }
    let get = |fields: &str, k: &str| field(fields, k).and_then(number);
    for (name, kind) in [
        ("alloc_vmap_area:", 0),
        ("free_vmap_area_noflush:", 1),
        ("purge_vmap_area_lazy:", 2),
    ] {
        let Some(i) = line.find(name) else { continue };
        let f = &line[i + name.len()..];
        return Ok(Some(match kind {
            0 => Event::Alloc {
                va_start: get(f, "va_start")?,
                size: get(f, "size")?,
                align: get(f, "align")?,
                vstart: get(f, "vstart")?,
                vend: get(f, "vend")?,
                failed: get(f, "failed")? != 0,
            },
            1 => Event::Free {
                va_start: get(f, "va_start")?,
                nr_lazy: get(f, "nr_lazy")?,
                nr_lazy_max: get(f, "nr_lazy_max")?,
            },
            _ => Event::Purge {
                start: get(f, "start")?,
                end: get(f, "end")?,
                num_purged: get(f, "num_purged")?,
            },
        }));
    }
    Ok(None)
}

/// Parses a whole trace: the events with their line numbers, and the lines
/// that were malformed.
pub fn parse(text: &str) -> (Vec<(usize, Event)>, Vec<BadLine>) {
    let mut c = Collected::new(usize::MAX);
    for (i, line) in text.lines().enumerate() {
        c.add(i + 1, parse_line(line));
    }
    (c.items, c.bad.first)
}

/// Reads a trace line by line in bounded memory (see [`crate::input`]):
/// the events with their line numbers, and the malformed lines (counted;
/// the first [`KEPT_BAD`](crate::input::KEPT_BAD) kept).
pub fn read(r: &mut dyn std::io::BufRead) -> Result<(Vec<(usize, Event)>, Malformed), InputError> {
    let mut c = Collected::new(crate::input::KEPT_BAD);
    crate::input::each_line(r, |number, line| c.add(number, parse_line(line)))?;
    Ok((c.items, c.bad))
}

pub use crate::recording::{format_event, record, start_recording, stop_recording};

/// What a replay measured on one policy.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ReplayReport {
    /// Policy name.
    pub policy: String,
    /// Events replayed.
    pub events: usize,
    /// Events per second of replay.
    pub ops_per_sec: f64,
    /// Most areas live at once.
    pub peak_live: usize,
    /// Most bytes live at once.
    pub peak_bytes: usize,
    /// Allocations that failed here but succeeded in the trace.
    pub failed_here_only: usize,
    /// Allocations that failed in the trace but succeeded here.
    pub failed_in_trace_only: usize,
    /// Frees of areas allocated before the trace began (skipped).
    pub unknown_frees: usize,
    /// Allocations whose window or alignment this space cannot take.
    pub rejected: usize,
    /// Fragmentation at the end (1 − largest free ÷ free bytes).
    pub fragmentation: f64,
    /// Widest span the live areas covered at any point: highest live end
    /// minus lowest live start, bytes (how spread out the placement is).
    pub peak_span: usize,
}

/// The address range the trace's allocations ask for, as `[lo, hi)`.
pub fn window(events: &[(usize, Event)]) -> Option<(usize, usize)> {
    let mut lo = u64::MAX;
    let mut hi = 0u64;
    for (_, e) in events {
        if let Event::Alloc { vstart, vend, .. } = e {
            lo = lo.min(*vstart);
            hi = hi.max(vend.saturating_add(1));
        }
    }
    let lo = (lo as usize) & !(PAGE - 1);
    // A space spans at most vmarea::MAX_SPAN bytes; requests beyond are rejected.
    let hi = (hi as usize).min(lo.saturating_add(vmarea::MAX_SPAN)) & !(PAGE - 1);
    (lo < hi).then_some((lo, hi))
}

/// Replays `events` on a fresh space with `policy` over `range`, or on
/// `start` (a space already loaded, e.g. from `/proc/vmallocinfo`).
pub fn replay(
    policy: Policy,
    events: &[(usize, Event)],
    range: (usize, usize),
    start: Option<VmArea>,
) -> ReplayReport {
    let vm = start.unwrap_or_else(|| VmArea::with_range(policy, range.0, range.1 - range.0));
    run(format!("{policy:?}"), vm, events, false)
}

/// The kernel's own placement over the same trace: every allocation placed
/// exactly where Linux put it (`va_start`), with the same lazy frees and
/// purges, so its span and fragmentation sit beside each policy's. An
/// allocation whose traced place is taken (an area from before the trace
/// began overlaps it) counts as `failed_here_only`.
pub fn replay_as_traced(events: &[(usize, Event)], range: (usize, usize)) -> ReplayReport {
    let vm = VmArea::with_range(Policy::FirstFit, range.0, range.1 - range.0);
    run("linux (as traced)".into(), vm, events, true)
}

fn run(name: String, mut vm: VmArea, events: &[(usize, Event)], as_traced: bool) -> ReplayReport {
    let (space_lo, space_hi) = vm.space().bounds();
    let mut map: HashMap<u64, usize> = HashMap::new();
    // Live areas (start → end), for the span.
    let mut live: std::collections::BTreeMap<usize, usize> = Default::default();
    let mut r = ReplayReport {
        policy: name,
        events: events.len(),
        ..Default::default()
    };
    let t = Instant::now();
    for (_, e) in events {
        let s = vm.space_mut();
        match *e {
            Event::Alloc {
                va_start,
                size,
                align,
                vstart,
                vend,
                failed,
            } => {
                let (mut lo, mut hi) = (
                    (vstart as usize).max(space_lo),
                    (vend.saturating_add(1) as usize).min(space_hi),
                );
                if as_traced && !failed {
                    // Exactly where the kernel put it.
                    lo = va_start as usize;
                    hi = lo.saturating_add(size as usize);
                }
                if lo >= hi || lo < space_lo || hi > space_hi {
                    r.rejected += 1;
                    continue;
                }
                // The traced size already includes the guard page.
                let req = Request {
                    size: size as usize,
                    align: align as usize,
                    flags: Flags::NO_GUARD,
                    tag: 0,
                    lo,
                    hi,
                    phase: 0,
                    nocross: 0,
                };
                match s.alloc_request(&req) {
                    Ok(a) => {
                        if failed {
                            r.failed_in_trace_only += 1;
                            s.free(a.addr).ok();
                        } else {
                            map.insert(va_start, a.addr);
                            live.insert(a.addr, a.end());
                        }
                    }
                    Err(vmarea::Error::NoSpace | vmarea::Error::NoNode) => {
                        if !failed {
                            r.failed_here_only += 1;
                        }
                    }
                    Err(_) => r.rejected += 1,
                }
                r.peak_live = r.peak_live.max(s.used_count());
                r.peak_bytes = r.peak_bytes.max(s.used_bytes());
                if let (Some((&first, _)), Some((_, &last_end))) =
                    (live.first_key_value(), live.last_key_value())
                {
                    r.peak_span = r.peak_span.max(last_end - first);
                }
            }
            Event::Free {
                va_start,
                nr_lazy_max,
                ..
            } => match map.remove(&va_start) {
                Some(addr) => {
                    live.remove(&addr);
                    s.set_lazy_threshold((nr_lazy_max as usize).saturating_mul(PAGE).max(PAGE));
                    s.free_lazy(addr).expect("mapped areas are live");
                }
                None => r.unknown_frees += 1,
            },
            Event::Purge { .. } => {
                s.purge();
            }
        }
    }
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    r.ops_per_sec = events.len() as f64 / secs;
    r.fragmentation = vm.space().stats().fragmentation();
    debug_assert!(vm.space().validate().is_ok());
    r
}

#[cfg(test)]
mod own_events {
    use super::*;

    /// Each of vmarea's events formats to a line `parse_line` reads back
    /// with the same fields (`vend` inclusive).
    #[test]
    fn formatted_events_parse_back() {
        let cases = [
            (
                vmarea::Event::Alloc {
                    addr: 0xffff_c900_0000_1000,
                    size: 0x5000,
                    align: 0x4000,
                    lo: 0xffff_c900_0000_0000,
                    hi: 0xffff_e900_0000_0000,
                    failed: false,
                },
                Event::Alloc {
                    va_start: 0xffff_c900_0000_1000,
                    size: 0x5000,
                    align: 0x4000,
                    vstart: 0xffff_c900_0000_0000,
                    vend: 0xffff_e8ff_ffff_ffff,
                    failed: false,
                },
            ),
            (
                vmarea::Event::FreeLazy {
                    addr: 0x1000,
                    nr_lazy: 3,
                    nr_lazy_max: 8,
                },
                Event::Free {
                    va_start: 0x1000,
                    nr_lazy: 3,
                    nr_lazy_max: 8,
                },
            ),
            (
                vmarea::Event::Free {
                    addr: 0x2000,
                    size: 0x1000,
                },
                Event::Free {
                    va_start: 0x2000,
                    nr_lazy: 0,
                    nr_lazy_max: 0,
                },
            ),
            (
                vmarea::Event::Purge {
                    start: 0x1000,
                    end: 0x9000,
                    num_purged: 4,
                },
                Event::Purge {
                    start: 0x1000,
                    end: 0x9000,
                    num_purged: 4,
                },
            ),
        ];
        for (ours, linux) in cases {
            let line = format_event(&ours).unwrap();
            assert_eq!(parse_line(&line), Ok(Some(linux)), "{line}");
        }
    }
}
