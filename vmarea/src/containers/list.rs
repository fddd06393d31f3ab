//! An intrusive doubly linked list of [`ListLink`]s, in the manner of Linux's
//! `list.h`: the caller embeds a link in its struct and owns the memory; the
//! list only threads pointers. O(1) add at either end, add beside a known
//! node, delete, splice; no allocation, no key, nothing about areas.
//!
//! The API is `unsafe` where a pointer comes in: the caller promises it is a
//! live link, and for `remove`/`insert_*` that membership is as stated.
//! Reading pointers back out (iteration, `front`, `next`) is safe; turning
//! them into references is the caller's business.

use core::cell::Cell;
use core::ptr::NonNull;

/// Two words: previous and next member. A link in no list has both `None`
/// only by convention; the list does not track membership per link.
#[derive(Default)]
pub struct ListLink {
    prev: Cell<Option<NonNull<ListLink>>>,
    next: Cell<Option<NonNull<ListLink>>>,
}

static_assertions::assert_eq_size!(ListLink, [usize; 2]);

impl ListLink {
    /// A link not in any list.
    pub const fn new() -> Self {
        ListLink {
            prev: Cell::new(None),
            next: Cell::new(None),
        }
    }

    /// The next member after this one (None at the tail).
    pub fn next(&self) -> Option<NonNull<ListLink>> {
        self.next.get()
    }

    /// The member before this one (None at the head).
    pub fn prev(&self) -> Option<NonNull<ListLink>> {
        self.prev.get()
    }

    fn clear(&self) {
        self.set(None, None);
    }

    /// Sets both neighbours (for the sibling `hash` module).
    pub(crate) fn set(&self, prev: Option<NonNull<ListLink>>, next: Option<NonNull<ListLink>>) {
        self.prev.set(prev);
        self.next.set(next);
    }
}

impl core::fmt::Debug for ListLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ListLink")
    }
}

/// # Safety
/// `l` points to a live `ListLink`.
#[inline(always)]
unsafe fn r<'a>(l: NonNull<ListLink>) -> &'a ListLink {
    // SAFETY: caller contract; links are only accessed through `&` (Cells).
    unsafe { l.as_ref() }
}

/// The list head: first, last, count.
#[derive(Default)]
pub struct List {
    head: Option<NonNull<ListLink>>,
    tail: Option<NonNull<ListLink>>,
    len: usize,
}

// SAFETY: the list holds addresses only; the memory behind them is the
// caller's, whose own `Send` discipline governs it.
unsafe impl Send for List {}

impl List {
    /// An empty list.
    pub const fn new() -> Self {
        List {
            head: None,
            tail: None,
            len: 0,
        }
    }

    /// Number of members. O(1).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// First member.
    pub fn front(&self) -> Option<NonNull<ListLink>> {
        self.head
    }

    /// Last member.
    pub fn back(&self) -> Option<NonNull<ListLink>> {
        self.tail
    }

    /// Adds `n` at the head (`list_add`).
    ///
    /// # Safety
    /// `n` is live and in no list.
    pub unsafe fn push_front(&mut self, n: NonNull<ListLink>) {
        match self.head {
            // SAFETY: `h` is a member; `n` is live (caller contract).
            Some(h) => unsafe { self.insert_before(h, n) },
            None => self.first(n),
        }
    }

    /// Adds `n` at the tail (`list_add_tail`).
    ///
    /// # Safety
    /// `n` is live and in no list.
    pub unsafe fn push_back(&mut self, n: NonNull<ListLink>) {
        match self.tail {
            // SAFETY: `t` is a member; `n` is live (caller contract).
            Some(t) => unsafe { self.insert_after(t, n) },
            None => self.first(n),
        }
    }

    fn first(&mut self, n: NonNull<ListLink>) {
        // SAFETY: callers pass a live link.
        unsafe { r(n) }.clear();
        self.head = Some(n);
        self.tail = Some(n);
        self.len = 1;
    }

    /// Adds `n` right after member `at`.
    ///
    /// # Safety
    /// `at` is a member of this list; `n` is live and in no list.
    pub unsafe fn insert_after(&mut self, at: NonNull<ListLink>, n: NonNull<ListLink>) {
        // SAFETY: caller contract: both live, `at` a member.
        unsafe {
            let next = r(at).next.get();
            r(n).prev.set(Some(at));
            r(n).next.set(next);
            r(at).next.set(Some(n));
            match next {
                Some(x) => r(x).prev.set(Some(n)),
                None => self.tail = Some(n),
            }
        }
        self.len += 1;
    }

    /// Adds `n` right before member `at`.
    ///
    /// # Safety
    /// `at` is a member of this list; `n` is live and in no list.
    pub unsafe fn insert_before(&mut self, at: NonNull<ListLink>, n: NonNull<ListLink>) {
        // SAFETY: caller contract: both live, `at` a member.
        unsafe {
            let prev = r(at).prev.get();
            r(n).next.set(Some(at));
            r(n).prev.set(prev);
            r(at).prev.set(Some(n));
            match prev {
                Some(x) => r(x).next.set(Some(n)),
                None => self.head = Some(n),
            }
        }
        self.len += 1;
    }

