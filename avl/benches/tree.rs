//! insert / find / remove / in-order iteration of n random u64 keys, nodes
//! preallocated, side by side in one run: intrusive-avl (this crate),
//! intrusive-collections' RBTree, wavltree (weak AVL), embed-avl (an OpenZFS
//! AVL port) and std's BTreeMap (which allocates its own nodes).
//!
//! `cargo bench -p intrusive-avl --bench tree` runs all sizes (1e3, 1e5,
//! 1e6; about 15 minutes on 2 cores); with criterion's `--quick` flag only
//! 1e3 and 1e5; `AVL_BENCH_SIZES=1000,100000` picks any sizes; criterion's
//! other flags (a name filter, ...) pass through. After the run, the medians (ns
//! per element) and the ratios to intrusive-avl are printed as a Markdown
//! table and written to `target/criterion/avl-table.md`.

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::cell::UnsafeCell;
use std::collections::{BTreeMap, HashSet};
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::{Duration, Instant, SystemTime};

// ---- the five contenders, each with a node of its own -------------------

mod ours {
    use intrusive_avl::{adapter, Link};
    pub struct Node {
        pub key: u64,
        pub link: Link,
    }
    adapter!(pub A<'a> = &'a Node: Node { link } key u64 = |n| n.key);
    pub type Tree<'a> = intrusive_avl::AvlTree<A<'a>>;
}

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

mod wavl {
    use std::ptr::NonNull;
    #[derive(Default)]
    pub struct Node {
        pub key: u64,
        pub links: wavltree::Links<Node>,
    }
    // SAFETY: `links` is projected by offset without creating references;
    // handles are raw pointers into a Vec that outlives every tree.
    unsafe impl wavltree::Linked for Node {
        type Handle = NonNull<Node>;
        type Key = u64;
        fn into_ptr(h: Self::Handle) -> NonNull<Self> {
            h
        }
        unsafe fn from_ptr(p: NonNull<Self>) -> Self::Handle {
            p
        }
        unsafe fn links(p: NonNull<Self>) -> NonNull<wavltree::Links<Self>> {
            // SAFETY: the field offset stays inside the node.
            unsafe { p.byte_add(std::mem::offset_of!(Node, links)).cast() }
        }
        fn get_key(&self) -> &u64 {
            &self.key
        }
    }
    pub type Tree = wavltree::WAVLTree<Node>;
}

mod embed {
    use embed_avl::{AvlItem, AvlNode};
    use std::borrow::Borrow;
    use std::cell::UnsafeCell;
    pub struct Node {
        pub key: u64,
        pub node: UnsafeCell<AvlNode<Self, ()>>,
    }
    // SAFETY: embed-avl's documented pattern: the node sits in an UnsafeCell.
    unsafe impl AvlItem<()> for Node {
        #[allow(clippy::mut_from_ref)]
        fn get_node(&self) -> &mut AvlNode<Self, ()> {
            // SAFETY: only the tree touches the node, one operation at a time.
            unsafe { &mut *self.node.get() }
        }
    }
    impl Borrow<u64> for Node {
        fn borrow(&self) -> &u64 {
            &self.key
        }
    }
    embed_avl::impl_ord_with_borrow!(Node, u64);
    pub type Tree = embed_avl::AvlTree<*const Node, ()>;
}

// ---- workloads -----------------------------------------------------------

const PEERS: [&str; 5] = [
    "intrusive-avl",
    "intrusive-collections",
    "wavltree",
    "embed-avl",
    "BTreeMap",
];
/// `insert` is the unique insert (an equal key is refused) of every tree;
/// `insert-multi` the insert that accepts equal keys, which only
/// intrusive-avl (`insert_multi`) and intrusive-collections (`insert`)
/// offer. Keys are distinct, so both build the same tree.
const OPS: [&str; 5] = ["insert", "insert-multi", "find", "remove", "iterate"];

struct Keys {
    insert_order: Vec<u64>,
    lookup_order: Vec<u64>,
}

