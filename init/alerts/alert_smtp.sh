#!/bin/sh
# Booth alert agent: mails each event with sendmail(8), if installed.
#
# Install: link or copy it into the alerts directory of a configuration,
#   ln -s /usr/share/booth/alerts/alert_smtp.sh /etc/booth/alerts.d/booth/20-mail
# Recipient: BOOTH_ALERT_MAIL_TO (from the daemon's environment), by
# default root. Without sendmail it does nothing (and says so on stderr,
# which boothd logs at debug level).
#
# SPDX-License-Identifier: GPL-2.0-or-later

to=${BOOTH_ALERT_MAIL_TO:-root}
sendmail=$(command -v sendmail || { [ -x /usr/sbin/sendmail ] && echo /usr/sbin/sendmail; })
if [ -z "$sendmail" ]; then
	echo "sendmail not found, no mail sent" >&2
	exit 0
fi

subject="booth $BOOTH_ALERT_CONFIG at $BOOTH_ALERT_LOCAL: $BOOTH_ALERT_KIND $BOOTH_ALERT_EVENT"
case "$BOOTH_ALERT_KIND" in
peer) subject="$subject $BOOTH_ALERT_PEER" ;;
ticket | handler) subject="$subject $BOOTH_ALERT_TICKET" ;;
auth) subject="$subject $BOOTH_ALERT_ADDRESS" ;;
esac

{
	printf 'To: %s\nSubject: %s\n\n' "$to" "$subject"
	env | grep '^BOOTH_ALERT_' | sort
} | "$sendmail" -t
