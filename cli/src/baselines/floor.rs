//! The floor for an alloc+free pair: a bump pointer and exact-size free
//! lists (a stack per size in pages), freed by handle, with no address
//! index, no merging, no alignment and no validation. No real allocator
//! can be this cheap (it never gives memory back to other sizes); issue 10
//! asks every table to state the distance to it.

/// A bump region with one free stack per size in pages.
pub struct Floor {
    next: usize,
    end: usize,
    free: Vec<Vec<usize>>,
}

/// What [`Floor::alloc`] hands out and [`Floor::free`] takes back.
#[derive(Debug, Clone, Copy)]
pub struct FloorArea {
    /// First page.
    pub page: usize,
    /// Pages.
    pub pages: usize,
}

impl Floor {
    /// Pages `[0, pages)`, sizes up to `max_pages`.
    pub fn new(pages: usize, max_pages: usize) -> Self {
        Floor {
            next: 0,
            end: pages,
            free: (0..=max_pages).map(|_| Vec::with_capacity(64)).collect(),
        }
    }

    /// `pages` pages (1 … `max_pages`): the last freed of that size, else
    /// the next pages of the bump region.
    #[inline]
    pub fn alloc(&mut self, pages: usize) -> Option<FloorArea> {
        if let Some(page) = self.free.get_mut(pages)?.pop() {
            return Some(FloorArea { page, pages });
        }
        let page = self.next;
        (page + pages <= self.end).then(|| {
            self.next += pages;
            FloorArea { page, pages }
        })
    }

    /// Gives `a` back to its size's stack.
    #[inline]
    pub fn free(&mut self, a: FloorArea) {
        self.free[a.pages].push(a.page);
    }
}
