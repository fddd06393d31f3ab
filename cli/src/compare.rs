//! `compare`: every allocator on the same workloads, side by side.
//!
//! - **Sweep**: N live 1-page areas (2 pages with the guard) laid out from
//!   the start, every 8th freed to leave holes, then timed alloc+free pairs
//!   of 1–4 pages: ns per pair against N (log–log plot), twice: freeing by
//!   address (`vfree(addr)`; allocators that free by handle only get the
//!   same cheap [`AddrMap`](crate::allocators::AddrMap) from address to
//!   handle), and freeing the way each allocator's own API frees (by
//!   handle where it has one, [`Token`]), which
//!   is where the floor and the handle-only configurations stand.
//! - **Churn**: from that layout, [`CHURN_STEPS`] random frees and
//!   allocations of 1–16 pages keeping N live; then the span used (highest
//!   end − start) ÷ live bytes shows how well each policy packs (a short
//!   churn leaves every allocator near 1.15; a long one separates them).
//! - **test_vmalloc**: the port's cases with a small loop count.
//!
//! Allocators too slow for a size (Linux 2.4 is O(n) per call) are cut off
//! by a time budget instead of being allowed to run for hours.

pub use crate::allocators::Make;
use crate::allocators::{Contender, Token, VmAlloc, CONTENDERS, PAGE, VMALLOC_START};
use crate::test_vmalloc::{self, Params, Rng, TESTS};
use bench_table::workload::{is_hole, prefill_count};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Random steps of the churn: long enough to separate the policies' packing
/// (at 20,000 steps every allocator read about 1.15).
pub const CHURN_STEPS: usize = 1_000_000;

/// The contenders, made fresh for each measurement ([`CONTENDERS`]).
pub fn contenders() -> Vec<Contender> {
    CONTENDERS.to_vec()
}

/// One measured point.
#[derive(Debug, Clone)]
pub struct Point {
    /// Live areas.
    pub live: usize,
    /// Median ns per alloc+free pair freeing by address, or None if cut
    /// off (or the allocator cannot free by address).
    pub ns_per_pair: Option<f64>,
    /// Median ns per pair freeing the allocator's own way (its
    /// [`Token`]), or None if cut off.
    pub ns_per_pair_own: Option<f64>,
    /// Span used ÷ live bytes after churn (1.0 = perfectly packed).
    pub span_ratio: Option<f64>,
}

/// One contender's results.
#[derive(Debug, Clone)]
pub struct Row {
    /// Allocator name.
    pub name: String,
    /// What its own free takes (`address`, `handle`, `range`).
    pub own_free: &'static str,
    /// Whether it was driven by address (the first table, the churn and
    /// the test_vmalloc cases).
    pub by_address: bool,
    /// Metadata bytes per live area.
    pub metadata: usize,
    /// Sweep points, ascending live counts.
    pub sweep: Vec<Point>,
    /// test_vmalloc cases: (test, µs per run or None if cut off / failed).
    pub cases: Vec<(String, Option<u64>)>,
    /// For each case, why it has no figure (None when it has one).
    pub case_gaps: Vec<Option<NoFigure>>,
}

/// Why a test_vmalloc cell has no figure: two different marks in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoFigure {
    /// It ran over the time budget ("cut off").
    CutOff,
    /// It failed, or could not run on this contender ("n.a.").
    Failed,
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

/// How a sweep allocates and frees: by address, or through the allocator's
/// own [`Token`]s.
trait FreeWay {
    /// What the sweep holds for a live area.
    type Held;
    /// Allocates `size` bytes.
    fn alloc(a: &mut dyn VmAlloc, size: usize) -> Option<Self::Held>;
    /// Frees what [`alloc`](Self::alloc) returned.
    ///
    /// # Safety
    /// `held` came from `alloc` on this same allocator and is freed once.
    unsafe fn free(a: &mut dyn VmAlloc, held: Self::Held);
}

/// `alloc(size, 0)` / `free(addr)`.
struct ByAddress;

