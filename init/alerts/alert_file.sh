#!/bin/sh
# Booth alert agent: appends one line per event to a file.
#
# Install: link or copy it into the alerts directory of a configuration,
#   ln -s /usr/share/booth/alerts/alert_file.sh /etc/booth/alerts.d/booth/10-file
# The file is BOOTH_ALERT_FILE (from the daemon's environment), by default
# /var/lib/booth/alerts.log; it must be writable by the user boothd runs as.
#
# SPDX-License-Identifier: GPL-2.0-or-later

file=${BOOTH_ALERT_FILE:-/var/lib/booth/alerts.log}

line="$BOOTH_ALERT_TIMESTAMP $BOOTH_ALERT_CONFIG $BOOTH_ALERT_LOCAL_ROLE $BOOTH_ALERT_LOCAL"
line="$line #$BOOTH_ALERT_SEQUENCE $BOOTH_ALERT_KIND $BOOTH_ALERT_EVENT"
case "$BOOTH_ALERT_KIND" in
peer) line="$line $BOOTH_ALERT_PEER_ROLE $BOOTH_ALERT_PEER (last heard: ${BOOTH_ALERT_LAST_HEARD:-never})" ;;
ticket) line="$line $BOOTH_ALERT_TICKET leader $BOOTH_ALERT_LEADER (was ${BOOTH_ALERT_PREVIOUS_LEADER:-none}) term $BOOTH_ALERT_TERM expires ${BOOTH_ALERT_EXPIRY:--}" ;;
handler) line="$line $BOOTH_ALERT_TICKET $BOOTH_ALERT_HANDLER: $BOOTH_ALERT_DETAIL" ;;
auth) line="$line from $BOOTH_ALERT_PEER_ROLE $BOOTH_ALERT_ADDRESS ($BOOTH_ALERT_COUNT failures)" ;;
esac
if [ "${BOOTH_ALERT_DROPPED:-0}" != 0 ]; then
	line="$line ($BOOTH_ALERT_DROPPED earlier events dropped)"
fi
printf '%s\n' "$line" >> "$file"
