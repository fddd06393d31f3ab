//! Allocator events with the fields of Linux's vmalloc tracepoints
//! (feature `events`): a caller's hook sees every allocation, free, lazy
//! free and purge, so that a trace of this allocator reads like one
//! recorded from tracefs. Without the feature the hook and every call to
//! it are compiled out: no field, no branch.

/// One allocator event. The names and fields follow Linux's
/// `alloc_vmap_area`, `free_vmap_area_noflush` and `purge_vmap_area_lazy`
/// tracepoints; `Free` (an immediate free) has no Linux counterpart, since
/// Linux frees vmap areas lazily.
#[cfg(feature = "events")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `alloc_vmap_area`: an allocation request and its outcome.
    Alloc {
        /// Start of the area (0 when it failed).
        addr: usize,
        /// Bytes, guard included (the request's bytes when it failed).
        size: usize,
        /// The request's alignment (0 for the quantum).
        align: usize,
        /// The window's start (`vstart`).
        lo: usize,
        /// The window's end, exclusive (Linux prints `vend` inclusive).
        hi: usize,
        /// Whether it was refused.
        failed: bool,
    },
    /// An area freed at once (`Space::free`, `free_handle`).
    Free {
        /// Start of the area.
        addr: usize,
        /// Bytes, guard included.
        size: usize,
    },
    /// `free_vmap_area_noflush`: an area freed lazily.
    FreeLazy {
        /// Start of the area.
        addr: usize,
        /// Quanta pending purge, this area included.
        nr_lazy: usize,
        /// The purge threshold in quanta.
        nr_lazy_max: usize,
    },
    /// `purge_vmap_area_lazy`: a batch of lazily freed areas merged back.
    Purge {
        /// Lowest start in the batch.
        start: usize,
        /// Highest end in the batch.
        end: usize,
        /// Areas in the batch.
        num_purged: usize,
    },
}

/// Called with each [`Event`] as it happens, inside the call that caused
/// it (under a `SharedSpace`, with the lock held): it must not call back
/// into the space. Set with
/// [`Space::set_event_hook`](crate::Space::set_event_hook).
///
/// Each event fires once the space is whole again, so a hook may panic:
/// - `Alloc` of a successful allocation: the allocation is undone as the
///   panic unwinds (merged back into free space; the caller never had it).
///   A refused one changed nothing anyway.
/// - `Free`: the area is already free (or pooled).
/// - `FreeLazy`: the area is already lazy; a purge its free would have set
///   off happens at a later one. In a drain of deferred frees, the areas
///   not freed yet go back on the deferred stack for the next drain.
/// - `Purge`: the batch is already merged.
///
/// The space stays valid and loses no range; a `SharedSpace`'s lock is
/// released as the panic unwinds.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use vmarea::{AreaPool, Event, Flags, Policy, Space};
///
/// static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// fn count(e: &Event) {
///     if let Event::Alloc { failed: false, .. } = e {
///         ALLOCS.fetch_add(1, Ordering::Relaxed);
///     }
/// }
/// static AREAS: AreaPool<8> = AreaPool::new();
/// let mut s = Space::new(0x10_0000, 0x20_0000, 0x1000, Policy::FirstFit, &AREAS).unwrap();
/// s.set_event_hook(Some(count));
/// s.alloc(0x1000, 0, Flags::ALLOC).unwrap();
/// assert_eq!(ALLOCS.load(Ordering::Relaxed), 1);
/// ```
#[cfg(feature = "events")]
pub type EventHook = fn(&Event);

/// Reports `$event` to `$space`'s hook, if the feature and a hook are set;
/// nothing at all without the feature.
#[cfg(feature = "events")]
macro_rules! emit {
    ($space:expr, $event:expr) => {
        if let Some(hook) = $space.events {
            hook(&$event);
        }
    };
}

#[cfg(not(feature = "events"))]
macro_rules! emit {
    ($space:expr, $event:expr) => {};
}

pub(crate) use emit;
