#!/bin/sh
# Wake-ups and CPU of a leader of N tickets on loopback: two sites keeping
# their tickets in state directories and an arbitrator (127.0.0.1-3), N
# tickets (expire 60, timeout 3, retries 3, as in the bench) granted one by
# one at site 0. After SETTLE seconds, counts site 0's voluntary context
# switches (wake-ups), CPU time (utime + stime) and datagrams received over
# WINDOW seconds.
#
#   test/bench/waves.sh [BOOTHD] [N]    (default: target/release/boothd 1000)
#
# TMPDIR=/dev/shm keeps the state directories on tmpfs: on a disk
# filesystem the per-ticket file writes sleep in its journal and count as
# wake-ups of their own (doc/bench-results.txt section 17).
set -eu
. "$(dirname "$0")/loopback-conf.sh"
bin=$(realpath "${1:-target/release/boothd}")
n=${2:-1000}
settle=${SETTLE:-10}
window=${WINDOW:-60}
dir=$(mktemp -d "${TMPDIR:-/tmp}/booth-waves.XXXXXX")
chmod 777 "$dir"
pids=
trap 'for p in $pids; do kill $p 2>/dev/null; done; sleep 0.5; rm -rf "$dir"' EXIT
# Below the kernel's ephemeral range (32768-60999), where a client
# socket of any other program may hold the port.
port=$(( 10000 + $$ % 20000 ))
loopback_conf "$port" "$n" "tk%d" > "$dir/booth.conf"
for m in 1 2 3; do
    set --
    if [ $m -lt 3 ]; then
        mkdir -p "$dir/state$m"; chmod 777 "$dir/state$m"
        set -- --state-dir "$dir/state$m"
    fi
    BOOTH_NO_REALTIME=1 "$bin" daemon -S -c "$dir/booth.conf" -s 127.0.0.$m \
        -l "$dir/pid$m" "$@" 2>"$dir/log$m" &
    pids="$pids $!"
    [ $m -eq 1 ] && leader=$!
done
sleep 2
t0=$(date +%s)
i=1
while [ $i -le "$n" ]; do
    "$bin" grant -c "$dir/booth.conf" -s 127.0.0.1 "tk$i" >/dev/null 2>&1 || echo "grant tk$i failed"
    i=$((i + 1))
done
echo "granted $n in $(( $(date +%s) - t0 )) s"
sleep "$settle"
held=$("$bin" list -c "$dir/booth.conf" -s 127.0.0.2 | grep -c "leader: 127.0.0.1" || true)
cs() { awk '/^voluntary_ctxt_switches:/{print $2}' /proc/$leader/status; }
cpu() { awk '{print $14 + $15}' /proc/$leader/stat; }
c0=$(cs) u0=$(cpu)
r0=$(awk '/^Udp:/ && $2 ~ /^[0-9]/ {print $2}' /proc/$leader/net/snmp)
sleep "$window"
c1=$(cs) u1=$(cpu)
r1=$(awk '/^Udp:/ && $2 ~ /^[0-9]/ {print $2}' /proc/$leader/net/snmp)
hz=$(getconf CLK_TCK)
echo "leader of $n (held $held): wake-ups/s $(echo "scale=2; ($c1 - $c0) / $window" | bc)" \
    "CPU $(echo "scale=3; ($u1 - $u0) * 100 / $hz / $window" | bc)%" \
    "UDP datagrams received (host-wide)/s $(echo "scale=1; ($r1 - $r0) / $window" | bc)"
