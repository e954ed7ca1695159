#!/usr/bin/env bash
# Local demo cluster: 2 sites + 1 arbitrator on 127.0.0.1/2/3.
#
# The daemon runtime is not built yet; until it is, this script checks the
# binary and describes the walk-through it will run.
set -euo pipefail
bin=${1:-target/release/boothd}
"$bin" --version
cat <<'PLAN'
The demo will:
  1. write a config with sites 127.0.0.1, 127.0.0.2 and arbitrator 127.0.0.3,
     short timings (expire 10s, timeout 1s) and a state directory as ticket store;
  2. start three daemons (boothd daemon -S -s <addr>), without root or Pacemaker;
  3. grant a ticket at site 1, show `booth list` and `booth peers`;
  4. kill site 1 and watch the ticket fail over to site 2, with timestamps;
  5. revoke the ticket and stop everything, removing what it created.
The daemon runtime is not part of this build yet, so the demo stops here.
PLAN
