#!/bin/sh
# Set-up on a fresh machine, run by make before it builds or tests, so that
# `make demo` and `make check` are the only commands a newcomer needs.
#
#   test/setup.sh toolchain   a Rust toolchain new enough for Cargo.toml
#                             (rustup into ~/.cargo and ~/.rustup when none
#                             is there or the system's is too old), rustfmt
#                             and clippy, and a C linker
#   test/setup.sh packages    as root with apt-get: the Debian packages the
#                             tests use; anyone with rustup: the musl target
#                             of the static build. Without them the tests
#                             that need them say SKIPPED and why.
#
# SETUP=0 in the environment (make check SETUP=0) changes nothing on the
# machine: the script only says what is missing.
set -eu

# Cargo.toml's rust-version.
MIN_RUST=1.85
MUSL_TARGET=${MUSL_TARGET:-x86_64-unknown-linux-musl}
SETUP=${SETUP:-1}

say() { echo "setup: $*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }
can_apt() { is_root && command -v apt-get >/dev/null 2>&1; }

# Version "1.85.0" of "cargo 1.85.0 (d73d2caf9 2024-12-31)" as a number
# 1085000, so that shells without sort -V compare it.
version_number() {
    echo "$1" | awk '{ split($2, v, "."); printf "%d\n", v[1] * 1000000 + v[2] * 1000 + v[3] }'
}

cargo_new_enough() {
    command -v cargo >/dev/null 2>&1 || return 1
    have=$(version_number "$(cargo --version 2>/dev/null)")
    want=$(version_number "x $MIN_RUST.0")
    [ "$have" -ge "$want" ]
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
        apt-get update -qq >/dev/null 2>&1 || true
        apt-get install -y -qq --no-install-recommends "$@" ||
            say "could not install $* (the tests that need them will skip)"
    fi
}

fetch() {
    if command -v curl >/dev/null 2>&1; then
        curl --proto '=https' --tlsv1.2 -sSf "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O - "$1"
    else
        say "neither curl nor wget is installed: cannot download rustup"
        return 1
    fi
}

# cargo's subcommand $1 comes with rustup's component $2.
component() {
    cargo "$1" --version >/dev/null 2>&1 && return 0
    if [ "$SETUP" != 0 ] && command -v rustup >/dev/null 2>&1; then
        rustup component add "$2"
    else
        say "cargo has no $1: make check needs it (rustup component add $2)"
    fi
}

toolchain() {
    # A C compiler links Rust programs (cc) and builds the static build's
    # start files; Debian's gcc package brings it.
    if ! command -v cc >/dev/null 2>&1; then
        if [ "$SETUP" != 0 ] && can_apt; then
            say "installing gcc (Rust links through cc)"
            apt_install gcc libc6-dev
        else
            say "no C compiler (cc): install gcc (Debian: apt-get install gcc)"
            exit 1
        fi
    fi
    if cargo_new_enough; then
        :
    elif [ "$SETUP" = 0 ]; then
        say "Rust $MIN_RUST or newer is needed: https://rustup.rs (or run without SETUP=0)"
        exit 1
    elif command -v rustup >/dev/null 2>&1; then
        say "updating the stable Rust toolchain (rustup), Rust $MIN_RUST or newer is needed"
        rustup toolchain install stable --profile minimal -c rustfmt -c clippy
    else
        # The toolchain goes where rustup puts it for this user (the
        # Makefile puts ~/.cargo/bin first in PATH); shell profiles stay
        # untouched.
        say "installing Rust $MIN_RUST or newer with rustup into $HOME/.cargo and $HOME/.rustup"
        # rustup-init itself, as the script at sh.rustup.rs would fetch it.
        host="$(uname -m)-unknown-linux-gnu"
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' EXIT
        fetch "https://static.rust-lang.org/rustup/dist/$host/rustup-init" >"$tmp/rustup-init"
        chmod +x "$tmp/rustup-init"
        "$tmp/rustup-init" -y -q --no-modify-path --profile minimal \
            --default-toolchain stable -c rustfmt -c clippy
        PATH="$HOME/.cargo/bin:$PATH"
        cargo_new_enough || { say "rustup installed, but cargo is still too old"; exit 1; }
    fi
    # rustup's minimal profile or a distribution's cargo may lack these.
    component fmt rustfmt
    component clippy clippy
}

packages() {
    need=""
    want() { command -v "$1" >/dev/null 2>&1 || [ -e "$1" ] || need="$need $2"; }
    want crm_ticket pacemaker-cli-utils
    want nft nftables
    want ip iproute2
    want bc bc
    want /usr/sbin/boothd booth
    want /usr/sbin/pacemakerd pacemaker
    want /usr/sbin/corosync corosync
    want groff groff
    want shellcheck shellcheck
    want /usr/lib/ocf/lib/heartbeat/ocf-shellfuncs resource-agents
    want xmllint libxml2-utils
    want pcs pcs
    want crm crmsh
    if [ -n "$need" ]; then
        if [ "$SETUP" != 0 ] && can_apt; then
            say "installing the Debian packages the tests use:$need"
            # shellcheck disable=SC2086 # a list of package names
            apt_install $need
        elif is_root; then
            say "not installed:$need (the tests that need them will skip)"
        else
            say "not installed:$need; not root, so the tests that need them or root will skip"
        fi
    fi
    if command -v rustup >/dev/null 2>&1 &&
        ! rustup target list --installed 2>/dev/null | grep -qx "$MUSL_TARGET"; then
        if [ "$SETUP" != 0 ]; then
            say "adding the $MUSL_TARGET target (the static build)"
            rustup target add "$MUSL_TARGET" || say "could not add $MUSL_TARGET: check-static will skip"
        fi
    fi
}

case "${1:-}" in
toolchain) toolchain ;;
packages) packages ;;
*)
    echo "usage: $0 toolchain|packages" >&2
    exit 2
    ;;
esac
