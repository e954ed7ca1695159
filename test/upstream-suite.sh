#!/bin/sh
# Runs the C booth's own test suite (test/runtests.py of a ClusterLabs booth
# source tree, Python 3) against this boothd: the daemon started as a site
# without Pacemaker, in the background and in the foreground, bad
# configurations and over-long arguments.
#
#   test/upstream-suite.sh BOOTH_SOURCE_DIR [BOOTHD]
#
# The suite learns "its" address by routing towards an outside host and
# writes it into the configuration; here it gets 127.0.0.1 instead, so the
# daemons it starts never bind or send on the machine's real interfaces.
# Run as root, it is allowed to (BOOTH_RUNTESTS_ROOT_USER).
set -eu
src=${1:?usage: $0 BOOTH_SOURCE_DIR [BOOTHD]}
boothd=$(realpath "${2:-target/release/boothd}")
[ -f "$src/test/runtests.py.in" ] || { echo "$src: not a booth source tree" >&2; exit 2; }
[ -x "$boothd" ] || { echo "$boothd: not built (make build)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 2; }

tmp=$(mktemp -d /tmp/booth-upstream-suite.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src/test" "$src/conf" "$tmp/"
mkdir -p "$tmp/build/test" "$tmp/build/src"
ln -s "$boothd" "$tmp/build/src/boothd"
for f in runtests boothtestenv; do
    sed -e "s|TEST_SRC_DIR|$tmp/test|g" -e "s|TEST_BUILD_DIR|$tmp/build/test|g" \
        -e "s|#!PYTHON_SHEBANG|#!/usr/bin/env python3|" \
        "$tmp/test/$f.py.in" >"$tmp/test/$f.py"
done
sed -i "s|^def get_IP():|def get_IP():\n    return '127.0.0.1'|" "$tmp/test/utils.py"
chmod -R a+rX "$tmp"
cd "$tmp/test"
BOOTH_RUNTESTS_ROOT_USER=1 python3 runtests.py
