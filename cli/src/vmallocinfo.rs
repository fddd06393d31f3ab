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
use crate::input::{BadLine, Collected, InputError, Malformed};
use crate::trace::number;
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
    let mut c = Collected::new(usize::MAX);
    for (i, l) in text.lines().enumerate() {
        c.add(i + 1, parse_line(l));
    }
    (sorted(&c.items), c.bad.first)
}

/// The lines by start address.
pub fn sorted(in_file_order: &[(usize, Line)]) -> Vec<Line> {
    let mut lines: Vec<Line> = in_file_order.iter().map(|(_, l)| l.clone()).collect();
    lines.sort_by_key(|l| l.start);
    lines
}

/// Reads a snapshot line by line in bounded memory (see [`crate::input`]):
/// the lines in file order with their numbers, and the malformed ones.
pub fn read(r: &mut dyn std::io::BufRead) -> Result<(Vec<(usize, Line)>, Malformed), InputError> {
    let mut c = Collected::new(crate::input::KEPT_BAD);
    crate::input::each_line(r, |number, line| c.add(number, parse_line(line)))?;
    Ok((c.items, c.bad))
}

/// Whether `lines` (valid) and `malformed` make a vmallocinfo dump: more
/// valid lines than malformed ones. Anything else (junk, a binary file, a
/// file of another kind) is refused.
pub fn is_dump(valid: usize, malformed: usize) -> bool {
    valid > 0 && valid > malformed
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
    /// Lines that could not be placed (overlapping, outside the space, or
    /// larger than it).
    pub unplaced: usize,
    /// Why, for the first [`KEPT_BAD`](crate::input::KEPT_BAD) of them
    /// (`0xSTART SIZE: reason`).
    pub unplaced_reasons: Vec<String>,
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
    let mut unplaced_reasons = Vec::new();
    let mut next = lo;
    let order = if real { lines } else { file_order };
    let (space_lo, space_hi) = (lo, hi);
    for l in order {
        let mut refuse = |reason: String| {
            unplaced += 1;
            if unplaced_reasons.len() < crate::input::KEPT_BAD {
                unplaced_reasons.push(format!("{:#x} {}: {reason}", l.start, l.size));
            }
        };
        let Some(size) = usize::try_from(l.size)
            .ok()
            .and_then(|s| s.checked_next_multiple_of(PAGE))
            .filter(|&s| s <= space_hi - space_lo)
        else {
            refuse(format!(
                "larger than the space ({:#x} bytes)",
                space_hi - space_lo
            ));
            continue;
        };
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
            Err(e) => refuse(match e {
                vmarea::Error::NoSpace if real => "overlaps another area".into(),
                vmarea::Error::NoSpace => "no room left after the areas before it".into(),
                vmarea::Error::BadRange => {
                    format!("outside the space [{space_lo:#x}, {space_hi:#x})")
                }
                e => e.to_string(),
            }),
        }
    }
    Loaded {
        vm,
        real_addresses: real,
        unplaced,
        unplaced_reasons,
    }
}
