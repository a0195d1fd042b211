#!/bin/sh
# tests/check_symbols.sh - every symbol a library exports carries the
# library's module prefix (internal helpers too: they are made static or
# renamed), so that libraries linked together can never clash.
#
# Usage: check_symbols.sh NAME PREFIX ARCHIVE [NAME PREFIX ARCHIVE ...]
#   e.g. check_symbols.sh simcore sim_ build/debug/sim/libsimcore.a
#
# Runs `nm -g --defined-only` on each archive and lists every defined
# global symbol of type T, D, B, R or C (code, data, bss, read-only data,
# common) whose name does not start with PREFIX. Exit status: 0 when there
# is none, 1 when there are some, 2 on a usage error or when nm fails.
#
# Environment:
#   NM                   the nm to run (default: nm)
#   CHECK_SYMBOLS_ONLY   names of the libraries to check, separated by
#                        commas or spaces (default: all given), e.g.
#                        CHECK_SYMBOLS_ONLY=simcore,traces ctest -R symbols
set -u

nm_cmd=${NM:-nm}
only=$(printf '%s' "${CHECK_SYMBOLS_ONLY:-}" | tr ',' ' ')

if [ $# -eq 0 ] || [ $(($# % 3)) -ne 0 ]; then
    echo "usage: $0 NAME PREFIX ARCHIVE [NAME PREFIX ARCHIVE ...]" >&2
    exit 2
fi

selected() {
    [ -z "$only" ] && return 0
    for o in $only; do
        [ "$o" = "$1" ] && return 0
    done
    return 1
}

bad=0
checked=0
while [ $# -gt 0 ]; do
    name=$1 prefix=$2 archive=$3
    shift 3
    selected "$name" || continue
    if [ ! -f "$archive" ]; then
        echo "check_symbols: $name: no archive $archive" >&2
        exit 2
    fi
    if ! syms=$("$nm_cmd" -g --defined-only "$archive"); then
        echo "check_symbols: $name: $nm_cmd failed on $archive" >&2
        exit 2
    fi
    # "member.o:" headers and blank lines have fewer than three fields.
    # Symbols a sanitizer or coverage build adds (__odr_asan.*, __gcov*,
    # __sancov*) are the compiler's, not the library's.
    missing=$(printf '%s\n' "$syms" |
        awk -v p="$prefix" 'NF == 3 && $2 ~ /^[TDBRC]$/ &&
                            index($3, p) != 1 &&
                            $3 !~ /^__(odr_)?asan|^__(u|t)san|^__sancov|^__gcov|^__llvm_/ { print $2, $3 }' |
        sort -k2 -u)
    checked=$((checked + 1))
    if [ -n "$missing" ]; then
        n=$(printf '%s\n' "$missing" | wc -l)
        echo "$name: $((n)) exported symbols without the prefix $prefix:"
        printf '%s\n' "$missing" | sed "s/^/  $name: /"
        bad=1
    else
        echo "$name: every exported symbol starts with $prefix"
    fi
done

if [ "$checked" -eq 0 ]; then
    echo "check_symbols: no library selected (CHECK_SYMBOLS_ONLY=$only)" >&2
    exit 2
fi
exit $bad
