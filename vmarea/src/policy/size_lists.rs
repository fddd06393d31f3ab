//! Segregated free lists: FreeBSD's exact lists for the small sizes (list
//! q − 1 holds free areas of exactly q quanta, q < 32), then vmem's
//! power-of-two lists (2^k to 2^(k+1) − 1 quanta, k ≥ 5), and a bitmap of
//! the non-empty lists. Instant fit takes the head of the first list whose
//! every member is large enough; best fit takes the smallest fit of the
//! first list holding any — for a small request an exact list answers at
//! once, instead of scanning a power-of-two list of smaller holes. With an
//! alignment, phase or boundary both look first where every member holds
//! the request wherever it starts (the sure room); best fit probes a few
//! members of each smaller list before it.

use super::{Fit, Geometry};
use crate::area::Area;
use crate::containers::hash::{Bucket, HashChains};
use crate::error::ValidateError;
use core::ptr::NonNull;

/// Sizes below this many quanta have an exact list each.
const EXACT: usize = 32;
/// Exact lists (1 … 31 quanta), then one per power of two from 2^5.
const LISTS: usize = EXACT - 1 + (usize::BITS as usize - 5);
static_assertions::const_assert!(LISTS <= 128);

/// The list of a size in quanta (≥ 1): exact below [`EXACT`], else by
/// floor(log2(q)).
fn class_of(quanta: usize) -> usize {
    if quanta < EXACT {
        quanta - 1
    } else {
        EXACT - 1 + (usize::BITS - 1 - quanta.leading_zeros()) as usize - 5
    }
}

/// Whether sizes of `a` and `b` quanta (≥ 1) share a list: `class_of(a) ==
/// class_of(b)` without two bit scans (above the exact lists, the same
/// highest bit: then `a ^ b` clears it and stays below `a & b`, which keeps
/// it).
#[inline(always)]
fn same_class(a: usize, b: usize) -> bool {
    if a < EXACT || b < EXACT {
        a == b
    } else {
        a ^ b < a & b
    }
}

/// The first list whose every member holds at least `quanta`.
fn first_sure(quanta: usize) -> usize {
    if quanta < EXACT || quanta.is_power_of_two() {
        class_of(quanta)
    } else {
        class_of(quanta) + 1
    }
}

/// Members of each list below the sure lists that an aligned best-fit
/// request probes (each holds the request only if it starts well).
const PROBE: usize = 8;

/// Bits `k` and above.
fn from(k: usize) -> u128 {
    if k >= 128 {
        0
    } else {
        !0u128 << k
    }
}

/// The lists, the bitmap, and which fit searches them.
pub(crate) struct SizeLists {
    chains: HashChains<[Bucket; LISTS]>,
    /// Bit k set ⇔ list k is non-empty.
    nonempty: u128,
    /// Best fit (else instant fit).
    best: bool,
    /// Members the searches looked at (tests bound the scans with it).
    #[cfg(test)]
    pub(crate) visits: core::cell::Cell<usize>,
}

impl SizeLists {
    pub(crate) const fn new(best: bool) -> Self {
        SizeLists {
            chains: HashChains::new_array(),
            nonempty: 0,
            best,
            #[cfg(test)]
            visits: core::cell::Cell::new(0),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.chains.len()
    }

    /// # Safety
    /// As `FreeIndex::insert`.
    pub(crate) unsafe fn insert(&mut self, area: NonNull<Area>, shift: u32) {
        // SAFETY: caller contract.
        let k = class_of(unsafe { area.as_ref() }.size() >> shift);
        // SAFETY: k < 64; the chain view is free while the area is in no
        // index.
        unsafe { self.chains.insert(k, Area::chain_link(area)) };
        self.nonempty |= 1 << k;
    }

    /// # Safety
    /// `area` is a member, filed under `size`.
    pub(crate) unsafe fn remove(&mut self, area: NonNull<Area>, size: usize, shift: u32) {
        let k = class_of(size >> shift);
        // SAFETY: a member of list k (caller contract).
        unsafe { self.chains.remove(k, Area::chain_link(area)) };
        if self.chains.bucket_is_empty(k) {
            self.nonempty &= !(1 << k);
        }
    }

    /// # Safety
    /// `area` is a member, filed under `old`.
    #[inline(always)]
    pub(crate) unsafe fn resized(&mut self, area: NonNull<Area>, old: usize, shift: u32) {
        // SAFETY: caller contract: `area` is a live member.
        let new = unsafe { area.as_ref() }.size();
        if !same_class(old >> shift, new >> shift) {
            // SAFETY: caller contract.
            unsafe { self.refile(area, old, shift) };
        }
        // Otherwise still in the same list: nothing to move (a carve or
        // merge that keeps the class, the common case, costs no relinking).
    }

    /// Moves `area` from the list of `old` to the list of its size.
    ///
    /// # Safety
    /// `area` is a member, filed under `old`.
    #[inline(never)]
    unsafe fn refile(&mut self, area: NonNull<Area>, old: usize, shift: u32) {
        // SAFETY: filed under `old`; refiled under the new size.
        unsafe {
            self.remove(area, old, shift);
            self.insert(area, shift);
        }
    }

    fn chain(&self, k: usize) -> impl Iterator<Item = NonNull<Area>> + '_ {
        self.chains.chain(k).map(Area::from_chain)
    }

