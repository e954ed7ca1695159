#!/bin/sh
# Memory per ticket of one daemon on loopback: a site keeping its tickets
# in a state directory, in a 3-member configuration whose other members do
# not run, started with 0 and with each N ungranted tickets. Prints RSS and
# PSS (from /proc/PID/smaps_rollup) and (RSS(N) - RSS(0)) / N in bytes.
# Measured SETTLE seconds after the start (default 25: the start-up's
# resends, 3 s apart, are over and the heap was trimmed after them).
#
#   test/bench/per-ticket.sh [BOOTHD] [N...]   (default: target/release/boothd 1000 10000)
set -eu
. "$(dirname "$0")/loopback-conf.sh"
bin=${1:-target/release/boothd}
[ $# -gt 0 ] && shift
counts=${*:-1000 10000}
settle=${SETTLE:-25}
dir=$(mktemp -d /tmp/booth-per-ticket.XXXXXX)
chmod 777 "$dir"
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
pid=
# Below the kernel's ephemeral range (32768-60999), where a client
# socket of any other program may hold the port.
port=$(( 10000 + $$ % 20000 ))

# rss_pss N: starts the daemon with N tickets, prints "RSS PSS" in kB.
rss_pss() {
    loopback_conf "$port" "$1" "t%05d" > "$dir/booth.conf"
    rm -rf "$dir/state"; mkdir -p "$dir/state"; chmod 777 "$dir/state"
    BOOTH_NO_REALTIME=1 "$bin" daemon -S -c "$dir/booth.conf" -s 127.0.0.1 \
        -l "$dir/pid" --state-dir "$dir/state" 2>"$dir/log-$1" &
    pid=$!
    sleep "$settle"
    # Wait until the daemon answers, so that start-up is over.
    "$bin" list -c "$dir/booth.conf" -s 127.0.0.1 >/dev/null 2>&1 || sleep 2
    awk '/^Rss:/{r=$2} /^Pss:/{p=$2} END{print r, p}' /proc/$pid/smaps_rollup
    kill $pid; wait $pid 2>/dev/null || true
    pid=
}

set -- $(rss_pss 0)
r0=$1 p0=$2
echo "tickets=0 rss=${r0}kB pss=${p0}kB"
for n in $counts; do
    set -- $(rss_pss "$n")
    echo "tickets=$n rss=${1}kB pss=${2}kB per_ticket=$(( ($1 - r0) * 1024 / n ))B pss_per_ticket=$(( ($2 - p0) * 1024 / n ))B"
done
