#!/usr/bin/env bash
# Installs the tools the project needs beyond a bare Rust toolchain:
# nightly with Miri and rust-src, the no_std target, and cargo-fuzz.
# Idempotent: each step is skipped when already present.
set -euo pipefail

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
installed=$(rustup component list --toolchain nightly --installed)
for c in miri rust-src; do
    grep -q "^$c" <<<"$installed" || rustup component add --toolchain nightly "$c"
done
rustup target list --installed | grep -q '^x86_64-unknown-none$' ||
    rustup target add x86_64-unknown-none
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# The published crates' rust-version (workspace Cargo.toml), checked in CI.
rustup toolchain list | grep -q '^1\.84' || rustup toolchain install 1.84 --profile minimal
cargo +nightly miri setup >/dev/null 2>&1 || cargo +nightly miri setup