fn keys(n: usize) -> Keys {
    let mut rng = SmallRng::seed_from_u64(0x5eed_0000 + n as u64);
    let mut seen = HashSet::with_capacity(n);
    let mut insert_order = Vec::with_capacity(n);
    while insert_order.len() < n {
        let k: u64 = rng.random();
        if seen.insert(k) {
            insert_order.push(k);
        }
    }
    let mut lookup_order = insert_order.clone();
    lookup_order.shuffle(&mut rng);
    Keys {
        insert_order,
        lookup_order,
    }
}

/// Times `work` over `iters` fresh trees: `setup` and `teardown` untimed.
fn timed<S>(
    iters: u64,
    mut setup: impl FnMut() -> S,
    mut work: impl FnMut(&mut S),
    mut teardown: impl FnMut(S),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let mut s = setup();
        let t = Instant::now();
        work(&mut s);
        total += t.elapsed();
        teardown(s);
    }
    total
}

fn bench_ours(c: &mut Criterion, op: &str, n: usize, k: &Keys) {
    let nodes: Vec<ours::Node> = k
        .insert_order
        .iter()
        .map(|&key| ours::Node {
            key,
            link: intrusive_avl::Link::new(),
        })
        .collect();
    let build = || {
        let mut t = ours::Tree::new();
        for nd in &nodes {
            t.insert(nd).ok();
        }
        t
    };
    let mut g = c.benchmark_group(op);
    configure(&mut g, n);
    g.bench_function(BenchmarkId::new(PEERS[0], n), |b| match op {
        "insert" => b.iter_custom(|it| {
            timed(
                it,
                ours::Tree::new,
                |t| {
                    for nd in &nodes {
                        t.insert(nd).ok();
                    }
                },
                drop,
            )
        }),
        "insert-multi" => b.iter_custom(|it| {
            timed(
                it,
                ours::Tree::new,
                |t| {
                    for nd in &nodes {
                        t.insert_multi(nd).ok();
                    }
                },
                drop,
            )
        }),
        "find" => {
            let t = build();
            b.iter_custom(|it| {
                timed(
                    it,
                    || (),
                    |_| {
                        for key in &k.lookup_order {
                            black_box(t.get(key));
                        }
                    },
                    drop,
                )
            })
        }
        "remove" => b.iter_custom(|it| {
            timed(
                it,
                build,
                |t| {
                    for key in &k.lookup_order {
                        black_box(t.remove(key));
                    }
                },
                drop,
            )
        }),
        _ => {
            let t = build();
            b.iter_custom(|it| {
                timed(
                    it,
                    || (),
                    |_| {
                        black_box(t.iter().map(|n| n.key).sum::<u64>());
                    },
                    drop,
                )
            })
        }
    });
}

fn bench_ic(c: &mut Criterion, op: &str, n: usize, k: &Keys) {
    let nodes: Vec<ic::Node> = k
        .insert_order
        .iter()
        .map(|&key| ic::Node {
            key,
            link: Default::default(),
        })
        .collect();
    let build = || {
        let mut t = ic::Tree::new(ic::A::new());
        for nd in &nodes {
            t.insert(nd);
        }
        t
    };
    let mut g = c.benchmark_group(op);
    configure(&mut g, n);
    g.bench_function(BenchmarkId::new(PEERS[1], n), |b| match op {
        // The unique insert is the entry API's (a search that stops on an
        // equal key, then a link at the vacant slot).
        "insert" => b.iter_custom(|it| {
            timed(
                it,
                || ic::Tree::new(ic::A::new()),
                |t| {
                    for nd in &nodes {
                        t.entry(&nd.key).or_insert(nd);
                    }
                },
                |mut t| t.clear(),
            )
        }),
        "insert-multi" => b.iter_custom(|it| {
            timed(
                it,
                || ic::Tree::new(ic::A::new()),
                |t| {
                    for nd in &nodes {
                        t.insert(nd);
                    }
                },
                |mut t| t.clear(),
            )
        }),
        "find" => {
            let t = build();
            b.iter_custom(|it| {
                timed(
                    it,
                    || (),
                    |_| {
                        for key in &k.lookup_order {
                            black_box(t.find(key).get());
                        }
                    },
                    drop,
                )
            })
        }
        "remove" => b.iter_custom(|it| {
            timed(
                it,
                build,
                |t| {
                    for key in &k.lookup_order {
                        black_box(t.find_mut(key).remove());
                    }
                },
                |mut t| t.clear(),
            )
        }),
        _ => {
            let t = build();
            b.iter_custom(|it| {
                timed(
                    it,
                    || (),
                    |_| {
                        black_box(t.iter().map(|n| n.key).sum::<u64>());
                    },
                    drop,
                )
            })
        }
    });
}

