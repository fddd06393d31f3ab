//! TLB shootdown: flush a range of kernel addresses on this CPU, and on
//! every other online CPU through an IPI whose handler flushes the same
//! range and acknowledges. The sender waits for the acknowledgement with
//! interrupts enabled, so two CPUs shooting at each other both make
//! progress; the handler takes no lock.
//!
//! Called from the vmarea flush hook only (with the space's lock released,
//! before a purged range can be reused): per-CPU caches keep freed areas
//! dirty until that flush, so a free sends no IPI.

use crate::{apic, smp};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// The shootdown IPI's vector.
pub const VECTOR: u8 = 0xf0;
/// Above this many pages a flush reloads CR3 instead of `invlpg` per page.
pub const FULL_FLUSH_PAGES: usize = 256;
const P: usize = 4096;

/// One CPU's inbox: the range to flush, and a request / acknowledgement
/// sequence pair.
struct Inbox {
    busy: AtomicBool,
    start: AtomicU64,
    end: AtomicU64,
    request: AtomicU64,
    ack: AtomicU64,
}

impl Inbox {
    const fn new() -> Self {
        Inbox {
            busy: AtomicBool::new(false),
            start: AtomicU64::new(0),
            end: AtomicU64::new(0),
            request: AtomicU64::new(0),
            ack: AtomicU64::new(0),
        }
    }
}

static INBOX: [Inbox; smp::MAX_CPUS] = [const { Inbox::new() }; smp::MAX_CPUS];

/// IPIs sent and handled, local flushes and full reloads.
pub static IPIS_SENT: AtomicUsize = AtomicUsize::new(0);
pub static IPIS_HANDLED: AtomicUsize = AtomicUsize::new(0);
/// The same, per CPU (sent by, handled on).
pub static SENT_BY: [AtomicUsize; smp::MAX_CPUS] = [const { AtomicUsize::new(0) }; smp::MAX_CPUS];
pub static HANDLED_ON: [AtomicUsize; smp::MAX_CPUS] =
    [const { AtomicUsize::new(0) }; smp::MAX_CPUS];
pub static FULL_FLUSHES: AtomicUsize = AtomicUsize::new(0);

/// Flushes `[start, end)` from this CPU's TLB.
pub fn flush_local(start: usize, end: usize) {
    if (end - start) / P > FULL_FLUSH_PAGES {
        x86_64::instructions::tlb::flush_all();
        FULL_FLUSHES.fetch_add(1, Ordering::Relaxed);
    } else {
        for p in (start..end).step_by(P) {
            x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(p as u64));
        }
    }
}

/// Flushes `[start, end)` on every other online CPU and waits until each
/// has done it. Call with interrupts enabled.
pub fn flush_remote(start: usize, end: usize) {
    let me = smp::cpu();
    for cpu in (0..smp::online()).filter(|&c| c != me) {
        let inbox = &INBOX[cpu];
        while inbox
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        inbox.start.store(start as u64, Ordering::Relaxed);
        inbox.end.store(end as u64, Ordering::Relaxed);
        let seq = inbox.request.fetch_add(1, Ordering::Release) + 1;
        apic::send_ipi(smp::apic_id(cpu), VECTOR);
        IPIS_SENT.fetch_add(1, Ordering::Relaxed);
        SENT_BY[me].fetch_add(1, Ordering::Relaxed);
        while inbox.ack.load(Ordering::Acquire) < seq {
            core::hint::spin_loop();
        }
        inbox.busy.store(false, Ordering::Release);
    }
}

/// The IPI handler's work: flush what the inbox names, acknowledge.
pub fn on_ipi() {
    let me = smp::cpu();
    let inbox = &INBOX[me];
    let seq = inbox.request.load(Ordering::Acquire);
    let start = inbox.start.load(Ordering::Relaxed) as usize;
    let end = inbox.end.load(Ordering::Relaxed) as usize;
    flush_local(start, end);
    IPIS_HANDLED.fetch_add(1, Ordering::Relaxed);
    HANDLED_ON[me].fetch_add(1, Ordering::Relaxed);
    inbox.ack.store(seq, Ordering::Release);
    apic::eoi();
}
