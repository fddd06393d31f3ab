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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_the_last_freed_of_a_size_then_bumps_then_runs_out() {
        let mut f = Floor::new(6, 3);
        let a = f.alloc(2).unwrap();
        let b = f.alloc(3).unwrap();
        assert_eq!((a.page, b.page), (0, 2));
        f.free(a);
        assert_eq!(f.alloc(2).unwrap().page, 0);
        assert!(f.alloc(2).is_none(), "one page left");
        assert!(f.alloc(4).is_none(), "no stack for 4 pages");
        assert_eq!(f.alloc(1).unwrap().page, 5);
    }
}