fn bench_wavl(c: &mut Criterion, op: &str, n: usize, k: &Keys) {
    let nodes: Vec<UnsafeCell<wavl::Node>> = k
        .insert_order
        .iter()
        .map(|&key| {
            UnsafeCell::new(wavl::Node {
                key,
                ..Default::default()
            })
        })
        .collect();
    // SAFETY: the nodes outlive every tree; wavltree only reaches them through
    // these pointers, derived from UnsafeCell so writes through them are allowed.
    let ptr = |i: usize| unsafe { NonNull::new_unchecked(nodes[i].get()) };
    let build = || {
        let mut t = wavl::Tree::new();
        for i in 0..nodes.len() {
            t.insert(ptr(i));
        }
        t
    };
    let mut g = c.benchmark_group(op);
    configure(&mut g, n);
    g.bench_function(BenchmarkId::new(PEERS[2], n), |b| match op {
        "insert" => b.iter_custom(|it| {
            timed(
                it,
                wavl::Tree::new,
                |t| {
                    for i in 0..nodes.len() {
                        t.insert(ptr(i));
                    }
                },
                |mut t| t.clear(),
            )
        }),
        "find" => {
            let t = build();
            b.iter_custom(|it| {
                timed(
                    it,
                    || (),
                    |_| {
                        for key in &k.lookup_order {
                            black_box(t.find(key).get());
                        }
                    },
                    drop,
                )
            })
        }
        "remove" => b.iter_custom(|it| {
            timed(
                it,
                build,
                |t| {
                    for key in &k.lookup_order {
                        black_box(t.remove(key));
                    }
                },
                |mut t| t.clear(),
            )
        }),
        _ => {
            let t = build();
            b.iter_custom(|it| {
                timed(
                    it,
                    || (),
                    |_| {
                        black_box(t.iter().map(|n| n.key).sum::<u64>());
                    },
                    drop,
                )
            })
        }
    });
}

fn bench_embed(c: &mut Criterion, op: &str, n: usize, k: &Keys) {
    let nodes: Vec<embed::Node> = k
        .insert_order
        .iter()
        .map(|&key| embed::Node {
            key,
            node: UnsafeCell::new(Default::default()),
        })
        .collect();
    let build = || {
        let mut t = embed::Tree::new();
        for nd in &nodes {
            t.add(nd as *const embed::Node).ok();
        }
        t
    };
    // embed-avl's Drop walks the tree; clear by draining instead so node
    // links are reset for the next build.
    let clear = |t: embed::Tree| {
        for p in t {
            black_box(p);
        }
    };
    let mut g = c.benchmark_group(op);
    configure(&mut g, n);
    g.bench_function(BenchmarkId::new(PEERS[3], n), |b| match op {
        "insert" => b.iter_custom(|it| {
            timed(
                it,
                embed::Tree::new,
                |t| {
                    for nd in &nodes {
                        t.add(nd as *const embed::Node).ok();
                    }
                },
                clear,
            )
        }),
        "find" => {
            let t = build();
            b.iter_custom(|it| {
                timed(
                    it,
                    || (),
                    |_| {
                        for key in &k.lookup_order {
                            black_box(t.get(key).is_some());
                        }
                    },
                    drop,
                )
            });
            clear(t);
        }
        "remove" => b.iter_custom(|it| {
            timed(
                it,
                build,
                |t| {
                    for key in &k.lookup_order {
                        black_box(t.remove_by_key(key));
                    }
                },
                clear,
            )
        }),
        _ => {
            let t = build();
            b.iter_custom(|it| {
                timed(
                    it,
                    || (),
                    |_| {
                        black_box(t.iter().map(|n| n.key).sum::<u64>());
                    },
                    drop,
                )
            });
            clear(t);
        }
    });
}

