//! The RFC's hash of unused areas keyed by size (`vm_hash_unused`): only an
//! area of exactly the requested size is taken; on a miss the space places
//! the request after the end of the used areas (the RFC's step 5).

use super::{Fit, Geometry, SIZE_CLASSES};
use crate::area::Area;
use crate::containers::hash::{Bucket, HashChains};
use crate::error::ValidateError;
use core::ptr::NonNull;

/// The bucket of a size in quanta. Fibonacci hashing: sizes in quanta are
/// small, consecutive integers.
fn bucket_of(quanta: usize) -> usize {
    (quanta.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize) >> (usize::BITS - 6)) % SIZE_CLASSES
}

/// The hash.
pub(crate) struct SizeHash(HashChains<[Bucket; SIZE_CLASSES]>);

impl SizeHash {
    pub(crate) const fn new() -> Self {
        SizeHash(HashChains::new_array())
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// # Safety
    /// As `FreeIndex::insert`.
    pub(crate) unsafe fn insert(&mut self, area: NonNull<Area>, shift: u32) {
        // SAFETY: caller contract.
        let b = bucket_of(unsafe { area.as_ref() }.size() >> shift);
        // SAFETY: bucket in range; the chain view is free.
        unsafe { self.0.insert(b, Area::chain_link(area)) };
    }

    /// # Safety
    /// `area` is a member, filed under `size`.
    pub(crate) unsafe fn remove(&mut self, area: NonNull<Area>, size: usize, shift: u32) {
        // SAFETY: a member of this bucket (caller contract).
        unsafe {
            self.0
                .remove(bucket_of(size >> shift), Area::chain_link(area))
        };
    }

    /// # Safety
    /// `area` is a member, filed under `old`.
    pub(crate) unsafe fn resized(&mut self, area: NonNull<Area>, old: usize, shift: u32) {
        // SAFETY: filed under `old`; refiled under the new size.
        unsafe {
            self.remove(area, old, shift);
            self.insert(area, shift);
        }
    }

    fn chain(&self, b: usize) -> impl Iterator<Item = NonNull<Area>> + '_ {
        self.0.chain(b).map(Area::from_chain)
    }

    /// A free area of exactly `need` bytes in which the request fits.
    pub(crate) fn search(&self, fit: &Fit, g: &Geometry) -> Option<(NonNull<Area>, usize)> {
        self.chain(bucket_of(fit.need >> g.shift)).find_map(|f| {
            // SAFETY: hash members are live free areas.
            let fa = unsafe { f.as_ref() };
            (fa.size() == fit.need)
                .then(|| fit.place_in(fa))
                .flatten()
                .map(|x| (f, x))
        })
    }

    pub(crate) fn validate(&self, shift: u32) -> Result<(), ValidateError> {
        self.0.validate().map_err(|_| ValidateError::FreeChains)?;
        for b in 0..SIZE_CLASSES {
            for f in self.chain(b) {
                // SAFETY: chain members are live areas.
                let fa = unsafe { f.as_ref() };
                if fa.is_used() || bucket_of(fa.size() >> shift) != b {
                    return Err(ValidateError::FreeMembership {
                        addr: fa.addr.get(),
                    });
                }
            }
        }
        Ok(())
    }
}
