//! `compare`: every allocator on the same workloads, side by side.
//!
//! - **Sweep**: N live 1-page areas (2 pages with the guard) laid out from
//!   the start, every 8th freed to leave holes, then timed alloc+free pairs
//!   of 1–4 pages: ns per pair against N (log–log plot).
//! - **Churn**: from that layout, random frees and allocations of 1–16 pages
//!   keeping N live; then the span used (highest end − start) ÷ live bytes
//!   shows how well each policy packs.
//! - **test_vmalloc**: the port's cases with a small loop count.
//!
//! Allocators too slow for a size (Linux 2.4 is O(n) per call) are cut off
//! by a time budget instead of being allowed to run for hours.

use crate::allocators::{
    Linux24, OffsetAlloc, RangeAlloc, VmAlloc, VmArea, PAGE, POLICIES, VMALLOC_SIZE, VMALLOC_START,
};
use crate::test_vmalloc::{self, Params, Rng, TESTS};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Makes a fresh allocator.
pub type Make = fn() -> Box<dyn VmAlloc + Send>;

/// The contenders, made fresh for each measurement.
pub fn contenders() -> Vec<(String, Make)> {
    fn rfc() -> Box<dyn VmAlloc + Send> {
        Box::new(VmArea::new(POLICIES[0]))
    }
    fn ff() -> Box<dyn VmAlloc + Send> {
        Box::new(VmArea::new(POLICIES[1]))
    }
    fn inst() -> Box<dyn VmAlloc + Send> {
        Box::new(VmArea::new(POLICIES[2]))
    }
    fn best() -> Box<dyn VmAlloc + Send> {
        Box::new(VmArea::new(POLICIES[3]))
    }
    fn l24() -> Box<dyn VmAlloc + Send> {
        Box::new(Linux24::new())
    }
    fn off() -> Box<dyn VmAlloc + Send> {
        Box::new(OffsetAlloc::new(
            (VMALLOC_SIZE / PAGE).min(1 << 31) as u32,
            (1 << 23) - 2,
        ))
    }
    fn range() -> Box<dyn VmAlloc + Send> {
        Box::new(RangeAlloc::new(VMALLOC_SIZE / PAGE))
    }
    let list: [(&str, Make); 7] = [
        ("linux-2.4", l24),
        ("Rfc", rfc),
        ("FirstFit", ff),
        ("InstantFit", inst),
        ("BestFit", best),
        ("offset-allocator", off),
        ("range-alloc", range),
    ];
    list.iter().map(|&(n, f)| (n.to_string(), f)).collect()
}

/// One measured point.
#[derive(Debug, Clone)]
pub struct Point {
    /// Live areas.
    pub live: usize,
    /// Median ns per alloc+free pair, or None if cut off.
    pub ns_per_pair: Option<f64>,
    /// Span used ÷ live bytes after churn (1.0 = perfectly packed).
    pub span_ratio: Option<f64>,
}

/// One contender's results.
#[derive(Debug, Clone)]
pub struct Row {
    /// Allocator name.
    pub name: String,
    /// Metadata bytes per live area.
    pub metadata: usize,
    /// Sweep points, ascending live counts.
    pub sweep: Vec<Point>,
    /// test_vmalloc cases: (test, µs per run or None if cut off / failed).
    pub cases: Vec<(String, Option<u64>)>,
}

/// Options of a comparison.
#[derive(Debug, Clone)]
pub struct Options {
    /// Live-area counts of the sweep.
    pub sizes: Vec<usize>,
    /// Pairs timed per point.
    pub pairs: usize,
    /// test_vmalloc loop count.
    pub loops: usize,
    /// Wall-time budget per measurement; slower contenders are cut off.
    pub budget: Duration,
}

impl Options {
    /// Defaults that finish in well under a minute on two cores.
    pub fn quick() -> Self {
        Options {
            sizes: vec![100, 1_000, 10_000, 100_000],
            pairs: 20_000,
            loops: 10_000,
            budget: Duration::from_secs(2),
        }
    }

    /// The full sweep up to 1e6 live areas and the module's loop count / 10.
    pub fn full() -> Self {
        Options {
            sizes: vec![100, 1_000, 10_000, 100_000, 1_000_000],
            pairs: 100_000,
            loops: 100_000,
            budget: Duration::from_secs(10),
        }
    }
}

