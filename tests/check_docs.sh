#!/bin/sh
# Every parameter iommu-sim declares must be listed in docs/configuration.md.
# usage: check_docs.sh IOMMU_SIM_BINARY SOURCE_DIR
bin=$1; src=$2; missing=0
for key in $("$bin" --list-params | awk 'NR > 1 { print $1 }'); do
    if ! grep -q "^$key " "$src/docs/configuration.md"; then
        echo "docs/configuration.md does not list $key" >&2
        missing=$((missing + 1))
    fi
done
n=$("$bin" --list-params | awk 'NR > 1' | wc -l)
[ "$n" -gt 0 ] || { echo "iommu-sim --list-params listed nothing" >&2; exit 1; }
echo "$n parameters checked, $missing missing"
[ "$missing" -eq 0 ]