impl FreeWay for ByAddress {
    type Held = usize;
    fn alloc(a: &mut dyn VmAlloc, size: usize) -> Option<usize> {
        a.alloc(size, 0)
    }
    unsafe fn free(a: &mut dyn VmAlloc, addr: usize) {
        a.free(addr);
    }
}

/// `alloc_token` / `free_token`.
struct OwnFree;

impl FreeWay for OwnFree {
    type Held = Token;
    fn alloc(a: &mut dyn VmAlloc, size: usize) -> Option<Token> {
        a.alloc_token(size)
    }
    unsafe fn free(a: &mut dyn VmAlloc, token: Token) {
        // SAFETY: caller contract: `token` came from this allocator's
        // `alloc_token` and is freed once.
        unsafe { a.free_token(token) };
    }
}

/// Lays out N live 1-page areas with every 8th of the prefill freed: the
/// benches' layout (`bench_table::workload`), with a deadline check.
fn layout<W: FreeWay>(a: &mut dyn VmAlloc, n: usize, deadline: Instant) -> Option<Vec<W::Held>> {
    let total = prefill_count(n);
    let mut live = Vec::with_capacity(total);
    for i in 0..total {
        if i % 64 == 0 && Instant::now() > deadline {
            return None;
        }
        live.push(W::alloc(a, PAGE)?);
    }
    let mut kept = Vec::with_capacity(n);
    for (i, held) in live.into_iter().enumerate() {
        if is_hole(i) {
            // SAFETY: each area was allocated just above and is freed once.
            unsafe { W::free(a, held) };
        } else {
            kept.push(held);
        }
    }
    Some(kept)
}

