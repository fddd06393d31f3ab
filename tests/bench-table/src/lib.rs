//! Support for the workspace's criterion benches (a dev-dependency of
//! `intrusive-avl`, `vmarea` and `vmarea-cli`; it depends on none of them):
//! where criterion writes its estimates, and a Markdown table of the
//! medians of this run with ratios to the first contender.

pub mod workload;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Criterion's output directory, fixed to `<workspace>/target/criterion`
/// (unless `CRITERION_HOME` says otherwise) so the table can find it.
pub fn home() -> PathBuf {
    let home = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/criterion"));
    // Not `unsafe` in edition 2021; called first thing, single-threaded.
    std::env::set_var("CRITERION_HOME", &home);
    let _ = std::fs::create_dir_all(&home);
    home
}

/// Median (ns per iteration) of `group/id/param` if written since `since`.
pub fn median_ns(group: &str, id: &str, param: usize, since: SystemTime) -> Option<f64> {
    let path = home()
        .join(group)
        .join(id)
        .join(param.to_string())
        .join("new/estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let json = std::fs::read_to_string(path).ok()?;
    let median = &json[json.find("\"median\"")?..];
    let v = &median[median.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    v[..v.find([',', '}'])?].trim().parse().ok()
}

/// One row per `(group, param)`, one column per contender: `scale(median,
/// param)` and, for all but the first contender, `ratio(median, first's
/// median)` in parentheses.
pub fn markdown(
    contenders: &[&str],
    rows: &[(&str, usize)],
    since: SystemTime,
    scale: impl Fn(f64, usize) -> f64,
    ratio: impl Fn(f64, f64) -> String,
) -> String {
    let mut out = String::from("| op | n |");
    for c in contenders {
        out += &format!(" {c} |");
    }
    out += "\n|---|---|";
    out += &"---|".repeat(contenders.len());
    out += "\n";
    for &(group, n) in rows {
        let base = median_ns(group, contenders[0], n, since);
        let mut row = format!("| {group} | {n} |");
        let mut any = false;
        for (i, c) in contenders.iter().enumerate() {
            match median_ns(group, c, n, since) {
                Some(t) => {
                    any = true;
                    let v = scale(t, n);
                    let cell = if v >= 100.0 {
                        format!("{v:.0}")
                    } else {
                        format!("{v:.1}")
                    };
                    match base {
                        Some(b) if i > 0 => row += &format!(" {cell} ({}) |", ratio(t, b)),
                        _ => row += &format!(" {cell} |"),
                    }
                }
                None => row += " – |",
            }
        }
        if any {
            out += &row;
            out += "\n";
        }
    }
    out
}