    /// Unlinks member `n` (`list_del`) and clears its link.
    ///
    /// # Safety
    /// `n` is a member of this list.
    pub unsafe fn remove(&mut self, n: NonNull<ListLink>) {
        // SAFETY: caller contract: `n` and its neighbours are members.
        unsafe {
            let (prev, next) = (r(n).prev.get(), r(n).next.get());
            match prev {
                Some(p) => r(p).next.set(next),
                None => self.head = next,
            }
            match next {
                Some(x) => r(x).prev.set(prev),
                None => self.tail = prev,
            }
            r(n).clear();
        }
        self.len -= 1;
    }

    /// Moves every member of `other` to the tail of this list, in O(1)
    /// (`list_splice_tail_init`); `other` is left empty.
    #[cfg(test)]
    pub fn append(&mut self, other: &mut List) {
        let Some(oh) = other.head else { return };
        match self.tail {
            Some(t) => {
                // SAFETY: `t` and `oh` are members of valid lists.
                unsafe {
                    r(t).next.set(Some(oh));
                    r(oh).prev.set(Some(t));
                }
            }
            None => self.head = Some(oh),
        }
        self.tail = other.tail;
        self.len += other.len;
        *other = List::new();
    }

    /// Iterates over the members' links, head to tail (both ways).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            front: self.head,
            back: self.tail,
            left: self.len,
            _list: core::marker::PhantomData,
        }
    }

    /// A cursor at the head (null on an empty list).
    #[cfg(test)]
    pub fn cursor(&self) -> Cursor<'_> {
        Cursor {
            list: self,
            cur: self.head,
        }
    }

    /// Checks the links: head/tail ends, prev/next symmetry, count. O(n).
    pub fn validate(&self) -> Result<(), ListError> {
        let mut prev: Option<NonNull<ListLink>> = None;
        let mut cur = self.head;
        let mut count = 0usize;
        while let Some(n) = cur {
            if count == self.len {
                return Err(ListError::Len);
            }
            // SAFETY: members are live (the insert contracts).
            let l = unsafe { r(n) };
            if l.prev.get() != prev {
                return Err(ListError::BackLink { at: count });
            }
            prev = Some(n);
            cur = l.next.get();
            count += 1;
        }
        if count != self.len {
            return Err(ListError::Len);
        }
        if self.tail != prev {
            return Err(ListError::Tail);
        }
        Ok(())
    }
}

/// A broken list invariant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListError {
    /// A member's `prev` does not point at the member before it.
    BackLink {
        /// Position of the member.
        at: usize,
    },
    /// The tail is not the last member reached from the head.
    Tail,
    /// The count differs from the members reached.
    Len,
}

impl core::fmt::Display for ListError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ListError::BackLink { at } => write!(f, "member {at}'s back link is broken"),
            ListError::Tail => f.write_str("the tail is not the last member"),
            ListError::Len => f.write_str("the count differs from the members"),
        }
    }
}

impl core::error::Error for ListError {}

/// Double-ended iterator over member links.
pub struct Iter<'a> {
    front: Option<NonNull<ListLink>>,
    back: Option<NonNull<ListLink>>,
    left: usize,
    _list: core::marker::PhantomData<&'a List>,
}

impl Iterator for Iter<'_> {
    type Item = NonNull<ListLink>;
    fn next(&mut self) -> Option<NonNull<ListLink>> {
        if self.left == 0 {
            return None;
        }
        let n = self.front?;
        self.left -= 1;
        // SAFETY: members are live while the list is borrowed.
        self.front = unsafe { r(n) }.next.get();
        Some(n)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<NonNull<ListLink>> {
        if self.left == 0 {
            return None;
        }
        let n = self.back?;
        self.left -= 1;
        // SAFETY: members are live while the list is borrowed.
        self.back = unsafe { r(n) }.prev.get();
        Some(n)
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// A position in a list (a member or null), moving both ways.
#[cfg(test)]
pub struct Cursor<'a> {
    list: &'a List,
    cur: Option<NonNull<ListLink>>,
}

#[cfg(test)]
impl Cursor<'_> {
    /// The current member's link.
    pub fn current(&self) -> Option<NonNull<ListLink>> {
        self.cur
    }

    /// To the next member (from the tail: null; from null: the head).
    pub fn move_next(&mut self) {
        self.cur = match self.cur {
            // SAFETY: members are live while the list is borrowed.
            Some(n) => unsafe { r(n) }.next.get(),
            None => self.list.head,
        };
    }

    /// To the previous member (from the head: null; from null: the tail).
    pub fn move_prev(&mut self) {
        self.cur = match self.cur {
            // SAFETY: members are live while the list is borrowed.
            Some(n) => unsafe { r(n) }.prev.get(),
            None => self.list.tail,
        };
    }
}