fn bench_btree(c: &mut Criterion, op: &str, n: usize, k: &Keys) {
    let build = || {
        k.insert_order
            .iter()
            .map(|&key| (key, key))
            .collect::<BTreeMap<u64, u64>>()
    };
    let mut g = c.benchmark_group(op);
    configure(&mut g, n);
    g.bench_function(BenchmarkId::new(PEERS[4], n), |b| match op {
        "insert" => b.iter_custom(|it| {
            timed(
                it,
                BTreeMap::new,
                |t| {
                    for &key in &k.insert_order {
                        t.insert(key, key);
                    }
                },
                drop,
            )
        }),
        "find" => {
            let t = build();
            b.iter_custom(|it| {
                timed(
                    it,
                    || (),
                    |_| {
                        for key in &k.lookup_order {
                            black_box(t.get(key));
                        }
                    },
                    drop,
                )
            })
        }
        "remove" => b.iter_custom(|it| {
            timed(
                it,
                build,
                |t| {
                    for key in &k.lookup_order {
                        black_box(t.remove(key));
                    }
                },
                drop,
            )
        }),
        _ => {
            let t = build();
            b.iter_custom(|it| {
                timed(
                    it,
                    || (),
                    |_| {
                        black_box(t.keys().sum::<u64>());
                    },
                    drop,
                )
            })
        }
    });
}

fn configure(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, n: usize) {
    g.throughput(Throughput::Elements(n as u64));
    // Flat sampling: every sample runs the same number of whole-tree
    // iterations, so 1e6-node runs stay within seconds.
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(if n >= 1_000_000 {
        10
    } else if n >= 100_000 {
        20
    } else {
        50
    });
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(if n >= 1_000_000 { 4 } else { 2 }));
}

// ---- the table ----------------------------------------------------------

use bench_table as criterion_table;

fn table(sizes: &[usize], since: SystemTime) -> String {
    let rows: Vec<(&str, usize)> = OPS
        .iter()
        .flat_map(|&op| sizes.iter().map(move |&n| (op, n)))
        .collect();
    let mut t = criterion_table::markdown(
        &PEERS,
        &rows,
        since,
        |t, n| t / n as f64,
        |t, b| format!("{:.2}×", t / b),
    );
    t += "\nMedian ns per element; (×) = peer time / intrusive-avl time (above 1: intrusive-avl is faster).\n";
    t
}

fn main() {
    let home = criterion_table::home();
    let sizes: Vec<usize> = std::env::var("AVL_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| {
            // Quick mode (the README's main job) stops at 1e5 to finish in
            // about a minute; a full run includes 1e6.
            if std::env::args().any(|a| a == "--quick") {
                vec![1_000, 100_000]
            } else {
                vec![1_000, 100_000, 1_000_000]
            }
        });
    let start = SystemTime::now();
    let mut c = Criterion::default().configure_from_args();
    for &n in &sizes {
        let k = keys(n);
        // Interleave the contenders per (op, n) so drift hits all alike.
        for op in OPS {
            bench_ours(&mut c, op, n, &k);
            bench_ic(&mut c, op, n, &k);
            if op == "insert-multi" {
                continue;
            }
            bench_wavl(&mut c, op, n, &k);
            bench_embed(&mut c, op, n, &k);
            bench_btree(&mut c, op, n, &k);
        }
    }
    c.final_summary();
    let t = table(&sizes, start);
    println!("\n{t}");
    let _ = std::fs::write(home.join("avl-table.md"), &t);
}
