//! Freeing: at once (merged with free list neighbours, RFC step 4, or
//! pooled), lazily (out of the busy tree, reusable after a purge), and the
//! purge that hands a batch to the flush hook and merges it back.

use super::{a, Handle, Space};
use crate::area::{Area, Flags};
use crate::error::Error;
use crate::events::emit;
use crate::info::AreaInfo;
use crate::nodes::NodeSource;
use core::ptr::NonNull;

impl<S: NodeSource> Space<S> {
    /// Frees the used area starting at `addr` (`vfree`), merging it with
    /// free neighbours (RFC step 4). Returns what was freed.
    pub fn free(&mut self, addr: usize) -> Result<AreaInfo, Error> {
        let u = self.take_used(addr)?;
        // SAFETY: `u` just left the busy tree: a live used area.
        Ok(unsafe { self.release_used(u) })
    }

    /// Frees the area `handle` names, without searching for it.
    ///
    /// # Safety
    /// `handle` came from [`alloc_handle`](Space::alloc_handle) on this
    /// space, and its area has not been freed since (by any means).
    pub unsafe fn free_handle(&mut self, handle: Handle) -> AreaInfo {
        let u = handle.0;
        // SAFETY: caller contract: `u` is a used area of the space.
        unsafe { self.busy.remove(u) };
        // SAFETY: as above; it has just left the busy tree.
        unsafe { self.release_used(u) }
    }

    /// Frees the area at `addr` lazily (Linux's `free_vmap_area_noflush`):
    /// it leaves the busy tree at once but its range is not reusable until
    /// the next purge, which runs when pending bytes reach the threshold,
    /// when an allocation would otherwise fail, or on [`purge`](Space::purge).
    pub fn free_lazy(&mut self, addr: usize) -> Result<AreaInfo, Error> {
        let u = self.take_used(addr)?;
        // SAFETY: `u` just left the busy tree: a live used area.
        Ok(unsafe { self.retire_lazy(u) })
    }

    /// As [`free_lazy`](Self::free_lazy), for the area `handle` names (the
    /// shared layer's drain of deferred frees: a deferred free is a `vfree`,
    /// so its range, too, is reused only after the flush hook saw it).
    ///
    /// # Safety
    /// As for [`free_handle`](Self::free_handle).
    pub(crate) unsafe fn free_lazy_handle(&mut self, handle: Handle) -> AreaInfo {
        let u = handle.0;
        // SAFETY: caller contract: `u` is a used area of the space.
        unsafe { self.busy.remove(u) };
        // SAFETY: as above; it has just left the busy tree.
        unsafe { self.retire_lazy(u) }
    }

    /// Puts a used area that has left the busy tree on the lazy list; purges
    /// once the pending bytes reach the threshold.
    ///
    /// # Safety
    /// `u` is a live used area of the space, on the address list, in no index.
    pub(super) unsafe fn retire_lazy(&mut self, u: NonNull<Area>) -> AreaInfo {
        self.counters.lazy_frees += 1;
        // SAFETY: caller contract; its chain view is free now.
        let freed = unsafe {
            let ua = a(u);
            let freed = AreaInfo::of(ua, self.quantum);
            // A lazily freed area keeps no flags (a deferred one's `aux` held
            // the stack's link).
            ua.set_cached(Flags::NONE, false);
            ua.set_lazy();
            self.lazy.push_back(Area::chain_link(u));
            freed
        };
        self.used_bytes -= freed.size;
        self.lazy_bytes += freed.size;
        emit!(
            self,
            crate::events::Event::FreeLazy {
                addr: freed.addr,
                nr_lazy: self.lazy_bytes >> self.shift,
                nr_lazy_max: self.lazy_max >> self.shift,
            }
        );
        if self.lazy_bytes >= self.lazy_max {
            self.purge_at_threshold();
        }
        freed
    }

    /// Takes the used area starting at `addr` out of the busy tree; refuses
    /// an area a cache holds or whose deferred free is pending.
    pub(super) fn take_used(&mut self, addr: usize) -> Result<NonNull<Area>, Error> {
        let u = self
            .busy
            .starting_at(addr, &self.all)
            .ok_or(Error::NotAllocated { addr })?;
        // SAFETY: a used area of the space.
        let ua = unsafe { a(u) };
        if ua.is_deferred() {
            return Err(Error::NotAllocated { addr });
        }
        if ua.is_cached() {
            return Err(Error::Cached { addr });
        }
        // SAFETY: `u` is a used area the index holds.
        unsafe { self.busy.remove(u) };
        Ok(u)
    }

