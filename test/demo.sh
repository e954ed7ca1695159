#!/usr/bin/env bash
# A local booth cluster: 2 sites + 1 arbitrator on 127.0.0.1/2/3, with the
# built-in state directory as ticket store (no Pacemaker needed; as root the
# daemons run as nobody when the hacluster user does not exist).
# Walks through grant, list, peers, killing the holder, failover and revoke,
# then removes everything it created. Every wait has a deadline; a member
# that dies or a step that does not happen in time ends the demo with that
# member's log. Ctrl-C or SIGTERM stop it at once, leaving nothing behind.
set -euo pipefail
bin=$(cd "$(dirname "${1:-target/release/boothd}")" && pwd)/$(basename "${1:-target/release/boothd}")
[[ -x $bin ]] || { echo "demo: $bin is not an executable; run 'make demo'" >&2; exit 1; }

work=$(mktemp -d /tmp/booth-demo.XXXXXX)
# As root the daemons drop privileges and remove their lock files at exit.
[[ $EUID -ne 0 ]] || chmod 0777 "$work"
pids=(0 0 0)

# Stops the daemons (SIGTERM, SIGKILL after 5 s) and removes the directory.
cleanup() {
    trap - EXIT INT TERM
    local p live end=$((SECONDS + 5))
    for p in "${pids[@]}"; do ((p == 0)) || kill "$p" 2>/dev/null || true; done
    while ((SECONDS < end)); do
        live=0
        for p in "${pids[@]}"; do ((p == 0)) || ! kill -0 "$p" 2>/dev/null || live=1; done
        ((live)) || break
        sleep 0.1
    done
    for p in "${pids[@]}"; do ((p == 0)) || kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "demo: interrupted" >&2; exit 130' INT
trap 'echo "demo: terminated" >&2; exit 143' TERM

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

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
t0=$(now_ms)
secs() { local ms=$(($(now_ms) - $1)); printf '%d.%02d' $((ms / 1000)) $((ms % 1000 / 10)); }
say() { printf '[%6ss] %s\n' "$(secs "$t0")" "$*"; }
booth() { "$bin" "$1" -c "$conf" "${@:2}"; }

# Ends the demo: the reason, then the log of member $2 (all if none given).
fail() {
    echo "demo failed: $1" >&2
    local i
    for i in ${2:-1 2 3}; do
        echo "---- log of member 127.0.0.$i ($work/m$i.log) ----" >&2
        cat "$work/m$i.log" >&2 2>/dev/null || true
    done
    exit 1
}

# Fails if a member that should run has exited.
check_alive() {
    local i
    for i in 1 2 3; do
        local p=${pids[i - 1]}
        if ((p != 0)) && ! kill -0 "$p" 2>/dev/null; then
            pids[i - 1]=0
            fail "member 127.0.0.$i exited" "$i"
        fi
    done
}

# wait_for SECONDS MEMBER WHAT COMMAND...: runs COMMAND until it succeeds.
wait_for() {
    local limit=$1 member=$2 what=$3
    local end=$((SECONDS + limit))
    shift 3
    until "$@" >/dev/null 2>&1; do
        check_alive
        ((SECONDS < end)) || fail "$what within ${limit}s" "$member"
        sleep 0.1
    done
}

say "config: sites 127.0.0.1, 127.0.0.2, arbitrator 127.0.0.3, port $port, lease 10 s"
# Job control gives each daemon a process group of its own: Ctrl-C at the
# terminal reaches this script only, which then stops the daemons itself.
set -m
for i in 1 2 3; do
    BOOTH_NO_REALTIME=1 "$bin" daemon -S -c "$conf" -s 127.0.0.$i -l "$work/m$i.pid" \
        --state-dir "$work/state$i" 2>"$work/m$i.log" &
    pids[i - 1]=$!
done
set +m
for i in 1 2 3; do
    wait_for 15 "$i" "member 127.0.0.$i does not answer 'booth list'" booth list -s 127.0.0.$i
done
say "three daemons answer 'booth list'"

say "booth grant -s 127.0.0.1 ticket-db"
out=$(timeout 30 "$bin" grant -c "$conf" -w -s 127.0.0.1 ticket-db 2>&1) || {
    echo "$out" >&2
    fail "booth grant did not succeed" 1
}
printf '%s\n' "$out" | sed 's/^/    /'
say "booth list (asked at the arbitrator)"
booth list -s 127.0.0.3 | sed 's/^/    /'
say "booth peers (asked at site 127.0.0.1)"
booth peers -s 127.0.0.1 | sed 's/^/    /'
say "state stored at site 1: $(tr '\n' ' ' < "$work/state1/ticket-db")"

say "killing the holder (site 127.0.0.1) with SIGKILL"
{ kill -9 "${pids[0]}"; wait "${pids[0]}"; } 2>/dev/null || true
pids[0]=0
killed=$(now_ms)
holds() { booth list -s 127.0.0.2 | grep -q "leader: 127.0.0.2"; }
wait_for 60 2 "127.0.0.2 did not take the ticket over" holds
say "failover: 127.0.0.2 holds the ticket, $(secs "$killed") s after the kill"
booth list -s 127.0.0.2 | sed 's/^/    /'

say "booth revoke ticket-db (at 127.0.0.2)"
out=$(timeout 30 "$bin" revoke -c "$conf" -s 127.0.0.2 ticket-db 2>&1) || {
    echo "$out" >&2
    fail "booth revoke did not succeed" 2
}
printf '%s\n' "$out" | sed 's/^/    /'
booth list -s 127.0.0.3 | sed 's/^/    /'
say "demo done; stopping the daemons and removing $work"
