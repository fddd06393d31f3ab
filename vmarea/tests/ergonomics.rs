//! What a Rust user expects of the API's surface: a request builder, a
//! plain `alloc(size, align, flags)` on the shared space, named flags and
//! hex addresses in `Debug`.

use vmarea::{AreaPool, Flags, Policy, RawSpinlock, Request, SharedSpace, Space};

static AREAS: AreaPool<16> = AreaPool::new();
static SHARED_AREAS: AreaPool<16> = AreaPool::new();

#[test]
fn request_builder_and_space_request() {
    let mut s = Space::new(0x10_0000, 0x20_0000, 4096, Policy::FirstFit, &AREAS).unwrap();
    let r = s.request(3 * 4096).align(0x8000).flags(Flags::MAP).tag(9);
    assert_eq!(
        r,
        Request {
            size: 3 * 4096,
            align: 0x8000,
            flags: Flags::MAP,
            tag: 9,
            lo: 0x10_0000,
            hi: 0x20_0000,
            phase: 0,
            nocross: 0,
        }
    );
    let a = s.alloc_request(&r).unwrap();
    assert_eq!((a.addr % 0x8000, a.flags, a.tag), (0, Flags::MAP, 9));
    let w = s.request(4096).window(0x18_0000, 0x20_0000);
    assert!(s.alloc_request(&w).unwrap().addr >= 0x18_0000);
    s.validate().unwrap();
}

#[test]
fn shared_space_plain_alloc() {
    let sh: SharedSpace<RawSpinlock, _> = SharedSpace::new(
        Space::new(
            0x10_0000,
            0x20_0000,
            4096,
            Policy::InstantFit,
            &SHARED_AREAS,
        )
        .unwrap(),
    );
    let a = sh.alloc(8192, 0x4000, Flags::ALLOC).unwrap();
    assert_eq!(a.addr % 0x4000, 0);
    assert_eq!(a.usable(), 8192);
    assert_eq!(sh.free(a.addr).unwrap().addr, a.addr);
    sh.lock().validate().unwrap();
}

#[test]
fn debug_names_flags_and_prints_hex() {
    assert_eq!(format!("{:?}", Flags::NONE), "Flags(NONE)");
    assert_eq!(
        format!("{:?}", Flags::ALLOC | Flags::NO_GUARD),
        "Flags(ALLOC | NO_GUARD)"
    );
    let caller = Flags(Flags::CALLER.0 << 2);
    assert_eq!(
        format!("{:?}", Flags::IOREMAP | caller | Flags(1 << 10)),
        "Flags(IOREMAP | CALLER<<2 | 0x400)"
    );
    let mut s = Space::new(0x10_0000, 0x20_0000, 4096, Policy::FirstFit, &AREAS).unwrap();
    let a = s.alloc(4096, 0, Flags::ALLOC).unwrap();
    let d = format!("{a:?}");
    assert!(d.contains("addr: 0x100000"), "{d}");
    assert!(d.contains("size: 0x2000"), "{d}");
    assert!(d.contains("flags: Flags(ALLOC)"), "{d}");
}
