//! What `--json` prints, as `Serialize` types, and byte counts for people.
//!
//! Every command prints one [`Envelope`]: the schema version, the command,
//! and its results. The version changes whenever a field is renamed,
//! removed or changes meaning (adding a field does not change it).

use serde::Serialize;
use std::collections::BTreeMap;

/// Version of the JSON layout below.
pub const SCHEMA_VERSION: u32 = 1;

/// The top level of every `--json` output.
#[derive(Debug, Serialize)]
pub struct Envelope<T: Serialize> {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The subcommand that produced it.
    pub command: &'static str,
    /// The command's results.
    pub results: T,
}

impl<T: Serialize> Envelope<T> {
    /// `results` of `command`, stamped with the schema version.
    pub fn new(command: &'static str, results: T) -> Self {
        Envelope {
            schema_version: SCHEMA_VERSION,
            command,
            results,
        }
    }

    /// As one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain data serializes")
    }
}

/// One `test-vmalloc` result: a test on one worker of one allocator.
#[derive(Debug, Serialize)]
pub struct TestRun {
    /// Allocator name.
    pub allocator: String,
    /// Worker index.
    pub worker: usize,
    /// The module's test name.
    pub test: &'static str,
    /// Runs that succeeded.
    pub passed: usize,
    /// Runs that failed.
    pub failed: usize,
    /// `test_repeat_count`.
    pub repeat: usize,
    /// `test_loop_count`.
    pub loops: usize,
    /// Average µs per run.
    pub avg_usec: u64,
}

/// One point of `compare`'s sweep.
#[derive(Debug, Serialize)]
pub struct SweepPoint {
    /// Live areas.
    pub live: usize,
    /// Median ns per alloc+free pair freeing by address; null if cut off
    /// or the allocator frees by handle only.
    pub ns_per_pair: Option<f64>,
    /// Median ns per pair freeing the allocator's own way; null if cut off.
    pub ns_per_pair_own_free: Option<f64>,
    /// Span used ÷ live bytes after churn; null if cut off.
    pub span_over_live: Option<f64>,
}

/// One contender of `compare`.
#[derive(Debug, Serialize)]
pub struct Contender {
    /// Allocator name.
    pub allocator: String,
    /// What its own free takes: `address`, `handle` or `range`.
    pub own_free: &'static str,
    /// Whether it frees by address (the by-address sweep, the churn and
    /// the test_vmalloc cases ran on it).
    pub by_address: bool,
    /// Metadata bytes per live area.
    pub metadata_bytes_per_area: usize,
    /// The sweep, ascending live counts.
    pub sweep: Vec<SweepPoint>,
    /// test_vmalloc cases: µs per run, null if cut off or failed.
    pub test_vmalloc_usec: BTreeMap<String, Option<u64>>,
}

/// `info`'s summary of a vmallocinfo dump.
#[derive(Debug, Serialize)]
pub struct InfoSummary {
    /// Lines parsed.
    pub lines: usize,
    /// Lines skipped as malformed.
    pub malformed: usize,
    /// Whether the dump has real addresses (not hashed by kptr_restrict).
    pub real_addresses: bool,
    /// Used areas.
    pub used: usize,
    /// `vm_map_ram` areas.
    pub vm_map_ram: usize,
    /// `unpurged vm_area` lines.
    pub unpurged: usize,
    /// Areas that could not be placed (overlap).
    pub unplaced: usize,
    /// Bytes in used areas.
    pub used_bytes: usize,
    /// Bytes lazily freed, awaiting a purge.
    pub lazy_bytes: usize,
    /// Free bytes.
    pub free_bytes: usize,
    /// Largest free range, bytes.
    pub largest_free: usize,
    /// Free ranges.
    pub free_ranges: usize,
    /// 1 − largest free ÷ free bytes.
    pub fragmentation: f64,
    /// The replay of `--then-replay`, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<crate::trace::ReplayReport>,
}

/// `n` bytes for people: `0 B`, `4 KiB`, `1.5 MiB`, … (binary units, one
/// decimal when not whole).
pub fn human_bytes(n: usize) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut unit = 0;
    let mut scaled = n as f64;
    while scaled >= 1024.0 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else if scaled.fract() == 0.0 {
        format!("{scaled:.0} {}", UNITS[unit])
    } else {
        format!("{scaled:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(4096), "4 KiB");
        assert_eq!(human_bytes(1536 * 1024), "1.5 MiB");
        assert_eq!(human_bytes(32 << 40), "32 TiB");
        assert_eq!(human_bytes(usize::MAX), "16 EiB");
    }
}
