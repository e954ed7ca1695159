#!/bin/sh
# Checks that the static build's locked code holds one copy of the
# standard library's sort (make static runs it). Every sort call with
# another element type or comparison compiles another copy (about 4 kB),
# and the daemon locks all of its code: a dozen copies were 50 kB. The
# program's own sorts go through src/sort.rs, which instantiates it once;
# collecting into a BTreeMap or BTreeSet sorts as well (insert or extend
# instead). Copies in the code set apart for panics (.text.booth_cold)
# or kept with the standard library's generic code (.text.booth_generic,
# the backtrace printer's) are not counted.
#
#   test/static-sorts.sh BOOTHD
#
# Needs binutils (readelf, nm) and symbols: without them it says so and
# checks nothing.
set -eu
bin=${1:?usage: $0 BOOTHD}
for t in readelf nm; do
    command -v "$t" >/dev/null || { echo "static-sorts: no $t: not checked"; exit 0; }
done
if [ "$(nm "$bin" 2>/dev/null | wc -l)" -lt 100 ]; then
    echo "static-sorts: $bin has no symbols: not checked"
    exit 0
fi
# Start and size of .text, in hexadecimal.
text=$(readelf -SW "$bin" | awk '{ for (i = 1; i < NF; i++) if ($i == ".text") print $(i + 2), $(i + 4) }')
[ -n "$text" ] || { echo "static-sorts: $bin has no .text section" >&2; exit 1; }

# awk without strtonum (mawk): hexadecimal by hand.
nm "$bin" | awk -v sec="$text" '
function hex(s,   n, i, c) {
    n = 0; s = tolower(s); sub(/^0x/, "", s)
    for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)); n = n * 16 + c - 1 }
    return n
}
BEGIN { split(sec, s, " "); lo = hex(s[1]); hi = lo + hex(s[2]) }
# The entry point of each copy: driftsort_main (stable), ipnsort (unstable),
# in legacy and v0 mangling.
$2 ~ /^[tTwW]$/ && $3 ~ /slice4sort.*(14driftsort_main|7ipnsort)/ {
    a = hex($1)
    # The backtrace printer'"'"'s own (named by their types where the
    # build has no .text.booth_generic to keep them apart).
    if ($3 ~ /gimli|addr2line|backtrace|rustc_demangle|miniz_oxide/) next
    if (a >= lo && a < hi && !seen[a]++) { n++; names = names "\n  " $3 }
}
END {
    if (n > 1) {
        print "static-sorts: " n " copies of the standard sort in the locked code (one expected):" names
        print "sort through src/sort.rs (crate::sort::by, by_key, sort, positions),"
        print "and insert or extend into B-trees instead of collecting into them"
        exit 1
    }
    print "static-sorts: " n " copy of the standard sort in the locked code"
}'
