#!/bin/sh
# tests/golden/regen.sh - run every golden trace through the iommu-sim CLI
# and compare key statistics with tests/golden/expected/NAME.txt.
#
#   regen.sh [--update] [IOMMU_SIM_BINARY]
#
# For each tests/golden/NAME.trace, the configuration is NAME.ini next to it
# (if present). The key statistics (KEYS below) are taken from stats.txt as
# "name value" lines. Without --update, prints a `diff -u` of expected vs
# actual for every trace that differs and exits 1 if any does; with
# --update, rewrites the expected files (and shows what changed).
#
# The binary defaults to $IOMMUSIM_BINARY_DIR/tools/iommu-sim (set by
# ctest), else build/dev/tools/iommu-sim under the source tree.
set -u

KEYS="trace.records trace.dmas run.sim_time
pri.requests pri.responded pri.auto_responded pri.dropped pri.in_flight
fault.closed fault.failed fault.e2e.min fault.e2e.max fault.e2e.mean
iommu.ats.requests device0.atc.hits host.mm.minor_faults host.mm.bad_access
device0.dmas_done device0.dmas_failed"

update=0
if [ "${1:-}" = "--update" ]; then
    update=1
    shift
fi
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-}
if [ -z "$bin" ]; then
    if [ -n "${IOMMUSIM_BINARY_DIR:-}" ]; then
        bin=$IOMMUSIM_BINARY_DIR/tools/iommu-sim
    else
        bin=$here/../../build/dev/tools/iommu-sim
    fi
fi
if [ ! -x "$bin" ]; then
    echo "regen.sh: no iommu-sim binary at '$bin'" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/golden.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

status=0
found=0
for trace in "$here"/*.trace; do
    [ -e "$trace" ] || continue
    found=1
    name=$(basename "$trace" .trace)
    set -- -q -o "$tmp/$name"
    if [ -f "$here/$name.ini" ]; then
        set -- "$@" -c "$here/$name.ini"
    fi
    if ! "$bin" "$@" "$trace" 2>"$tmp/$name.err"; then
        echo "regen.sh: $name: iommu-sim failed:" >&2
        cat "$tmp/$name.err" >&2
        status=1
        continue
    fi
    actual=$tmp/$name.txt
    : >"$actual"
    for key in $KEYS; do
        line=$(awk -v k="$key" '$1 == k { print $1, $2; exit }' \
            "$tmp/$name/stats.txt")
        if [ -z "$line" ]; then
            line="$key (missing)"
        fi
        echo "$line" >>"$actual"
    done
    expected=$here/expected/$name.txt
    if [ "$update" = 1 ]; then
        if [ -f "$expected" ]; then
            diff -u "$expected" "$actual" || true
        fi
        mkdir -p "$here/expected"
        cp "$actual" "$expected"
        echo "regen.sh: wrote expected/$name.txt"
    elif [ ! -f "$expected" ]; then
        echo "regen.sh: $name: no expected/$name.txt (run with --update)" >&2
        status=1
    elif ! diff -u "$expected" "$actual"; then
        echo "regen.sh: $name: key statistics differ from expected/$name.txt" >&2
        status=1
    fi
done
if [ "$found" = 0 ]; then
    echo "regen.sh: no golden traces in $here" >&2
    exit 2
fi
exit $status
