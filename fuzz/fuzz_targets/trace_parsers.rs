//! The tracefs and /proc/vmallocinfo readers on arbitrary bytes: they must
//! report bad lines, never panic; whatever parses must replay and load
//! into a space that still validates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmarea::Policy;
use vmarea_cli::{trace, vmallocinfo};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (events, bad) = trace::parse(&text);
    assert!(bad.iter().all(|b| b.line >= 1));
    if let Some(range) = trace::window(&events) {
        let r = trace::replay(Policy::FirstFit, &events, range, None);
        assert_eq!(r.events, events.len());
    }
    let (lines, _) = vmallocinfo::parse(&text);
    let loaded = vmallocinfo::load(Policy::InstantFit, &lines, &lines);
    loaded
        .vm
        .space()
        .validate()
        .expect("loaded layout validates");
});
