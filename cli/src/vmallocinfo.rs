//! `/proc/vmallocinfo` snapshots: parsing, and loading one as a starting
//! layout.
//!
//! Lines: `0xSTART-0xEND SIZE [caller+off/len [module]] [pages=N] [phys=A]
//! [ioremap|sparse|vmalloc|vmap|user|dma-coherent|vpages] [N<node>=n ...]`,
//! plus `0xSTART-0xEND SIZE vm_map_ram` and `... SIZE unpurged vm_area`.
//! SIZE includes the guard page. Unknown tokens are kept and ignored. Since
//! Linux 6.9 lines are grouped per node, so they are sorted by address here.
//! With `kptr_restrict` the addresses are hashed (or zero): then END − START
//! is not SIZE, and the areas are laid out in file order instead.

use crate::allocators::{VmArea, PAGE, VMALLOC_SIZE, VMALLOC_START};
use crate::trace::{number, BadLine};
use vmarea::{Flags, Policy, Request};

/// What kind of area a line describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An allocated area (vmalloc, vmap, ioremap, ...).
    Used,
    /// A `vm_map_ram` area.
    MapRam,
    /// `unpurged vm_area`: lazily freed, not yet purged.
    Unpurged,
}

/// One line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Start address as printed (maybe hashed).
    pub start: u64,
    /// End address as printed (maybe hashed).
    pub end: u64,
    /// Bytes, guard included.
    pub size: u64,
    /// The kind.
    pub kind: Kind,
    /// The remaining tokens (caller, flags, pages=, phys=, N0=, ...).
    pub tokens: Vec<String>,
}

/// Parses one line; `Ok(None)` for blank lines.
pub fn parse_line(line: &str) -> Result<Option<Line>, String> {
    let mut it = line.split_whitespace();
    let Some(range) = it.next() else {
        return Ok(None);
    };
    let (s, e) = range
        .split_once('-')
        .ok_or_else(|| format!("no START-END in {range:?}"))?;
    let size = number(it.next().ok_or("missing SIZE")?)?;
    let tokens: Vec<String> = it.map(str::to_string).collect();
    let kind = match tokens.first().map(String::as_str) {
        Some("vm_map_ram") => Kind::MapRam,
        Some("unpurged") => Kind::Unpurged,
        _ => Kind::Used,
    };
    if size == 0 {
        return Err("zero SIZE".into());
    }
    Ok(Some(Line {
        start: number(s)?,
        end: number(e)?,
        size,
        kind,
        tokens,
    }))
}

/// Parses a snapshot, sorted by start address.
pub fn parse(text: &str) -> (Vec<Line>, Vec<BadLine>) {
    let mut lines = Vec::new();
    let mut bad = Vec::new();
    for (i, l) in text.lines().enumerate() {
        match parse_line(l) {
            Ok(Some(x)) => lines.push(x),
            Ok(None) => {}
            Err(reason) => bad.push(BadLine {
                line: i + 1,
                reason,
            }),
        }
    }
    lines.sort_by_key(|l| l.start);
    (lines, bad)
}

/// Whether the addresses are real: every END − START equals SIZE.
pub fn addresses_usable(lines: &[Line]) -> bool {
    !lines.is_empty()
        && lines
            .iter()
            .all(|l| l.end.checked_sub(l.start) == Some(l.size))
}

/// The result of loading a snapshot.
pub struct Loaded {
    /// The space, with every area of the snapshot allocated.
    pub vm: VmArea,
    /// Whether real addresses were used (false: file order).
    pub real_addresses: bool,
    /// Lines that could not be placed (overlapping or outside the space).
    pub unplaced: usize,
}

/// Loads `lines` into a fresh space with `policy`: at their own addresses
/// when those are real, else one after another in file order from
/// `VMALLOC_START`. Unpurged areas are loaded as lazily freed.
pub fn load(policy: Policy, lines: &[Line], file_order: &[Line]) -> Loaded {
    // Real addresses need a space that covers them all; if they cannot form
    // one (absurd values), fall back to file order like hashed ones.
    let real_space = addresses_usable(lines)
        .then(|| {
            let lo = lines.iter().map(|l| l.start as usize).min()? & !(PAGE - 1);
            let hi = lines
                .iter()
                .map(|l| l.end as usize)
                .max()?
                .checked_next_multiple_of(PAGE)?;
            VmArea::try_with_range(policy, lo, hi - lo)
                .ok()
                .map(|vm| (vm, hi))
        })
        .flatten();
    let real = real_space.is_some();
    let (mut vm, hi) =
        real_space.unwrap_or_else(|| (VmArea::new(policy), VMALLOC_START + VMALLOC_SIZE));
    let lo = vm.space().bounds().0;
    let s = vm.space_mut();
    s.set_lazy_threshold(usize::MAX);
    let mut unplaced = 0;
    let mut next = lo;
    let order = if real { lines } else { file_order };
    for l in order {
        let size = (l.size as usize).next_multiple_of(PAGE);
        let at = if real { l.start as usize } else { next };
        let req = Request {
            size,
            align: 0,
            flags: Flags::NO_GUARD,
            tag: 0,
            lo: at,
            hi: at.saturating_add(size).min(hi),
            phase: 0,
            nocross: 0,
        };
        match s.alloc_request(&req) {
            Ok(a) => {
                next = a.end();
                if l.kind == Kind::Unpurged {
                    s.free_lazy(a.addr).ok();
                }
            }
            Err(_) => unplaced += 1,
        }
    }
    Loaded {
        vm,
        real_addresses: real,
        unplaced,
    }
}
