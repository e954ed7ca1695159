#!/bin/sh
# Checks a build linked with src/daemon/memlock.ld (make static runs it):
# the section the daemon does not lock, .text.booth_cold, must hold only
# code that a panic runs. Code the daemon runs otherwise would wait for the
# disk whenever its pages were paged out.
#
#   test/static-cold.sh BOOTHD
#
# Every reference into the section from code outside it (a call, a jump,
# an address taken) must come from the backtrace printer or the unwinder,
# or from what only runs while a panic unwinds, in a build that aborts on
# panic never: std's landing pads (their calls of _Unwind_Resume) and the
# personality routine. Every pointer into it in the program's
# relocated data must point at the unwinder, the demangler or the
# backtrace printer (their tables of functions). A function the compiler
# merged with one the daemon runs fails the first rule where it is called
# and the second where a table of the daemon's points at it.
#
# Needs binutils (readelf, objdump, nm) and symbols: without them it says
# so and checks nothing.
set -eu
bin=${1:?usage: $0 BOOTHD}
for t in readelf objdump nm od; do
    command -v "$t" >/dev/null || { echo "static-cold: no $t: not checked"; exit 0; }
done
section=$(readelf -SW "$bin" | awk '{ for (i = 1; i < NF; i++) if ($i == ".text.booth_cold") print $(i + 2), $(i + 4) }')
if [ -z "$section" ]; then
    echo "static-cold: $bin has no .text.booth_cold section: nothing to check"
    exit 0
fi
if [ "$(nm "$bin" 2>/dev/null | wc -l)" -lt 100 ]; then
    echo "static-cold: $bin has no symbols: not checked"
    exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/static-cold.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# awk without strtonum (mawk): hexadecimal by hand.
hexfn='function hex(s,   n, i, c) {
    n = 0; s = tolower(s); sub(/^0x/, "", s)
    for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)); n = n * 16 + c - 1 }
    return n
}'

# References from code outside the section.
objdump -d --no-show-raw-insn "$bin" | awk -v sec="$section" "$hexfn"'
BEGIN { split(sec, s, " "); lo = hex(s[1]); hi = lo + hex(s[2]) }
/^[0-9a-f]+ <.*>:$/ { fn = substr($2, 2, length($2) - 3); inside = hex($1) >= lo && hex($1) < hi; next }
inside || !/^ +[0-9a-f]+:/ { next }
{
    line = $0
    while (match(line, /[0-9a-f]+ <[^>]+>/)) {
        ref = substr(line, RSTART, RLENGTH); line = substr(line, RSTART + RLENGTH)
    }
    if (ref == "") next
    split(ref, r, " "); a = hex(r[1]); ref = ""
    if (a < lo || a >= hi) next
    if (r[2] ~ /^<_Unwind_Resume/) next
    if (fn ~ /backtrace|gimli|addr2line|rustc_demangle|miniz_oxide|libunwind|_Unwind_|unw_|eh_personality/) next
    print fn " -> " r[2]
}' | sort -u > "$tmp/code"

# Pointers in the relocated data (vtables, the GOT).
nm -n "$bin" | awk 'NF == 3 { print $1, $3 }' > "$tmp/syms"
readelf -SW "$bin" | awk '{
    for (i = 1; i < NF; i++)
        if ($i ~ /^\.(data\.rel\.ro|got|data|init_array|fini_array)$/ && $(i + 1) != "NOBITS")
            print $(i + 3), $(i + 4)
}' | while read -r off size; do
    od -An -v -tx8 -j "$((0x$off))" -N "$((0x$size))" "$bin"
done | awk -v sec="$section" "$hexfn"'
BEGIN { split(sec, s, " "); lo = hex(s[1]); hi = lo + hex(s[2]) }
FILENAME != "-" { if (hex($1) >= lo && hex($1) < hi) { n++; at[n] = hex($1); name[n] = $2 } next }
{
    for (i = 1; i <= NF; i++) {
        v = hex($i)
        if (v < lo || v >= hi) continue
        best = ""
        for (j = 1; j <= n; j++) if (at[j] <= v) best = name[j]
        if (best !~ /^_ZN9libunwind|^_Unwind_|^unw_|^__unw_|rustc_demangle|backtrace/) print "data -> " best
    }
}' "$tmp/syms" - | sort -u > "$tmp/data"

if [ -s "$tmp/code" ] || [ -s "$tmp/data" ]; then
    echo "static-cold: $bin: code outside the panic path refers to the unlocked section:" >&2
    cat "$tmp/code" "$tmp/data" >&2
    echo "(add the callee's pattern to the first statement of src/daemon/memlock.ld," >&2
    echo "or build without it: make static STATIC_RUSTFLAGS='[]': all code locked)" >&2
    exit 1
fi
echo "static-cold: $bin: only the panic path refers to .text.booth_cold"
