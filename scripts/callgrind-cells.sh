#!/usr/bin/env bash
# Prints instructions per alloc+free pair (or per random-free step) for the
# cells issues 21 and 23 name, from callgrind, in one run:
#   bash scripts/callgrind-cells.sh [LIVE] [PAIRS]     (default 100000 20000)
# (LIVE 0: an empty space, issue 21's other column.)
# Every measurement must exit cleanly: a contender that fails, panics or
# runs out of room exits non-zero, and then this script stops with an error
# before printing that cell (a failed run's instruction count is no
# measurement).
set -euo pipefail
cd "$(dirname "$0")/.."
live=${1:-100000}
pairs=${2:-20000}
cargo build -q --release -p vmarea-cli --example pair_profile
bin=target/release/examples/pair_profile
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# cell NAME ENV... -- ARGS...: one callgrind run of the measured function.
cell() {
    local name=$1
    shift
    local envs=()
    while [ "$1" != "--" ]; do
        envs+=("$1")
        shift
    done
    shift
    local steps=$3
    if ! env "${envs[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" \
        --toggle-collect='pair_profile::measured*' "$bin" "$@" >/dev/null 2>"$out.err"; then
        cat "$out.err" >&2
        echo "callgrind-cells: $name FAILED (non-zero exit): no figure" >&2
        exit 1
    fi
    local ir
    ir=$(callgrind_annotate "$out" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
    printf '| %-52s | %10.1f |\n' "$name" "$(echo "$ir / $steps" | bc -l)"
}

echo "live areas: $live; pairs (or steps): $pairs; instructions per pair from callgrind"
echo
echo "| cell | instructions |"
echo "|---|---|"
cell "InstantFit, busy tree, by handle" PAIR_X=1 -- InstantFit "$live" "$pairs" handle
cell "InstantFit, busy tree, by address" PAIR_X=1 -- InstantFit "$live" "$pairs"
cell "InstantFit + pools, busy tree, by handle" PAIR_POOLS=1 -- InstantFit "$live" "$pairs" handle
cell "InstantFit + pools, handle only (no busy tree)" PAIR_POOLS=1 -- InstantFit "$live" "$pairs" handle-only
cell "InstantFit, 64 KiB aligned, busy tree, by handle" PAIR_ALIGN=65536 -- InstantFit "$live" "$pairs" handle
cell "BestFit, 64 KiB aligned, busy tree, by handle" PAIR_ALIGN=65536 -- BestFit "$live" "$pairs" handle
cell "FirstFit, busy tree, by handle" PAIR_X=1 -- FirstFit "$live" "$pairs" handle
cell "BestFit, busy tree, by handle" PAIR_X=1 -- BestFit "$live" "$pairs" handle
cell "offset-allocator" PAIR_X=1 -- offset-allocator "$live" "$pairs"
cell "offset-allocator + address map (by address)" PAIR_X=1 -- offset-allocator "$live" "$pairs" address
cell "vmem 1.0 (frees by address)" PAIR_X=1 -- vmem "$live" "$pairs"
cell "xalloc 0.2.7 SysTlsf (by handle)" PAIR_X=1 -- xalloc-tlsf "$live" "$pairs"
cell "buddy_system_allocator 0.13 FrameAllocator" PAIR_X=1 -- buddy-frames "$live" "$pairs"
cell "floor" PAIR_X=1 -- floor "$live" "$pairs"
# Random frees replace live areas: none to replace in an empty space.
if [ "$live" -gt 0 ]; then
    cell "InstantFit + pools, random frees (per step)" PAIR_POOLS=1 -- InstantFit "$live" "$pairs" handle random
    cell "offset-allocator, random frees (per step)" PAIR_X=1 -- offset-allocator "$live" "$pairs" x random
fi
