//! The model executor shared by the proptest suite (`tests/model.rs`) and
//! the fuzz target (`fuzz/fuzz_targets/vmarea_ops.rs`): applies each
//! operation to a space and to a map of used intervals, then checks
//! `validate()`, the used areas, and that refused calls changed nothing.
#![allow(dead_code)]

use std::collections::BTreeMap;
use vmarea::{AreaInfo, BoxNodes, Error, Flags, Policy, Request, Space};

pub const Q: usize = 4096;
pub const START: usize = 0x10_0000;
pub const PAGES: usize = 256;
pub const END: usize = START + PAGES * Q;

/// One operation on the space.
#[derive(Debug, Clone)]
pub enum Op {
    /// pages (0 = bad), align shift over the quantum (large = bad), guard,
    /// window: None = whole space, or (lo page, hi page) possibly bad.
    Alloc {
        pages: usize,
        align_shift: u32,
        guard: bool,
        window: Option<(usize, usize)>,
        raw_align: Option<usize>,
    },
    /// Free the n-th live area.
    FreeLive(usize),
    /// Free an arbitrary page address (unknown, interior or already freed).
    FreeAddr(usize),
    /// Look up an address.
    Find(usize),
}

/// Used intervals: addr → (size, flags).
type Model = BTreeMap<usize, (usize, Flags)>;

/// Lowest placement of `need` bytes aligned to `align` in `[lo, hi)` that
/// overlaps no used interval.
fn lowest_fit(m: &Model, need: usize, align: usize, lo: usize, hi: usize) -> Option<usize> {
    let mut gap_start = START;
    let mut gaps: Vec<(usize, usize)> = Vec::new();
    for (&a, &(s, _)) in m {
        if a > gap_start {
            gaps.push((gap_start, a));
        }
        gap_start = a + s;
    }
    if END > gap_start {
        gaps.push((gap_start, END));
    }
    gaps.into_iter().find_map(|(s, e)| {
        let x = s.max(lo).div_ceil(align) * align;
        (x + need <= e.min(hi)).then_some(x)
    })
}

fn snapshot(s: &Space<BoxNodes>) -> (Vec<AreaInfo>, vmarea::Stats) {
    (s.iter().collect(), s.stats())
}

pub fn run(policy: Policy, ops: &[Op]) {
    let mut s = Space::new(START, END, Q, policy, BoxNodes).unwrap();
    let mut m: Model = BTreeMap::new();
    for op in ops {
        let before = snapshot(&s);
        match op.clone() {
            Op::Alloc {
                pages,
                align_shift,
                guard,
                window,
                raw_align,
            } => {
                let size = pages * Q - if pages > 0 { Q / 2 } else { 0 }; // not page-multiple: rounded
                let align = raw_align.unwrap_or(Q << align_shift);
                let flags = if guard {
                    Flags::ALLOC
                } else {
                    Flags::ALLOC | Flags::NO_GUARD
                };
                let (lo, hi) = window.map_or((START, END), |(l, h)| (START + l * Q, START + h * Q));
                let req = Request {
                    size,
                    align,
                    flags,
                    tag: 7,
                    lo,
                    hi,
                };
                let need = pages * Q + if guard { Q } else { 0 };
                let eff_align = align.max(Q);
                let expect_err = if pages == 0 {
                    Some(Error::ZeroSize)
                } else if (align != 0 && !align.is_power_of_two()) || eff_align > END - START {
                    Some(Error::BadAlign)
                } else if lo >= hi || lo < START || hi > END {
                    Some(Error::BadRange)
                } else {
                    None
                };
                let fit = lowest_fit(&m, need, eff_align, lo, hi);
                match s.alloc_request(&req) {
                    Ok(a) => {
                        assert_eq!(expect_err, None, "{op:?} should have been refused");
                        assert_eq!(a.size, need);
                        assert_eq!(a.addr % eff_align, 0);
                        assert!(a.addr >= lo && a.end() <= hi, "{a:?} outside window");
                        assert!(a.used && a.flags == flags && a.tag == 7);
                        if policy == Policy::FirstFit {
                            assert_eq!(Some(a.addr), fit, "FirstFit must take the lowest fit");
                        }
                        let overlaps = m
                            .range(..a.end())
                            .next_back()
                            .is_some_and(|(&b, &(bs, _))| b + bs > a.addr);
                        assert!(!overlaps, "{a:?} overlaps a used area");
                        m.insert(a.addr, (a.size, flags));
                    }
                    Err(e) => {
                        match expect_err {
                            Some(want) => assert_eq!(e, want),
                            None => {
                                assert_eq!(e, Error::NoSpace, "{op:?}");
                                assert_eq!(fit, None, "{policy:?} said NoSpace but {fit:?} fits");
                            }
                        }
                        assert_eq!(snapshot(&s), before, "refused {op:?} changed the space");
                    }
                }
            }
            Op::FreeLive(i) => {
                if m.is_empty() {
                    continue;
                }
                let (&addr, &(size, flags)) = m.iter().nth(i % m.len()).unwrap();
                let freed = s.free(addr).unwrap();
                assert_eq!((freed.addr, freed.size, freed.flags), (addr, size, flags));
                m.remove(&addr);
            }
            Op::FreeAddr(page) => {
                let addr = START + page * Q;
                match s.free(addr) {
                    Ok(f) => {
                        assert_eq!(m.remove(&addr).map(|x| x.0), Some(f.size));
                    }
                    Err(e) => {
                        assert_eq!(e, Error::NotAllocated { addr });
                        assert!(!m.contains_key(&addr));
                        assert_eq!(snapshot(&s), before, "refused free changed the space");
                    }
                }
            }
            Op::Find(page) => {
                let addr = START + page * Q + 5;
                let want = m
                    .range(..=addr)
                    .next_back()
                    .filter(|(&a, &(sz, _))| addr < a + sz)
                    .map(|(&a, _)| a);
                assert_eq!(s.find(addr).map(|i| i.addr), want);
            }
        }
        s.validate()
            .unwrap_or_else(|e| panic!("{policy:?} after {op:?}: {e}"));
        let used: Vec<(usize, usize)> = s.used().map(|i| (i.addr, i.size)).collect();
        let want: Vec<(usize, usize)> = m.iter().map(|(&a, &(sz, _))| (a, sz)).collect();
        assert_eq!(used, want, "after {op:?}");
        let st = s.stats();
        assert_eq!(st.used_bytes, want.iter().map(|x| x.1).sum::<usize>());
        assert_eq!(st.used_bytes + st.free_bytes, END - START);
    }
    // Everything comes back whole.
    let addrs: Vec<usize> = m.keys().copied().collect();
    for a in addrs {
        s.free(a).unwrap();
        s.validate().unwrap();
    }
    let st = s.stats();
    assert_eq!(
        (st.used_bytes, st.largest_free, st.free_ranges),
        (0, END - START, 1)
    );
}