/// Lays out N live 1-page areas with every 8th of the prefill freed.
fn layout(a: &mut dyn VmAlloc, n: usize, deadline: Instant) -> Option<Vec<usize>> {
    let total = n + n / 8;
    let mut live = Vec::with_capacity(n);
    for i in 0..total {
        if i % 64 == 0 && Instant::now() > deadline {
            return None;
        }
        let addr = a.alloc(PAGE, 0)?;
        live.push(addr);
    }
    let mut kept = Vec::with_capacity(n);
    for (i, addr) in live.into_iter().enumerate() {
        if i % 8 == 7 {
            a.free(addr);
        } else {
            kept.push(addr);
        }
    }
    Some(kept)
}

/// Median ns per pair over batches of `pairs / 8`.
fn time_pairs(a: &mut dyn VmAlloc, pairs: usize, deadline: Instant) -> Option<f64> {
    let mut rng = Rng::new(42);
    let batch = (pairs / 8).max(1);
    let mut samples = Vec::new();
    for _ in 0..8 {
        let t = Instant::now();
        for _ in 0..batch {
            let pages = rng.inclusive(1, 4) as usize;
            let addr = a.alloc(pages * PAGE, 0)?;
            a.free(addr);
        }
        samples.push(t.elapsed().as_nanos() as f64 / batch as f64);
        if Instant::now() > deadline {
            break;
        }
    }
    samples.sort_by(f64::total_cmp);
    Some(samples[samples.len() / 2])
}

/// Random churn keeping `live` areas; returns span used ÷ live bytes.
fn churn(
    a: &mut dyn VmAlloc,
    mut live: Vec<(usize, usize)>,
    steps: usize,
    deadline: Instant,
) -> Option<f64> {
    let mut rng = Rng::new(7);
    for s in 0..steps {
        if s % 256 == 0 && Instant::now() > deadline {
            return None;
        }
        let i = (rng.next_u64() % live.len() as u64) as usize;
        let (addr, _) = live.swap_remove(i);
        a.free(addr);
        let pages = rng.inclusive(1, 16) as usize;
        let addr = a.alloc(pages * PAGE, 0)?;
        live.push((addr, (pages + 1) * PAGE));
    }
    let live_bytes: usize = live.iter().map(|x| x.1).sum();
    let top = live.iter().map(|x| x.0 + x.1).max()?;
    Some((top - VMALLOC_START) as f64 / live_bytes as f64)
}

/// Runs the comparison; `tick` is called after each measurement.
pub fn run(opts: &Options, tick: &(dyn Fn(&str) + Sync)) -> Vec<Row> {
    let mut rows = Vec::new();
    for (name, make) in contenders() {
        let mut row = Row {
            name: name.clone(),
            metadata: make().metadata_per_area(),
            sweep: Vec::new(),
            cases: Vec::new(),
        };
        let mut cut = false;
        for &n in &opts.sizes {
            tick(&format!("{name}: {n} live"));
            if cut {
                row.sweep.push(Point {
                    live: n,
                    ns_per_pair: None,
                    span_ratio: None,
                });
                continue;
            }
            let deadline = Instant::now() + opts.budget;
            let mut a = make();
            let point = layout(a.as_mut(), n, deadline).and_then(|kept| {
                let ns = time_pairs(a.as_mut(), opts.pairs, deadline)?;
                let live = kept.into_iter().map(|x| (x, 2 * PAGE)).collect();
                let span = churn(a.as_mut(), live, n.min(20_000), deadline);
                Some(Point {
                    live: n,
                    ns_per_pair: Some(ns),
                    span_ratio: span,
                })
            });
            match point {
                Some(p) => row.sweep.push(p),
                None => {
                    cut = true;
                    row.sweep.push(Point {
                        live: n,
                        ns_per_pair: None,
                        span_ratio: None,
                    });
                }
            }
        }
        let p = Params {
            test_loop_count: opts.loops,
            sequential_test_order: true,
            ..Params::default()
        };
        for (idx, (test, _)) in TESTS.iter().enumerate() {
            tick(&format!("{name}: {test}"));
            let one = Params {
                run_test_mask: 1 << idx,
                ..p.clone()
            };
            let shared = Mutex::new(make());
            let t = Instant::now();
            let r = test_vmalloc::run(&shared, &one, &|| {});
            let out = r[0].tests[idx]
                .as_ref()
                .filter(|o| o.passed > 0 || *test == "align_shift_alloc_test");
            let within = t.elapsed() <= opts.budget * 4;
            row.cases
                .push((test.to_string(), out.filter(|_| within).map(|o| o.avg_usec)));
        }
        rows.push(row);
    }
    rows
}

