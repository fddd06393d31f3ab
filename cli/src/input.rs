//! Text inputs (traces, vmallocinfo dumps) read line by line in bounded
//! memory: a file or standard input (`-`), lines of at most [`MAX_LINE`]
//! bytes, and of the malformed lines only a count and the first
//! [`KEPT_BAD`].

use std::io::{BufRead, Read};

/// The longest line read, in bytes (a tracefs or vmallocinfo line is a few
/// hundred); a longer one ends the read with [`InputError::LineTooLong`].
pub const MAX_LINE: usize = 64 * 1024;

/// Malformed lines kept with their reason; the rest are only counted.
pub const KEPT_BAD: usize = 10;

/// A line that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// The malformed lines of an input: how many, and the first few.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Malformed {
    /// Malformed lines in all.
    pub count: usize,
    /// The first ones (at most the keep limit the parse was given).
    pub first: Vec<BadLine>,
}

/// What a parse of lines collects: the items with their line numbers, and
/// the malformed lines.
#[derive(Debug)]
pub struct Collected<T> {
    /// Each parsed item with its 1-based line number.
    pub items: Vec<(usize, T)>,
    /// The malformed lines.
    pub bad: Malformed,
    keep: usize,
}

impl<T> Collected<T> {
    /// Nothing yet; keeps up to `keep` malformed lines.
    pub fn new(keep: usize) -> Self {
        Collected {
            items: Vec::new(),
            bad: Malformed::default(),
            keep,
        }
    }

    /// Adds line `line`'s parse: an item, nothing (a line of no interest),
    /// or why it is malformed.
    pub fn add(&mut self, line: usize, parsed: Result<Option<T>, String>) {
        match parsed {
            Ok(Some(x)) => self.items.push((line, x)),
            Ok(None) => {}
            Err(reason) => {
                self.bad.count += 1;
                if self.bad.first.len() < self.keep {
                    self.bad.first.push(BadLine { line, reason });
                }
            }
        }
    }
}

/// Why an input could not be read to its end.
#[derive(Debug)]
pub enum InputError {
    /// Reading failed.
    Io(std::io::Error),
    /// Line `line` is longer than [`MAX_LINE`] bytes.
    LineTooLong {
        /// Its 1-based number.
        line: usize,
    },
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Io(e) => write!(f, "{e}"),
            InputError::LineTooLong { line } => write!(
                f,
                "{line}: line longer than {MAX_LINE} bytes: not a text trace or dump"
            ),
        }
    }
}

impl std::error::Error for InputError {}

/// The file at `path`, or standard input for `-`, buffered.
pub fn open(path: &std::path::Path) -> std::io::Result<Box<dyn BufRead>> {
    if path == std::path::Path::new("-") {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    Ok(Box::new(std::io::BufReader::new(std::fs::File::open(
        path,
    )?)))
}

/// Calls `f(number, line)` for each line of `r` (1-based; invalid UTF-8
/// replaced, the line ending removed), holding one line at a time.
pub fn each_line(r: &mut dyn BufRead, mut f: impl FnMut(usize, &str)) -> Result<(), InputError> {
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        number += 1;
        let n = (&mut *r)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(InputError::Io)?;
        if n == 0 {
            return Ok(());
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        } else if n > MAX_LINE {
            return Err(InputError::LineTooLong { line: number });
        }
        f(number, &String::from_utf8_lossy(&buf));
    }
}
