//! Profiling aid: builds and clears a tree of `n` random keys `rounds`
//! times, with one insert form per run:
//!
//! | form | tree | insert |
//! |---|---|---|
//! | `avl` | intrusive-avl | `insert` (unique: refuses an equal key) |
//! | `avl-multi` | intrusive-avl | `insert_multi` (equal keys allowed) |
//! | `ic-entry` | intrusive-collections `RBTree` | `entry(key).or_insert` (unique) |
//! | `ic` | intrusive-collections `RBTree` | `insert` (equal keys allowed) |
//!
//! Only the insert loops are meant to be counted:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='insert_profile::inserts_*' \
//!     target/release/examples/insert_profile 1000 200 avl
//! ```
//!
//! instructions per insert = collected Ir ÷ (n × rounds). Teardown runs
//! outside the collected functions.
use intrusive_avl::{adapter, AvlTree, Link};
use std::hint::black_box;

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
    pub type Tree<'a> = intrusive_collections::RBTree<A<'a>>;
}

#[inline(never)]
fn inserts_avl<'a>(t: &mut AvlTree<A<'a>>, nodes: &'a [Node]) {
    for nd in nodes {
        black_box(t.insert(nd).is_ok());
    }
}

#[inline(never)]
fn inserts_avl_multi<'a>(t: &mut AvlTree<A<'a>>, nodes: &'a [Node]) {
    for nd in nodes {
        black_box(t.insert_multi(nd).is_ok());
    }
}

#[inline(never)]
fn inserts_ic<'a>(t: &mut ic::Tree<'a>, nodes: &'a [ic::Node]) {
    for nd in nodes {
        black_box(t.insert(nd).is_null());
    }
}

#[inline(never)]
fn inserts_ic_entry<'a>(t: &mut ic::Tree<'a>, nodes: &'a [ic::Node]) {
    for nd in nodes {
        black_box(t.entry(&nd.key).or_insert(nd).is_null());
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let form = args.next().unwrap_or_else(|| "avl".into());
    let mut x = 0x9e3779b97f4a7c15u64;
    let keys: Vec<u64> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })
        .collect();
    let mut linked = 0;
    match form.as_str() {
        "avl" | "avl-multi" => {
            let nodes: Vec<Node> = keys
                .iter()
                .map(|&key| Node {
                    key,
                    link: Link::new(),
                })
                .collect();
            for _ in 0..rounds {
                let mut t = AvlTree::<A>::new();
                if form == "avl" {
                    inserts_avl(&mut t, &nodes);
                } else {
                    inserts_avl_multi(&mut t, &nodes);
                }
                linked += t.len();
            }
        }
        "ic" | "ic-entry" => {
            let nodes: Vec<ic::Node> = keys
                .iter()
                .map(|&key| ic::Node {
                    key,
                    link: Default::default(),
                })
                .collect();
            for _ in 0..rounds {
                let mut t = ic::Tree::new(ic::A::new());
                if form == "ic" {
                    inserts_ic(&mut t, &nodes);
                } else {
                    inserts_ic_entry(&mut t, &nodes);
                }
                linked += t.iter().count();
                t.clear();
            }
        }
        other => {
            eprintln!("unknown form {other}: avl, avl-multi, ic or ic-entry");
            std::process::exit(2);
        }
    }
    println!("{linked}");
}
