//! Recording vmarea's own events as tracefs lines (`test-vmalloc
//! --trace FILE`), which `replay` reads back: the writing side of
//! `trace.rs`, apart so that the allocators (which install the hook) and
//! the replay (which uses the allocators) do not import each other.

use std::io::Write;
use std::sync::Mutex;

/// The tracefs line for one of vmarea's own events (`None` for events
/// Linux has no tracepoint for). An immediate free is written as
/// `free_vmap_area_noflush` with `nr_lazy=0 nr_lazy_max=0`, the one free
/// event `replay` reads; `vend` is inclusive, as the kernel prints it.
pub fn format_event(e: &vmarea::Event) -> Option<String> {
    const PREFIX: &str = "vmarea-0 [000] ..... 0.000000:";
    Some(match *e {
        vmarea::Event::Alloc {
            addr,
            size,
            align,
            lo,
            hi,
            failed,
        } => format!(
            "{PREFIX} alloc_vmap_area: va_start: {addr} size={size} align={align} \
             vstart={lo:#x} vend={:#x} failed={}",
            hi - 1,
            u8::from(failed)
        ),
        vmarea::Event::Free { addr, .. } => {
            format!("{PREFIX} free_vmap_area_noflush: va_start={addr:#x} nr_lazy=0 nr_lazy_max=0")
        }
        vmarea::Event::FreeLazy {
            addr,
            nr_lazy,
            nr_lazy_max,
        } => format!(
            "{PREFIX} free_vmap_area_noflush: va_start={addr:#x} nr_lazy={nr_lazy} \
             nr_lazy_max={nr_lazy_max}"
        ),
        vmarea::Event::Purge {
            start,
            end,
            num_purged,
        } => format!(
            "{PREFIX} purge_vmap_area_lazy: start={start:#x} end={end:#x} num_purged={num_purged}"
        ),
        _ => return None,
    })
}

/// Where [`record`] writes while a recording runs.
static SINK: Mutex<Option<std::io::BufWriter<std::fs::File>>> = Mutex::new(None);

/// Starts writing every event [`record`] sees to `path`, in tracefs format.
pub fn start_recording(path: &std::path::Path) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "# tracer: nop (vmarea's own events, `vmarea test-vmalloc --trace`)"
    )?;
    *SINK.lock().expect("trace sink") = Some(out);
    Ok(())
}

/// Stops the recording and flushes the file.
pub fn stop_recording() -> std::io::Result<()> {
    match SINK.lock().expect("trace sink").take() {
        Some(mut out) => out.flush(),
        None => Ok(()),
    }
}

/// The event hook the CLI gives a space while recording: one tracefs line
/// per event. A write error stops the recording (reported by
/// [`stop_recording`]'s flush of what remains, or lost: the trace is a
/// diagnostic, not the result).
pub fn record(e: &vmarea::Event) {
    let mut sink = SINK.lock().expect("trace sink");
    if let (Some(out), Some(line)) = (sink.as_mut(), format_event(e)) {
        if writeln!(out, "{line}").is_err() {
            *sink = None;
        }
    }
}
