//! Cross-crate test suites: each lives in `tests/tests/*.rs`. This library is
//! empty on purpose; it only gives the suites a package to belong to.
