#!/bin/sh
# Booth alert agent: keeps a Prometheus textfile-collector file up to date
# (node_exporter --collector.textfile.directory).
#
# Install: link or copy it into the alerts directory of a configuration,
#   ln -s /usr/share/booth/alerts/alert_prometheus.sh /etc/booth/alerts.d/booth/30-prometheus
# Settings from the daemon's environment:
#   BOOTH_ALERT_TEXTFILE_DIR  where node_exporter reads *.prom files
#                             (default /var/lib/prometheus/node-exporter)
#   BOOTH_ALERT_STATE_DIR     where this agent keeps its series between runs
#                             (default /var/lib/booth/prometheus)
# Both must be writable by the user boothd runs as. The file is
# booth_<configuration name>.prom, replaced atomically.
#
# Series (labels: config, and peer/role or ticket):
#   booth_peer_reachable             1 reachable, 0 unreachable
#   booth_peer_last_heard_seconds    Unix time last heard from the peer
#   booth_ticket_granted_here        1 while this member holds the ticket
#   booth_ticket_term                the ticket's term at its last event
#   booth_cib_write_failing          1 while CIB writes fail
#   booth_alert_events_total         events seen, by kind and event
#   booth_alert_dropped_total        events this agent missed (it fell behind)
#   booth_alert_last_sequence        sequence number of the last event
#
# SPDX-License-Identifier: GPL-2.0-or-later

out_dir=${BOOTH_ALERT_TEXTFILE_DIR:-/var/lib/prometheus/node-exporter}
state=${BOOTH_ALERT_STATE_DIR:-/var/lib/booth/prometheus}/${BOOTH_ALERT_CONFIG:-booth}
mkdir -p "$state" || exit 1
cfg="config=\"$BOOTH_ALERT_CONFIG\""

# One file per series: its whole line.
set_series() { # name labels value
	printf '%s{%s} %s\n' "$1" "$2" "$3" > "$state/$(printf '%s{%s}' "$1" "$2" | tr -c 'A-Za-z0-9_.-' '_')"
}
add_series() { # name labels increment
	f="$state/$(printf '%s{%s}' "$1" "$2" | tr -c 'A-Za-z0-9_.-' '_')"
	old=0
	[ -f "$f" ] && old=$(sed 's/.* //' "$f")
	printf '%s{%s} %s\n' "$1" "$2" $((old + $3)) > "$f"
}

add_series booth_alert_events_total "$cfg,kind=\"$BOOTH_ALERT_KIND\",event=\"$BOOTH_ALERT_EVENT\"" 1
add_series booth_alert_dropped_total "$cfg" "${BOOTH_ALERT_DROPPED:-0}"
set_series booth_alert_last_sequence "$cfg" "$BOOTH_ALERT_SEQUENCE"
case "$BOOTH_ALERT_KIND/$BOOTH_ALERT_EVENT" in
peer/*)
	labels="$cfg,peer=\"$BOOTH_ALERT_PEER\",role=\"$BOOTH_ALERT_PEER_ROLE\""
	[ "$BOOTH_ALERT_EVENT" = reachable ] && up=1 || up=0
	set_series booth_peer_reachable "$labels" "$up"
	[ -n "$BOOTH_ALERT_LAST_HEARD" ] &&
		set_series booth_peer_last_heard_seconds "$labels" "$BOOTH_ALERT_LAST_HEARD"
	;;
ticket/*)
	labels="$cfg,ticket=\"$BOOTH_ALERT_TICKET\""
	[ "$BOOTH_ALERT_LEADER" = "$BOOTH_ALERT_LOCAL" ] && here=1 || here=0
	set_series booth_ticket_granted_here "$labels" "$here"
	set_series booth_ticket_term "$labels" "$BOOTH_ALERT_TERM"
	;;
cib/failing) set_series booth_cib_write_failing "$cfg" 1 ;;
cib/recovered) set_series booth_cib_write_failing "$cfg" 0 ;;
esac

mkdir -p "$out_dir" || exit 1
target="$out_dir/booth_${BOOTH_ALERT_CONFIG:-booth}.prom"
tmp="$target.$$"
cat "$state"/* | sort > "$tmp" && mv -f "$tmp" "$target"