/// The comparison as a Markdown table.
pub fn table(rows: &[Row], opts: &Options) -> String {
    let mut out = String::from("ns per alloc+free pair (N live areas, holes every 8th); (×) = time ÷ fastest\n\n| allocator | bytes/area |");
    for n in &opts.sizes {
        out += &format!(" {n} |");
    }
    out += " span/live after churn |\n|---|---|";
    out += &"---|".repeat(opts.sizes.len() + 1);
    out += "\n";
    for r in rows {
        out += &format!("| {} | {} |", r.name, r.metadata);
        for (i, p) in r.sweep.iter().enumerate() {
            let best = rows
                .iter()
                .filter_map(|x| x.sweep.get(i)?.ns_per_pair)
                .fold(f64::INFINITY, f64::min);
            match p.ns_per_pair {
                Some(ns) => out += &format!(" {ns:.0} ({:.1}×) |", ns / best),
                None => out += " cut off |",
            }
        }
        let span = r
            .sweep
            .iter()
            .rev()
            .find_map(|p| p.span_ratio.map(|s| (p.live, s)));
        out += &match span {
            Some((n, s)) => format!(" {s:.2} (at {n}) |\n"),
            None => " – |\n".into(),
        };
    }
    out += &format!("\ntest_vmalloc cases, µs per run (loops {}); cut off = over the time budget\n\n| allocator |", opts.loops);
    for (t, _) in TESTS {
        out += &format!(" {} |", t.trim_end_matches("_test"));
    }
    out += "\n|---|";
    out += &"---|".repeat(TESTS.len());
    out += "\n";
    for r in rows {
        out += &format!("| {} |", r.name);
        for (_, us) in &r.cases {
            out += &match us {
                Some(u) => format!(" {u} |"),
                None => " cut off / n.a. |".into(),
            };
        }
        out += "\n";
    }
    out
}

/// Log–log plot of ns per pair against live areas, one line per allocator.
pub fn svg(rows: &[Row]) -> String {
    let (w, h, m) = (720.0, 440.0, 60.0);
    let pts: Vec<(f64, f64)> = rows
        .iter()
        .flat_map(|r| {
            r.sweep
                .iter()
                .filter_map(|p| Some((p.live as f64, p.ns_per_pair?)))
        })
        .collect();
    if pts.is_empty() {
        return String::from("<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
    }
    let lx = |x: f64| x.log10();
    let (x0, x1) = pts.iter().fold((f64::MAX, f64::MIN), |(a, b), p| {
        (a.min(lx(p.0)), b.max(lx(p.0)))
    });
    let (y0, y1) = pts.iter().fold((f64::MAX, f64::MIN), |(a, b), p| {
        (a.min(lx(p.1)), b.max(lx(p.1)))
    });
    let (y0, y1) = (y0.floor(), y1.ceil());
    let sx = |x: f64| m + (lx(x) - x0) / (x1 - x0).max(1e-9) * (w - 2.0 * m);
    let sy = |y: f64| h - m - (lx(y) - y0) / (y1 - y0).max(1e-9) * (h - 2.0 * m);
    let colours = [
        "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#ff7f0e", "#7f7f7f",
    ];
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">ns per alloc+free pair vs live areas (log–log)</text>\n",
        w / 2.0
    );
    for d in (y0 as i32)..=(y1 as i32) {
        let y = sy(10f64.powi(d));
        s += &format!("<line x1=\"{m}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">1e{d}</text>\n", w - m, m - 6.0, y + 4.0);
    }
    for r in rows.first().map(|r| r.sweep.as_slice()).unwrap_or(&[]) {
        let x = sx(r.live as f64);
        s += &format!(
            "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            h - m + 18.0,
            r.live
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let c = colours[i % colours.len()];
        let line: Vec<String> = r
            .sweep
            .iter()
            .filter_map(|p| {
                Some(format!(
                    "{:.1},{:.1}",
                    sx(p.live as f64),
                    sy(p.ns_per_pair?)
                ))
            })
            .collect();
        if !line.is_empty() {
            s += &format!(
                "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>\n",
                line.join(" ")
            );
        }
        s += &format!(
            "<text x=\"{}\" y=\"{}\" fill=\"{c}\">{}</text>\n",
            m + 10.0,
            40.0 + 16.0 * i as f64,
            r.name
        );
    }
    s += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">live areas</text>\n</svg>\n",
        w / 2.0,
        h - 12.0
    );
    s
}