/// Median ns per pair over batches of `pairs / 8`.
fn time_pairs<W: FreeWay>(a: &mut dyn VmAlloc, pairs: usize, deadline: Instant) -> Option<f64> {
    let mut rng = Rng::new(42);
    let batch = (pairs / 8).max(1);
    let mut samples = Vec::new();
    for _ in 0..8 {
        let t = Instant::now();
        for _ in 0..batch {
            let pages = rng.inclusive(1, 4) as usize;
            let held = W::alloc(a, pages * PAGE)?;
            // SAFETY: `held` was just allocated by `a`.
            unsafe { W::free(a, held) };
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
    for c in contenders() {
        let (name, make) = (c.name, c.make);
        let probe = make();
        let mut row = Row {
            name: name.to_string(),
            own_free: probe.own_free(),
            by_address: c.by_address,
            metadata: probe.metadata_per_area(),
            sweep: Vec::new(),
            cases: Vec::new(),
            case_gaps: Vec::new(),
        };
        drop(probe);
        // Once a measurement runs over the budget, the larger sizes are
        // not tried.
        let (mut cut, mut cut_own) = (!c.by_address, false);
        for &n in &opts.sizes {
            tick(&format!("{name}: {n} live"));
            let mut point = Point {
                live: n,
                ns_per_pair: None,
                ns_per_pair_own: None,
                span_ratio: None,
            };
            if !cut {
                let deadline = Instant::now() + opts.budget;
                let mut a = make();
                match layout::<ByAddress>(a.as_mut(), n, deadline).and_then(|kept| {
                    Some((
                        time_pairs::<ByAddress>(a.as_mut(), opts.pairs, deadline)?,
                        kept,
                    ))
                }) {
                    Some((ns, kept)) => {
                        point.ns_per_pair = Some(ns);
                        let live = kept.into_iter().map(|x| (x, 2 * PAGE)).collect();
                        // The churn has a budget of its own.
                        let deadline = Instant::now() + opts.budget;
                        point.span_ratio = churn(a.as_mut(), live, CHURN_STEPS, deadline);
                    }
                    None => cut = true,
                }
            }
            if row.own_free == "address" {
                // Its own free is the one just measured.
                point.ns_per_pair_own = point.ns_per_pair;
            } else if !cut_own {
                let deadline = Instant::now() + opts.budget;
                let mut a = make();
                point.ns_per_pair_own = layout::<OwnFree>(a.as_mut(), n, deadline)
                    .and_then(|_kept| time_pairs::<OwnFree>(a.as_mut(), opts.pairs, deadline));
                cut_own = point.ns_per_pair_own.is_none();
            }
            row.sweep.push(point);
        }
        if !c.by_address {
            rows.push(row);
            continue;
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
            let r = test_vmalloc::run(&shared, &one, &test_vmalloc::Progress::default(), &|| {});
            // A run that could not be made is a cell without a figure.
            let out = r
                .ok()
                .and_then(|r| r[0].tests[idx].clone())
                .filter(|o| o.passed > 0 || *test == "align_shift_alloc_test");
            let within = t.elapsed() <= opts.budget * 4;
            row.case_gaps.push(match (&out, within) {
                (None, _) => Some(NoFigure::Failed),
                (Some(_), false) => Some(NoFigure::CutOff),
                (Some(_), true) => None,
            });
            row.cases
                .push((test.to_string(), out.filter(|_| within).map(|o| o.avg_usec)));
        }
        rows.push(row);
    }
    rows
}

/// Which of the sweep's two measurements a plot shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// Pairs freed by address (the contenders that free by address).
    ByAddress,
    /// Pairs freed the way each allocator's own API frees (all of them).
    OwnFree,
}

impl Sweep {
    fn ns(self, p: &Point) -> Option<f64> {
        match self {
            Sweep::ByAddress => p.ns_per_pair,
            Sweep::OwnFree => p.ns_per_pair_own,
        }
    }

    /// The time plotted for row `r` at `p`: the floor, which cannot free by
    /// address, shows its by-handle time on both plots (the reference).
    fn time(self, r: &Row, p: &Point) -> Option<f64> {
        if r.name == FLOOR {
            p.ns_per_pair_own
        } else {
            self.ns(p)
        }
    }
}

/// The name of the floor's row: every sweep ratio is to its time.
pub const FLOOR: &str = "floor";

/// One sweep cell: the time and its ratio to the floor's at that size.
fn cell(ns: Option<f64>, floor: Option<f64>) -> String {
    match (ns, floor) {
        (Some(ns), Some(f)) => format!(" {ns:.0} ({:.1}×) |", ns / f),
        (Some(ns), None) => format!(" {ns:.0} |"),
        (None, _) => " cut off |".into(),
    }
}

/// The comparison as Markdown tables.
pub fn table(rows: &[Row], opts: &Options) -> String {
    let floor = rows.iter().find(|r| r.name == FLOOR);
    let floor_at = |i: usize| floor.and_then(|f| f.sweep.get(i)?.ns_per_pair_own);
    let header = |first: &str| {
        let mut h = format!("| allocator | {first} |");
        for n in &opts.sizes {
            h += &format!(" {n} |");
        }
        h
    };
    let mut out = String::from(
        "ns per alloc+free pair freeing by address (N live areas, holes every 8th); (×) = time ÷ the floor's at that N; \
         allocators that free by handle reach it through one cheap map from address to handle (counted in bytes/area)\n\n",
    );
    out += &header("bytes/area");
    out += " span/live after churn |\n|---|---|";
    out += &"---|".repeat(opts.sizes.len() + 1);
    out += "\n";
    for r in rows.iter().filter(|r| r.by_address) {
        out += &format!("| {} | {} |", r.name, r.metadata);
        for (i, p) in r.sweep.iter().enumerate() {
            out += &cell(p.ns_per_pair, floor_at(i));
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
    if let Some(f) = floor {
        // The floor cannot free by address; its by-handle times are the
        // reference the ratios above are taken against.
        out += &format!("| {FLOOR} (by handle, reference) | {} |", f.metadata);
        for (i, p) in f.sweep.iter().enumerate() {
            out += &cell(p.ns_per_pair_own, floor_at(i));
        }
        out += " – |\n";
    }
    out += "\nns per alloc+free pair, each allocator freeing the way its own API frees (same layout); (×) = time ÷ the floor's at that N\n\n";
    out += &header("frees by");
    out += "\n|---|---|";
    out += &"---|".repeat(opts.sizes.len());
    out += "\n";
    for r in rows {
        out += &format!("| {} | {} |", r.name, r.own_free);
        for (i, p) in r.sweep.iter().enumerate() {
            out += &cell(p.ns_per_pair_own, floor_at(i));
        }
        out += "\n";
    }
    out += &format!("\ntest_vmalloc cases, µs per run (loops {}); cut off = over the time budget; \
                     n.a. = the test failed or could not run on it; \
                     the contenders that free by handle only (the floor among them) cannot run them: \
                     the cases free by address and align\n\n| allocator |", opts.loops);
    for (t, _) in TESTS {
        out += &format!(" {} |", t.trim_end_matches("_test"));
    }
    out += "\n|---|";
    out += &"---|".repeat(TESTS.len());
    out += "\n";
    for r in rows.iter().filter(|r| r.by_address) {
        out += &format!("| {} |", r.name);
        for (i, (_, us)) in r.cases.iter().enumerate() {
            out += &match (us, r.case_gaps.get(i).copied().flatten()) {
                (Some(u), _) => format!(" {u} |"),
                (None, Some(NoFigure::CutOff)) => " cut off |".into(),
                (None, _) => " n.a. |".into(),
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
pub fn svg(rows: &[Row], sweep: Sweep) -> String {
    svg_stamped(rows, sweep, "")
}

/// The contenders that are not vmarea: drawn dashed, legended apart.
const BASELINES: [&str; 4] = ["linux-2.4", "offset-allocator", "range-alloc", FLOOR];

/// Whether `r` is one of vmarea's own contenders.
fn ours(r: &Row) -> bool {
    !BASELINES.contains(&r.name.as_str())
}

/// The plot's title: what it shows, from the measurements. vmarea's
/// growth from the smallest to the largest N measured, against the
/// steepest baseline's.
fn finding(rows: &[&Row], sweep: Sweep) -> String {
    let growth = |r: &&Row| -> Option<f64> {
        let pts: Vec<f64> = r.sweep.iter().filter_map(|p| sweep.time(r, p)).collect();
        Some(pts.last()? / pts.first()?)
    };
    let ours_max = rows
        .iter()
        .filter(|r| ours(r))
        .filter_map(growth)
        .fold(0.0f64, f64::max);
    let steepest = rows
        .iter()
        .filter(|r| !ours(r))
        .filter_map(|r| Some((r.name.as_str(), growth(r)?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    match steepest {
        Some((name, g)) if g > ours_max => {
            format!("vmarea grows at most {ours_max:.1}× across the sweep; {name} {g:.0}×")
        }
        _ => format!("vmarea grows at most {ours_max:.1}× across the sweep"),
    }
}

/// As [`svg`], with `stamp` (the commit and date, say) in the caption.
/// Both sweeps share one y range, so the two plots read side by side.
pub fn svg_stamped(rows: &[Row], sweep: Sweep, stamp: &str) -> String {
    let all_rows = rows;
    let mut rows: Vec<&Row> = rows
        .iter()
        .filter(|r| sweep == Sweep::OwnFree || r.by_address || r.name == FLOOR)
        .collect();
    // vmarea's lines first, then the baselines and peers (the legend's
    // two groups).
    rows.sort_by_key(|r| !ours(r));
    let (w, h) = (840.0, 520.0);
    let (left, right, top, bottom) = (70.0, 260.0, 40.0, 110.0);
    let pts: Vec<(f64, f64)> = rows
        .iter()
        .flat_map(|r| {
            r.sweep
                .iter()
                .filter_map(move |p| Some((p.live as f64, sweep.time(r, p)?)))
        })
        .collect();
    if pts.is_empty() {
        return String::from("<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
    }
    let lx = |x: f64| x.log10();
    let (x0, x1) = pts.iter().fold((f64::MAX, f64::MIN), |(a, b), p| {
        (a.min(lx(p.0)), b.max(lx(p.0)))
    });
    // One y range for both plots: every time of either sweep.
    let (y0, y1) = all_rows
        .iter()
        .flat_map(|r| r.sweep.iter())
        .flat_map(|p| [p.ns_per_pair, p.ns_per_pair_own])
        .flatten()
        .fold((f64::MAX, f64::MIN), |(a, b), y| {
            (a.min(lx(y)), b.max(lx(y)))
        });
    let (y0, y1) = (y0.floor(), y1.ceil().max(y0.floor() + 1.0));
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let sx = |x: f64| left + (lx(x) - x0) / (x1 - x0).max(1e-9) * plot_w;
    let sy = |y: f64| top + plot_h - (lx(y) - y0) / (y1 - y0).max(1e-9) * plot_h;
    // Colour-blind-safe colours (Okabe–Ito, then Tol's muted), dash
    // patterns and markers: twelve of each, so no two contenders share all
    // three.
    let colours = [
        "#000000", "#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#999999",
        "#882255", "#44AA99", "#117733", "#AA4499",
    ];
    // vmarea solid, every baseline and peer dashed (each its own pattern).
    let dashes = [
        "6 3", "2 2", "8 3 2 3", "4 4", "1 3", "10 4", "3 1", "12 2 2 2", "5 2 1 2", "2 6",
    ];
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
    let title = finding(&rows, sweep);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{:.1}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{title}</text>\n\
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
    let first_baseline = rows.iter().position(|r| !ours(r)).unwrap_or(rows.len());
    // Group headings of the legend: each group's first entry is pushed down
    // one line to make room.
    let legend_y = |i: usize| -> f64 {
        let headings = if i >= first_baseline && first_baseline > 0 {
            2
        } else {
            1
        };
        ly0 + 20.0 * (i + headings) as f64
    };
    if first_baseline > 0 {
        s += &format!(
            "<text x=\"{lx0:.1}\" y=\"{:.1}\" font-weight=\"bold\">vmarea (solid)</text>\n",
            ly0 + 4.0
        );
    }
    if first_baseline < rows.len() {
        s += &format!(
            "<text x=\"{lx0:.1}\" y=\"{:.1}\" font-weight=\"bold\">baselines and peers (dashed)</text>\n",
            legend_y(first_baseline) - 16.0
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let c = colours[i % colours.len()];
        let dash = if ours(r) {
            ""
        } else {
            dashes[(i - first_baseline) % dashes.len()]
        };
        let measured: Vec<(f64, f64)> = r
            .sweep
            .iter()
            .filter_map(|p| Some((sx(p.live as f64), sy(sweep.time(r, p)?))))
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
        let last = r.sweep.iter().rposition(|p| sweep.time(r, p).is_some());
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
        let ly = legend_y(i);
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
    let how = match sweep {
        Sweep::ByAddress => "freed by address (allocators that free by handle look it up in a map from address)",
        Sweep::OwnFree => "freed the way its own API frees (by handle where it has one; the floor: bump + exact-size stacks)",
    };
    let floor_note = match sweep {
        Sweep::ByAddress => {
            " The floor cannot free by address: its line is its by-handle time, the reference."
        }
        Sweep::OwnFree => "",
    };
    let line3 = format!(
        "allocator. ✕ cut off: the next point would exceed the time budget (Linux 2.4 walks every area).{floor_note}"
    );
    let line4 = if stamp.is_empty() {
        String::from("Both plots share one y range.")
    } else {
        format!("Both plots share one y range. Measured at {stamp}.")
    };
    let caption = [
        "Each point: the median time of an alloc (1–4 pages + guard page) immediately freed again,",
        how,
        "with that many one-page areas live (every 8th freed, leaving holes), same layout for every",
        line3.as_str(),
        line4.as_str(),
    ];
    for (k, line) in caption.iter().enumerate() {
        s += &format!(
            "<text x=\"{left}\" y=\"{:.1}\" font-size=\"11\" fill=\"#444\">{line}</text>\n",
            h - 68.0 + 14.0 * k as f64
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
    use super::{svg, svg_stamped, table, Options, Point, Row, Sweep, FLOOR};

    fn row(name: &str, by_address: bool, ns: &[Option<f64>]) -> Row {
        Row {
            name: name.into(),
            own_free: if by_address { "address" } else { "handle" },
            by_address,
            metadata: 64,
            sweep: ns
                .iter()
                .enumerate()
                .map(|(i, &ns)| Point {
                    live: 10usize.pow(i as u32 + 2),
                    ns_per_pair: ns.filter(|_| by_address),
                    ns_per_pair_own: ns,
                    span_ratio: None,
                })
                .collect(),
            cases: Vec::new(),
            case_gaps: Vec::new(),
        }
    }

    #[test]
    fn the_plot_reads_on_its_own() {
        let rows = [
            row("offset-allocator", true, &[Some(100.0), Some(1000.0), None]),
            row("FirstFit", true, &[Some(50.0), Some(55.0), Some(60.0)]),
        ];
        let s = svg(&rows, Sweep::ByAddress);
        // Axis titles, a caption, a legend entry per contender.
        assert!(s.contains("ns per alloc+free pair"));
        assert!(s.contains("live areas (log scale)"));
        assert!(s.contains("Each point:"));
        assert!(s.contains(">offset-allocator</text>") && s.contains(">FirstFit</text>"));
        // A marker per measured point (5), plus one in each legend sample.
        let markers = s.matches("<circle").count() + s.matches("width=\"7\"").count();
        assert_eq!(markers, 5 + 2, "{s}");
        // The cut-off contender is marked, once.
        assert_eq!(s.matches(">cut off</text>").count(), 1);
        // vmarea solid, the others dashed, in two legend groups; a title
        // that states the finding (FirstFit 1.2× across, the other 10×).
        assert!(s.contains("stroke-dasharray=\"\"") && s.contains("stroke-dasharray=\"6 3\""));
        assert!(
            s.contains(">vmarea (solid)</text>")
                && s.contains(">baselines and peers (dashed)</text>")
        );
        assert!(
            s.contains("vmarea grows at most 1.2× across the sweep; offset-allocator 10×"),
            "{s}"
        );
        assert!(svg_stamped(&rows, Sweep::ByAddress, "abc1234, 2026-12-04")
            .contains("Measured at abc1234, 2026-12-04."));
    }

    #[test]
    fn the_floor_is_in_the_own_free_plot_and_the_reference_of_every_table() {
        let rows = [
            row("slow", true, &[Some(100.0), Some(1000.0)]),
            row(FLOOR, false, &[Some(4.0), Some(5.0)]),
        ];
        // The floor on both plots (its by-handle time), on one y range.
        let by_addr = svg(&rows, Sweep::ByAddress);
        assert!(
            by_addr.contains(">floor</text>")
                && by_addr.contains("The floor cannot free by address")
        );
        let own = svg(&rows, Sweep::OwnFree);
        assert!(own.contains(">floor</text>") && own.contains("its own API frees"));
        let y_labels = |s: &str| s.matches("text-anchor=\"end\"").count();
        assert_eq!(y_labels(&by_addr), y_labels(&own));
        let opts = Options {
            sizes: vec![100, 1000],
            ..Options::quick()
        };
        let t = table(&rows, &opts);
        // By address: the floor's by-handle times as the reference row,
        // and ratios to them.
        assert!(
            t.contains("| floor (by handle, reference) | 64 | 4 (1.0×) | 5 (1.0×) | – |"),
            "{t}"
        );
        assert!(
            t.contains("| slow | 64 | 100 (25.0×) | 1000 (200.0×) |"),
            "{t}"
        );
        // Own free: every contender, with what its free takes.
        assert!(
            t.contains("| floor | handle | 4 (1.0×) | 5 (1.0×) |"),
            "{t}"
        );
        // test_vmalloc: the handle-only contenders have no row.
        let cases = &t[t.find("test_vmalloc cases").unwrap()..];
        assert!(!cases.contains("| floor |"), "{t}");
    }
}
