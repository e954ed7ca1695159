#!/usr/bin/env bash
# A local booth cluster: 2 sites + 1 arbitrator on 127.0.0.1/2/3, with the
# built-in state directory as ticket store (no root, no Pacemaker needed).
# Walks through grant, list, peers, killing the holder, failover and revoke,
# then removes everything it created.
set -euo pipefail
bin=$(cd "$(dirname "${1:-target/release/boothd}")" && pwd)/$(basename "${1:-target/release/boothd}")

work=$(mktemp -d /tmp/booth-demo.XXXXXX)
chmod 0777 "$work"   # run as root, the daemons drop to hacluster/nobody
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

port=$((20000 + RANDOM % 20000))
conf=$work/booth.conf
cat > "$conf" <<CONF
port = $port
site = 127.0.0.1
site = 127.0.0.2
arbitrator = 127.0.0.3
ticket = "ticket-db"
    expire = 10
    timeout = 1
    retries = 3
CONF

t0=$(date +%s.%N)
say() { printf '[%6.2fs] %s\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$*"; }
booth() { "$bin" "$1" -c "$conf" "${@:2}"; }

say "config: sites 127.0.0.1, 127.0.0.2, arbitrator 127.0.0.3, port $port, lease 10 s"
for i in 1 2 3; do
    BOOTH_NO_REALTIME=1 "$bin" daemon -S -c "$conf" -s 127.0.0.$i -l "$work/m$i.pid" \
        --state-dir "$work/state$i" 2>"$work/m$i.log" &
    pids+=($!)
done
for i in 1 2 3; do
    until booth list -s 127.0.0.$i >/dev/null 2>&1; do sleep 0.1; done
done
say "three daemons answer 'booth list'"

say "booth grant -s 127.0.0.1 ticket-db"
booth grant -w -s 127.0.0.1 ticket-db 2>&1 | sed 's/^/    /'
say "booth list (asked at the arbitrator)"
booth list -s 127.0.0.3 | sed 's/^/    /'
say "booth peers (asked at site 127.0.0.1)"
booth peers -s 127.0.0.1 | sed 's/^/    /'
say "state stored at site 1: $(tr '\n' ' ' < "$work/state1/ticket-db")"

say "killing the holder (site 127.0.0.1) with SIGKILL"
{ kill -9 "${pids[0]}"; wait "${pids[0]}"; } 2>/dev/null || true
killed=$(date +%s.%N)
until booth list -s 127.0.0.2 2>/dev/null | grep -q "leader: 127.0.0.2"; do sleep 0.2; done
say "failover: 127.0.0.2 holds the ticket, $(echo "$(date +%s.%N) - $killed" | bc | cut -c1-5) s after the kill"
booth list -s 127.0.0.2 | sed 's/^/    /'

say "booth revoke ticket-db (at 127.0.0.2)"
booth revoke -s 127.0.0.2 ticket-db 2>&1 | sed 's/^/    /'
booth list -s 127.0.0.3 | sed 's/^/    /'
say "demo done; stopping the daemons and removing $work"