    /// Instant fit's O(1) answer for `quanta` anywhere: the head of the
    /// first list whose every area holds that many (None: no such list;
    /// a smaller list may still hold a fit, for [`search`](Self::search)).
    #[inline(always)]
    pub(crate) fn instant(&self, quanta: usize) -> Option<NonNull<Area>> {
        if self.best {
            return None;
        }
        let mask = self.nonempty & from(first_sure(quanta));
        if mask == 0 {
            return None;
        }
        self.chain(mask.trailing_zeros() as usize).next()
    }

    pub(crate) fn search(&self, fit: &Fit, g: &Geometry) -> Option<(NonNull<Area>, usize)> {
        if !self.best && fit.unconstrained(g) {
            // Instant fit: a list whose every area is at least `need`.
            if let Some(f) = self.instant(fit.need >> g.shift) {
                // SAFETY: list members are live free areas.
                return Some((f, unsafe { f.as_ref() }.addr.get()));
            }
        } else if !fit.unconstrained(g) && fit.lo == g.start && fit.hi == g.end {
            // An alignment, phase or boundary anywhere in the space (vmem's
            // `vmem_xalloc`): from the first list whose every area holds the
            // request wherever it starts — the sure room, `need + align −
            // quantum` (twice that with a boundary) — every member fits.
            // Instant fit takes that list's head, in O(1). Best fit probes
            // the first few areas of each smaller list (a hole there holds
            // the request only if it happens to start well; the smallest
            // fit of the first list where one does), then takes the best
            // fit of the first sure list. Either way no scan tries every
            // hole of the smaller lists, each failing on its alignment.
            if let Some(room) = fit.sure_room(1 << g.shift) {
                let sure = self.nonempty & from(first_sure(room >> g.shift));
                if !self.best {
                    if sure != 0 {
                        let f = self.chain(sure.trailing_zeros() as usize).next()?;
                        // SAFETY: list members are live free areas.
                        if let Some(x) = fit.place_in(unsafe { f.as_ref() }) {
                            return Some((f, x));
                        }
                    }
                } else {
                    let below = self.nonempty & from(class_of(fit.need >> g.shift)) & !sure;
                    let found = self
                        .scan_lists(fit, below, PROBE)
                        .or_else(|| self.scan_lists(fit, sure, usize::MAX));
                    if found.is_some() {
                        return found;
                    }
                }
            }
        }
        self.scan(fit, g.shift)
    }

    /// Scans the lists from the class of `need` upward: the first fit, or
    /// with `best` the smallest fit of the first list holding any.
    fn scan(&self, fit: &Fit, shift: u32) -> Option<(NonNull<Area>, usize)> {
        self.scan_lists(
            fit,
            self.nonempty & from(class_of(fit.need >> shift)),
            usize::MAX,
        )
    }

    /// Scans the lists in `classes` (a mask of non-empty lists) upward,
    /// looking at the first `probe` members of each: the first fit, or with
    /// `best` the smallest fit of the first list holding any (in an exact
    /// list every member has the same size, so its first fit is its best).
    fn scan_lists(
        &self,
        fit: &Fit,
        mut classes: u128,
        probe: usize,
    ) -> Option<(NonNull<Area>, usize)> {
        while classes != 0 {
            let k = classes.trailing_zeros() as usize;
            classes &= classes - 1;
            let exact = k < EXACT - 1;
            let mut pick: Option<(NonNull<Area>, usize)> = None;
            for f in self.chain(k).take(probe) {
                #[cfg(test)]
                self.visits.set(self.visits.get() + 1);
                // SAFETY: list members are live free areas.
                let fa = unsafe { f.as_ref() };
                if let Some(x) = fit.place_in(fa) {
                    // First fit, or a best fit that cannot be beaten.
                    if !self.best || exact || fa.size() == fit.need {
                        return Some((f, x));
                    }
                    // SAFETY: as above.
                    if pick.is_none_or(|(p, _)| fa.size() < unsafe { p.as_ref() }.size()) {
                        pick = Some((f, x));
                    }
                }
            }
            if pick.is_some() {
                return pick;
            }
        }
        None
    }

    pub(crate) fn validate(&self, shift: u32) -> Result<(), ValidateError> {
        self.chains
            .validate()
            .map_err(|_| ValidateError::FreeChains)?;
        for k in 0..LISTS {
            if self.chains.bucket_is_empty(k) == (self.nonempty & (1 << k) != 0) {
                return Err(ValidateError::FreeBitmap);
            }
            for f in self.chain(k) {
                // SAFETY: chain members are live areas.
                let fa = unsafe { f.as_ref() };
                if fa.is_used() || class_of(fa.size() >> shift) != k {
                    return Err(ValidateError::FreeMembership {
                        addr: fa.addr.get(),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{class_of, same_class};

    #[test]
    fn same_class_agrees_with_class_of() {
        // Miri interprets every step: fewer sizes make the same point.
        let (n, top) = if cfg!(miri) {
            (40, 16)
        } else {
            (700, usize::BITS)
        };
        let mut sizes: std::vec::Vec<usize> = (1..n).collect();
        for b in 5..top {
            let p = 1usize << b;
            sizes.extend([p - 1, p, p + 1, p | (p >> 1)]);
        }
        sizes.push(usize::MAX);
        for &a in &sizes {
            for &b in &sizes {
                assert_eq!(same_class(a, b), class_of(a) == class_of(b), "{a} {b}");
            }
        }
    }
}
