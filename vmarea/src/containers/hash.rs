//! An intrusive chained hash table over a caller-sized bucket array, in the
//! manner of Linux's `hlist`: a bucket is one pointer, a member threads a
//! two-word [`ListLink`] (shared with [`crate::list`]). The caller computes
//! the bucket index (the table knows no keys) and owns member memory.
//!
//! Insertion is at the bucket head, O(1); removal is O(1) given the member
//! and its bucket index (the caller recomputes it from the member's key).

use crate::containers::list::ListLink;
use core::ptr::NonNull;

/// One bucket: the first member of its chain.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bucket(Option<NonNull<ListLink>>);

impl Bucket {
    /// An empty bucket, for building arrays in `const`/`static` context.
    pub const EMPTY: Bucket = Bucket(None);
}

// SAFETY: a bucket holds an address only; see `List`'s impl.
unsafe impl Send for Bucket {}

/// The table over bucket storage `B` (`[Bucket; N]`, `&mut [Bucket]`, or a
/// boxed slice).
pub struct HashChains<B> {
    buckets: B,
    len: usize,
}

/// Members are live and chained by `ListLink`s: prev is None at a chain head.
///
/// # Safety
/// `l` points to a live link.
#[inline(always)]
unsafe fn link<'a>(l: NonNull<ListLink>) -> &'a ListLink {
    // SAFETY: caller contract.
    unsafe { l.as_ref() }
}

impl<const N: usize> HashChains<[Bucket; N]> {
    /// An empty table over an inline array of `N` buckets, in `const`
    /// context (`N == 0` is a build error).
    pub const fn new_array() -> Self {
        const { assert!(N > 0, "a hash table needs at least one bucket") };
        HashChains {
            buckets: [Bucket::EMPTY; N],
            len: 0,
        }
    }
}

impl<B: AsRef<[Bucket]> + AsMut<[Bucket]>> HashChains<B> {
    /// A table over `buckets`, which must all be empty. Refuses (returns
    /// the storage) an empty array or one with a non-empty bucket.
    #[cfg(test)]
    pub fn new(buckets: B) -> Result<Self, B> {
        let ok = !buckets.as_ref().is_empty() && buckets.as_ref().iter().all(|b| b.0.is_none());
        if ok {
            Ok(HashChains { buckets, len: 0 })
        } else {
            Err(buckets)
        }
    }

    /// Number of buckets.
    #[cfg(test)]
    pub fn bucket_count(&self) -> usize {
        self.buckets.as_ref().len()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether bucket `i` is empty (false for an index out of range).
    pub fn bucket_is_empty(&self, i: usize) -> bool {
        self.buckets.as_ref().get(i).is_some_and(|b| b.0.is_none())
    }

    /// The first member of bucket `i`.
    pub fn head(&self, i: usize) -> Option<NonNull<ListLink>> {
        self.buckets.as_ref().get(i).and_then(|b| b.0)
    }

    /// Adds `n` at the head of bucket `i`.
    ///
    /// # Safety
    /// `i < bucket_count()`; `n` is live and in no list or table.
    pub unsafe fn insert(&mut self, i: usize, n: NonNull<ListLink>) {
        let slot = &mut self.buckets.as_mut()[i];
        let old = slot.0;
        // SAFETY: `n` is live (caller contract); `old` is a member.
        unsafe {
            link(n).set(None, old);
            if let Some(o) = old {
                link(o).set(Some(n), link(o).next());
            }
        }
        slot.0 = Some(n);
        self.len += 1;
    }

    /// Unlinks member `n` of bucket `i`.
    ///
    /// # Safety
    /// `n` is a member of bucket `i` of this table.
    pub unsafe fn remove(&mut self, i: usize, n: NonNull<ListLink>) {
        // SAFETY: caller contract: `n` and its chain neighbours are members.
        unsafe {
            let (prev, next) = (link(n).prev(), link(n).next());
            match prev {
                Some(p) => link(p).set(link(p).prev(), next),
                None => self.buckets.as_mut()[i].0 = next,
            }
            if let Some(x) = next {
                link(x).set(prev, link(x).next());
            }
            link(n).set(None, None);
        }
        self.len -= 1;
    }

    /// The members of bucket `i`, head first (empty if out of range).
    pub fn chain(&self, i: usize) -> Chain<'_> {
        Chain {
            cur: self.head(i),
            _t: core::marker::PhantomData,
        }
    }

    /// Checks every chain's back links and the member count. O(n + buckets).
    pub fn validate(&self) -> Result<(), HashError> {
        let mut count = 0usize;
        for (i, b) in self.buckets.as_ref().iter().enumerate() {
            let mut prev = None;
            let mut cur = b.0;
            while let Some(n) = cur {
                if count == self.len {
                    return Err(HashError::Len);
                }
                // SAFETY: members are live (insert contract).
                let l = unsafe { link(n) };
                if l.prev() != prev {
                    return Err(HashError::BackLink { bucket: i });
                }
                prev = Some(n);
                cur = l.next();
                count += 1;
            }
        }
        if count == self.len {
            Ok(())
        } else {
            Err(HashError::Len)
        }
    }
}

/// A broken hash-table invariant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashError {
    /// A member's back link does not point at its predecessor in the chain.
    BackLink {
        /// The bucket whose chain is broken.
        bucket: usize,
    },
    /// The count differs from the members reached.
    Len,
}

impl core::fmt::Display for HashError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HashError::BackLink { bucket } => write!(f, "bucket {bucket}'s chain is broken"),
            HashError::Len => f.write_str("the count differs from the members"),
        }
    }
}

impl core::error::Error for HashError {}

/// The members of one bucket.
pub struct Chain<'a> {
    cur: Option<NonNull<ListLink>>,
    _t: core::marker::PhantomData<&'a ()>,
}

impl Iterator for Chain<'_> {
    type Item = NonNull<ListLink>;
    fn next(&mut self) -> Option<NonNull<ListLink>> {
        let n = self.cur?;
        // SAFETY: members are live while the table is borrowed.
        self.cur = unsafe { link(n) }.next();
        Some(n)
    }
}
