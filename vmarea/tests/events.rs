//! The event hook (feature `events`): every allocation, free, lazy free and
//! purge is reported once, with the fields of Linux's tracepoints.
#![cfg(all(feature = "events", feature = "alloc", not(loom)))]

use std::cell::RefCell;
use vmarea::{BoxNodes, Error, Event, Flags, Policy, RawSpinlock, Request, SharedSpace, Space};

const Q: usize = 4096;
const S: usize = 0x10_0000;

thread_local! {
    static SEEN: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

fn record(e: &Event) {
    SEEN.with_borrow_mut(|v| v.push(*e));
}

fn take() -> Vec<Event> {
    SEEN.with_borrow_mut(std::mem::take)
}

#[test]
fn every_operation_is_reported_with_linux_fields() {
    for &policy in Policy::ALL {
        take();
        let mut s = Space::new(S, S + 64 * Q, Q, policy, BoxNodes).unwrap();
        s.set_event_hook(Some(record));
        s.set_lazy_threshold(4 * Q);
        let a = s.alloc(Q, 0, Flags::ALLOC).unwrap();
        let req = Request::new(Q, S, S + 64 * Q).align(4 * Q);
        let b = s.alloc_request(&req).unwrap();
        assert_eq!(
            take(),
            [
                Event::Alloc {
                    addr: a.addr,
                    size: 2 * Q,
                    align: 0,
                    lo: S,
                    hi: S + 64 * Q,
                    failed: false
                },
                Event::Alloc {
                    addr: b.addr,
                    size: 2 * Q,
                    align: 4 * Q,
                    lo: S,
                    hi: S + 64 * Q,
                    failed: false
                },
            ],
            "{policy:?}"
        );
        let before = s.iter().collect::<Vec<_>>();
        assert_eq!(s.alloc(65 * Q, 0, Flags::ALLOC), Err(Error::NoSpace));
        assert_eq!(s.iter().collect::<Vec<_>>(), before);
        assert_eq!(
            take(),
            [Event::Alloc {
                addr: 0,
                size: 65 * Q,
                align: 0,
                lo: S,
                hi: S + 64 * Q,
                failed: true
            }]
        );
        s.free(a.addr).unwrap();
        assert_eq!(
            take(),
            [Event::Free {
                addr: a.addr,
                size: 2 * Q
            }]
        );
        // Two quanta pending of four: no purge; two more reach the threshold.
        let c = s.alloc(Q, 0, Flags::ALLOC).unwrap();
        take();
        s.free_lazy(b.addr).unwrap();
        assert_eq!(
            take(),
            [Event::FreeLazy {
                addr: b.addr,
                nr_lazy: 2,
                nr_lazy_max: 4
            }]
        );
        s.free_lazy(c.addr).unwrap();
        let (lo, hi) = (b.addr.min(c.addr), b.end().max(c.end()));
        assert_eq!(
            take(),
            [
                Event::FreeLazy {
                    addr: c.addr,
                    nr_lazy: 4,
                    nr_lazy_max: 4
                },
                Event::Purge {
                    start: lo,
                    end: hi,
                    num_purged: 2
                },
            ],
            "{policy:?}"
        );
        assert_eq!(s.purge(), 0);
        assert!(take().is_empty(), "an empty purge is not an event");
    }
}

#[test]
fn a_shared_space_reports_through_its_guard() {
    take();
    let sh: SharedSpace<RawSpinlock, BoxNodes> =
        SharedSpace::new(Space::new(S, S + 64 * Q, Q, Policy::FirstFit, BoxNodes).unwrap());
    sh.lock().set_event_hook(Some(record));
    let a = sh.alloc(Q, 0, Flags::ALLOC).unwrap();
    sh.free(a.addr).unwrap();
    assert_eq!(take().len(), 2);
    sh.lock().set_event_hook(None);
    sh.alloc(Q, 0, Flags::ALLOC).unwrap();
    assert!(take().is_empty());
}
