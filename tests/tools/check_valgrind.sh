#!/bin/sh
# tests/tools/check_valgrind.sh IOMMU_SIM SOURCE_DIR - iommu-sim under
# valgrind memcheck: the default run, a VM run and the input-error paths of
# test_cli (one representative bad input of each kind). Any memcheck error
# or definite leak fails the test: valgrind --error-exitcode=1 turns the
# run's exit status into 1, and each run must keep the status it has
# without valgrind (0 or 2); memcheck's log (-q: errors only) must be empty.
# Exit 77 (skipped) when valgrind is not installed.
bin=$1
src=$2
command -v valgrind >/dev/null 2>&1 || { echo "valgrind not found: skipped"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/iommusim-vg.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

# A small trace and configuration files for the error paths.
cat > t.trace <<'T'
iommu-sim-trace 1
timeunit ns
0 map 0 1 0x7f0000000000 64K rw- absent
10 read 0 1 0x7f0000001000 64
20 write 0 1 0x7f0000002000 4K
T
printf 'iommu-sim-trace 1\ntimeunit ns\n0 map 0 1 0x7f0000000000 64K rw- absent\n10 frob 0 1 0x1000 64\n' > bad-record.trace
printf 'iommu-sim-trace 1\ntimeunit ns\n20 read 0 1 0x7f0000001000 64\n10 read 0 1 0x7f0000001000 64\n' > backwards.trace
printf 'iommu-sim-trace 1\ntimeunit ns\n10 read 0 7 0x7f0000001000 64\n' > unmapped-pasid.trace
printf 'iommu-sim-trace 1\ntimeunit ns\n0 map 0 1 0x7f0000000000 64K rw- absent\n10 read 5 1 0x7f0000001000 64\n' > unknown-dev.trace
: > empty.trace
printf '[device]\ncount = 1\ncount = 2\n' > dup.ini
printf '[nosuch]\nkey = 1\n' > section.ini
printf '[device]\nproc = lognormal(3000\n' > dist.ini

fails=0
n=0
# run EXPECTED_STATUS ARGS...
run() {
    want=$1
    shift
    n=$((n + 1))
    valgrind -q --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite --log-file="vg.$n.log" \
        "$bin" -q -o "out.$n" "$@" > "run.$n.out" 2> "run.$n.err"
    rc=$?
    if [ "$rc" -ne "$want" ] || [ -s "vg.$n.log" ]; then
        echo "FAIL: iommu-sim $*: exit $rc, expected $want"
        cat "vg.$n.log" "run.$n.err" | head -40
        fails=$((fails + 1))
    else
        echo "ok: iommu-sim $* (exit $rc)"
    fi
}

run 0                                     # the default scenario
run 0 --set vm.devices=1                  # a VM run
run 0 t.trace                             # a trace file
run 2 nosuch.trace                        # missing trace
run 2 empty.trace                         # empty trace
run 2 bad-record.trace                    # unknown record
run 2 backwards.trace                     # time going backwards
run 2 unmapped-pasid.trace                # DMA of an unknown PASID
run 2 -c nosuch.ini t.trace               # missing configuration
run 2 -c dup.ini t.trace                  # duplicate key
run 2 -c section.ini t.trace              # unknown section
run 2 -c dist.ini t.trace                 # bad distribution
run 2 --set device.tags t.trace           # --set without '='
run 2 --set device.nope=1 t.trace         # unknown key
run 2 --set link.gen=9 t.trace            # out of range
run 2 --seed x t.trace                    # bad seed
run 2 --set device.atc_entries=10 --set device.atc_ways=4 t.trace  # check between keys
run 2 unknown-dev.trace                   # DMA of an unknown device
run 2 --frobnicate                        # unknown option
echo "$n runs under memcheck, $fails failed"
[ "$fails" -eq 0 ]
