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

pub use crate::allocators::Make;
use crate::allocators::{VmAlloc, CONTENDERS, PAGE, VMALLOC_START};
use crate::test_vmalloc::{self, Params, Rng, TESTS};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The contenders, made fresh for each measurement ([`CONTENDERS`]).
pub fn contenders() -> Vec<(String, Make)> {
    CONTENDERS
        .iter()
        .map(|c| (c.name.to_string(), c.make))
        .collect()
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
                run_test_mask: test_vmalloc::mask_of(idx),
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

/// The sweep as a log–log SVG plot that reads on its own: axis titles,
/// a marker per measured point, a legend with each line's sample (colour,
/// dash pattern and marker all differ, so no two contenders look alike), a
/// ✕ where a contender was cut off (its next point ran over the budget),
/// and a caption saying what was measured.
///
/// Hand-written rather than drawn with `plotters`: the output is a few
/// dozen plain elements, byte-identical from run to run (diffable in
/// review), and needs no font handling or dependency tree.
pub fn svg(rows: &[Row]) -> String {
    let (w, h) = (760.0, 520.0);
    let (left, right, top, bottom) = (70.0, 190.0, 40.0, 110.0);
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
    let (y0, y1) = (y0.floor(), y1.ceil().max(y0.floor() + 1.0));
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let sx = |x: f64| left + (lx(x) - x0) / (x1 - x0).max(1e-9) * plot_w;
    let sy = |y: f64| top + plot_h - (lx(y) - y0) / (y1 - y0).max(1e-9) * plot_h;
    // Colour-blind-safe (Okabe–Ito) colours, dash patterns and markers.
    let colours = [
        "#000000", "#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#999999",
    ];
    let dashes = ["", "6 3", "2 2", "8 3 2 3", "", "4 4", "1 3", "10 4"];
    let marker = |i: usize, x: f64, y: f64, c: &str| -> String {
        match i % 4 {
            0 => format!("<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\" fill=\"{c}\"/>"),
            1 => format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"7\" fill=\"{c}\"/>",
                x - 3.5,
                y - 3.5
            ),
            2 => format!(
                "<polygon points=\"{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{c}\"/>",
                y - 4.5,
                x - 4.0,
                y + 3.5,
                x + 4.0,
                y + 3.5
            ),
            _ => format!(
                "<polygon points=\"{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}\" fill=\"white\" stroke=\"{c}\" stroke-width=\"1.5\"/>",
                y - 4.5,
                x + 4.5,
                y + 4.5,
                x - 4.5
            ),
        }
    };
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{:.1}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">Cost of one alloc+free pair as live areas grow</text>\n\
         <rect x=\"{left}\" y=\"{top}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#888\"/>\n",
        left + plot_w / 2.0
    );
    for d in (y0 as i32)..=(y1 as i32) {
        let y = sy(10f64.powi(d));
        s += &format!(
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e4e4e4\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            left + plot_w,
            left - 6.0,
            y + 4.0,
            fmt_power(d)
        );
    }
    let lives: Vec<usize> = rows
        .iter()
        .max_by_key(|r| r.sweep.len())
        .map(|r| r.sweep.iter().map(|p| p.live).collect())
        .unwrap_or_default();
    for live in lives {
        let x = sx(live as f64);
        s += &format!(
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top}\" y2=\"{:.1}\" stroke=\"#f0f0f0\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            top + plot_h,
            top + plot_h + 16.0,
            fmt_power(live.max(1).ilog10() as i32)
        );
    }
    // Axis titles.
    s += &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">live areas (log scale)</text>\n",
        left + plot_w / 2.0,
        top + plot_h + 36.0
    );
    s += &format!(
        "<text transform=\"translate(18,{:.1}) rotate(-90)\" text-anchor=\"middle\">ns per alloc+free pair (median, log scale)</text>\n",
        top + plot_h / 2.0
    );
    let (lx0, ly0) = (left + plot_w + 16.0, top + 8.0);
    for (i, r) in rows.iter().enumerate() {
        let c = colours[i % colours.len()];
        let dash = dashes[i % dashes.len()];
        let measured: Vec<(f64, f64)> = r
            .sweep
            .iter()
            .filter_map(|p| Some((sx(p.live as f64), sy(p.ns_per_pair?))))
            .collect();
        if !measured.is_empty() {
            let line: Vec<String> = measured
                .iter()
                .map(|(x, y)| format!("{x:.1},{y:.1}"))
                .collect();
            s += &format!(
                "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\" points=\"{}\"/>\n",
                line.join(" ")
            );
            for &(x, y) in &measured {
                s += &marker(i, x, y, c);
            }
            s += "\n";
        }
        // Cut off: a point after the last measured one was not measured.
        let last = r.sweep.iter().rposition(|p| p.ns_per_pair.is_some());
        if let (Some(l), Some(&(x, y))) = (last, measured.last()) {
            if l + 1 < r.sweep.len() {
                s += &format!(
                    "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{c}\" font-size=\"14\" text-anchor=\"middle\">✕</text><text x=\"{:.1}\" y=\"{:.1}\" fill=\"{c}\" font-size=\"10\">cut off</text>\n",
                    x + 12.0,
                    y + 5.0,
                    x + 20.0,
                    y + 4.0
                );
            }
        }
        // Legend: a line sample with its marker, then the name.
        let ly = ly0 + 20.0 * i as f64;
        s += &format!(
            "<line x1=\"{lx0:.1}\" x2=\"{:.1}\" y1=\"{ly:.1}\" y2=\"{ly:.1}\" stroke=\"{c}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/>{}<text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
            lx0 + 34.0,
            marker(i, lx0 + 17.0, ly, c),
            lx0 + 42.0,
            ly + 4.0,
            r.name
        );
    }
    // Caption: what was measured.
    let caption = [
        "Each point: the median time of an alloc (1–4 pages + guard page) immediately freed again,",
        "with that many one-page areas live (every 8th freed, leaving holes), same layout for every",
        "allocator. ✕ cut off: the next point would exceed the time budget (Linux 2.4 walks every area).",
    ];
    for (k, line) in caption.iter().enumerate() {
        s += &format!(
            "<text x=\"{left}\" y=\"{:.1}\" font-size=\"11\" fill=\"#444\">{line}</text>\n",
            h - 40.0 + 14.0 * k as f64
        );
    }
    s += "</svg>\n";
    s
}

