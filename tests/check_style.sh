#!/bin/sh
# Every tracked C source and header is formatted as .clang-format says.
# The formatter is pinned to Debian 12's clang-format 14 (the README's
# commands install it): another major version formats some constructs
# differently, so the check is skipped (exit 77) rather than failed there.
# usage: check_style.sh SOURCE_DIR [CLANG_FORMAT]
src=$1; cf=${2:-clang-format}
if ! command -v "$cf" >/dev/null 2>&1; then
    echo "check_style: $cf not found; install Debian's clang-format" >&2
    exit 77
fi
major=$("$cf" --version | sed -n 's/.*version \([0-9][0-9]*\)\..*/\1/p')
if [ "$major" != "14" ]; then
    echo "check_style: $cf is version $major, the pinned one is 14: skipped" >&2
    exit 77
fi
cd "$src" || exit 2
files=$(git ls-files '*.c' '*.h' 2>/dev/null)
[ -n "$files" ] || files=$(find sim traces pcie iommu ioasid tools tests \
    -name '*.c' -o -name '*.h')
bad=0
for f in $files; do
    if ! "$cf" --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "$f: not formatted (run: clang-format -i $f)" >&2
        bad=$((bad + 1))
    fi
done
n=$(echo "$files" | wc -w)
echo "$n files checked, $bad not formatted"
[ "$bad" -eq 0 ]
