# Sourced by the loopback benchmark scripts (per-ticket.sh, waves.sh).
#
# loopback_conf PORT N NAME_FORMAT: prints a booth configuration of two
# sites and an arbitrator on 127.0.0.1-3 with N tickets named by the printf
# format NAME_FORMAT from the numbers 1..N (expire 60, timeout 3, retries 3,
# as in the bench).
loopback_conf() {
    echo "port = $1"
    echo "site = 127.0.0.1"
    echo "site = 127.0.0.2"
    echo "arbitrator = 127.0.0.3"
    i=1
    while [ "$i" -le "$2" ]; do
        # shellcheck disable=SC2059 # the format is the caller's
        printf "ticket = \"$3\"\n  expire = 60\n  timeout = 3\n  retries = 3\n" "$i"
        i=$((i + 1))
    done
}