/// `10^d` as the axis labels print it.
fn fmt_power(d: i32) -> String {
    match d {
        0 => "1".into(),
        1 => "10".into(),
        2 => "100".into(),
        _ => format!("1e{d}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{svg, Point, Row};

    fn row(name: &str, ns: &[Option<f64>]) -> Row {
        Row {
            name: name.into(),
            metadata: 64,
            sweep: ns
                .iter()
                .enumerate()
                .map(|(i, &ns_per_pair)| Point {
                    live: 10usize.pow(i as u32 + 2),
                    ns_per_pair,
                    span_ratio: None,
                })
                .collect(),
            cases: Vec::new(),
        }
    }

    #[test]
    fn the_plot_reads_on_its_own() {
        let rows = [
            row("slow", &[Some(100.0), Some(1000.0), None]),
            row("fast", &[Some(50.0), Some(55.0), Some(60.0)]),
        ];
        let s = svg(&rows);
        // Axis titles, a caption, a legend entry per contender.
        assert!(s.contains("ns per alloc+free pair"));
        assert!(s.contains("live areas (log scale)"));
        assert!(s.contains("Each point:"));
        assert!(s.contains(">slow</text>") && s.contains(">fast</text>"));
        // A marker per measured point (5), plus one in each legend sample.
        let markers = s.matches("<circle").count() + s.matches("width=\"7\"").count();
        assert_eq!(markers, 5 + 2, "{s}");
        // The cut-off contender is marked, once.
        assert_eq!(s.matches(">cut off</text>").count(), 1);
        // Distinct dash patterns.
        assert!(s.contains("stroke-dasharray=\"\"") && s.contains("stroke-dasharray=\"6 3\""));
    }
}
