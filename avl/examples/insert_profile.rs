//! Profiling aid: builds and clears a tree of n random keys `rounds` times.
//! `valgrind --tool=callgrind target/release/examples/insert_profile` counts
//! instructions per insert, stable on noisy machines.
use intrusive_avl::{adapter, AvlTree, Link};

struct Node {
    key: u64,
    link: Link,
}
adapter!(A<'a> = &'a Node: Node { link } key u64 = |n| n.key);

mod ic {
    use intrusive_collections::{intrusive_adapter, KeyAdapter, RBTreeLink};
    pub struct Node {
        pub key: u64,
        pub link: RBTreeLink,
    }
    intrusive_adapter!(pub A<'a> = &'a Node: Node { link => RBTreeLink });
    impl<'b> KeyAdapter<'b> for A<'_> {
        type Key = u64;
        fn get_key(&self, n: &'b Node) -> u64 {
            n.key
        }
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let mut x = 0x9e3779b97f4a7c15u64;
    let nodes: Vec<Node> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Node {
                key: x,
                link: Link::new(),
            }
        })
        .collect();
    let mut sum = 0;
    if std::env::args().nth(3).as_deref() == Some("ic") {
        let nodes: Vec<ic::Node> = nodes
            .iter()
            .map(|n| ic::Node {
                key: n.key,
                link: Default::default(),
            })
            .collect();
        for _ in 0..rounds {
            let mut t = intrusive_collections::RBTree::new(ic::A::new());
            for nd in &nodes {
                t.insert(nd);
            }
            sum += t.iter().count();
            t.clear();
        }
        println!("{sum}");
        return;
    }
    for _ in 0..rounds {
        let mut t = AvlTree::<A>::new();
        for nd in &nodes {
            let _ = t.insert(nd);
        }
        sum += t.height();
    }
    println!("{sum}");
}