    /// Marks the used area `handle` names as held by a cache (or released by
    /// it), reporting `flags`.
    ///
    /// # Safety
    /// `handle` names a live used area of this space.
    pub(crate) unsafe fn set_cached(&mut self, handle: Handle, flags: Flags, cached: bool) {
        // SAFETY: caller contract.
        unsafe { a(handle.0) }.set_cached(flags, cached);
    }

    /// Accounts for and merges a used area that has left the busy tree.
    ///
    /// # Safety
    /// `u` is a live used area of the space, on the address list, in no index.
    #[inline]
    pub(super) unsafe fn release_used(&mut self, u: NonNull<Area>) -> AreaInfo {
        self.counters.frees += 1;
        // SAFETY: caller contract (a used area: a lazy one is not used, and
        // one awaiting a deferred free is not the caller's to free).
        let freed = AreaInfo::of_used(unsafe { a(u) }, self.quantum);
        self.used_bytes -= freed.size;
        // SAFETY: caller contract.
        if self.pools.max == 0 || !unsafe { self.pool_freed(u, freed.size) } {
            // SAFETY: caller contract.
            unsafe { self.merge_free(u) };
        }
        // Last, once the space is whole again: a hook that panics finds
        // the range free (or pooled), not half merged.
        emit!(
            self,
            crate::events::Event::Free {
                addr: freed.addr,
                size: freed.size,
            }
        );
        freed
    }

    /// Puts a freed used area of `size` bytes in its pool, if it has one
    /// with room. Out of line: the free path stays small without pools.
    ///
    /// # Safety
    /// As `release_used`.
    #[inline(never)]
    pub(super) unsafe fn pool_freed(&mut self, u: NonNull<Area>, size: usize) -> bool {
        let Some(c) = self.pools.class(size >> self.shift) else {
            return false;
        };
        if !self.pools.has_room(c) {
            return false;
        }
        // SAFETY: caller contract: a live area in no index; its chain view
        // is unused.
        unsafe {
            a(u).set_pooled();
            self.pools.push(c, u, size);
        }
        true
    }

    /// Marks `u` free and merges it with free list neighbours (RFC step 4).
    /// As Linux's `merge_or_add_vmap_area`, a free neighbour keeps its index
    /// entry and only grows (re-summarised in place); only an area with no
    /// free neighbour is inserted. Under `Rfc`, a result ending at `top` is
    /// absorbed by the untracked top instead.
    ///
    /// # Safety
    /// `u` is a live area of the space on the address list, in no index.
    pub(super) unsafe fn merge_free(&mut self, u: NonNull<Area>) {
        // SAFETY (whole body): `u` and its list neighbours are live areas of
        // the space; free neighbours are in the index under their sizes.
        unsafe {
            a(u).set_free();
            let free_at = |l: Option<NonNull<crate::containers::list::ListLink>>| {
                l.map(|l| Area::from_list(l)).filter(|&x| !a(x).is_used())
            };
            let (prev, next) = (free_at(a(u).list.prev()), free_at(a(u).list.next()));
            // The surviving area, and the size it is indexed under (None: not
            // indexed yet).
            let (keep, indexed) = match (prev, next) {
                (Some(p), next) => {
                    let old = a(p).size();
                    let mut size = old + a(u).size();
                    self.all.remove(Area::list_link(u));
                    self.release(u);
                    if let Some(n) = next {
                        self.free.remove(n, a(n).size(), self.shift);
                        size += a(n).size();
                        self.all.remove(Area::list_link(n));
                        self.release(n);
                    }
                    a(p).set_size(size);
                    (p, Some(old))
                }
                (None, Some(n)) => {
                    // `n` grows leftwards over `u`; its order among free areas
                    // is unchanged.
                    let old = a(n).size();
                    a(n).addr.set(a(u).addr.get());
                    a(n).set_size(old + a(u).size());
                    self.all.remove(Area::list_link(u));
                    self.release(u);
                    (n, Some(old))
                }
                (None, None) => (u, None),
            };
            // The last area only: a span boundary (a gap, perhaps of size
            // 0) between it and the top keeps the spans apart.
            if self.policy.bumps() && a(keep).end() == self.top && a(keep).list.next().is_none() {
                // The RFC keeps no free area at the top: the bump retreats.
                if let Some(old) = indexed {
                    self.free.remove(keep, old, self.shift);
                }
                self.top = a(keep).addr.get();
                self.all.remove(Area::list_link(keep));
                self.release(keep);
            } else {
                match indexed {
                    Some(old) => self.free.resized(keep, old, self.shift),
                    None => self.free.insert(keep, self.shift),
                }
            }
        }
    }
}
