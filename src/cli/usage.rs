//! Usage texts. They cover what C booth's `print_usage` and
//! `print_geostore_usage` cover (scripts never parse them), plus this
//! implementation's own additions.

use crate::config::DEFAULT_CONFIG;

/// Help for `booth` / `boothd`.
pub fn booth_usage() -> String {
    format!(
        "\
Usage:
  booth list [options]
  booth peers [options]
  booth {{grant|revoke}} [options] <ticket>
  booth status [options]
  boothd daemon [options]
  boothd config-check [-c FILE]

  list           Show the tickets, their owners and expiry times
  peers          Show the other sites and arbitrators and their traffic
  grant          Give a ticket to a site (this one unless -s names another)
  revoke         Take a ticket away from the site that holds it
  status         Tell whether the daemon of this configuration runs here
  daemon         Run the booth daemon (the words start, site and
                 arbitrator do the same; the role comes from the config)
  config-check   Check a configuration file and report its errors

Options:
  -c FILE        Configuration file [default {DEFAULT_CONFIG}]
                 A value without '/' is a name looked up in /etc/booth/,
                 with \".conf\" added if the name has no '.'
                 (-c east means /etc/booth/east.conf)
  -s <site>      Talk to another site's daemon, or grant/revoke there:
                 its address as in the configuration, or \"other\" for the
                 one other site; daemon: the member this daemon is
  -t <ticket>    The ticket, instead of the <ticket> argument
  -F             Grant at once, even if not all sites can be reached;
                 for manual tickets: grant even if already granted
  -w             Wait for the final outcome of a grant or revoke, however
                 long it takes
  -C             Wait until the granted ticket is committed to the CIB
                 (grant only; implies -w)
  -D             More debugging output (repeat for even more); the
                 daemon still detaches unless -S is given too
  -l FILE        Lock/PID file of the daemon (daemon and status)
  -S             daemon: stay in the foreground and log to stderr
                 (the only option that does);
                 status: explain the result on stderr
  --state-dir DIR
                 daemon: keep ticket state in DIR instead of the
                 Pacemaker CIB
  -h             Show this help

Examples:

  # booth list                               (show the tickets)
  # booth grant ticket-A                     (grant ticket-A to this site)
  # booth grant -s 198.51.100.7 ticket-A     (grant it to site 198.51.100.7)
  # booth revoke ticket-A                    (revoke ticket-A)

See the booth(8) man page for more details.
"
    )
}

/// Help for `geostore`.
pub fn geostore_usage() -> String {
    format!(
        "\
Usage:
  geostore {{list|set|get|delete}} [-t ticket] [options] attr [value]

  list           Show all attributes of the ticket
  set            Give an attribute a value (attr value)
  get            Print an attribute's value (attr)
  delete         Remove an attribute (attr)

  -t <ticket>    The ticket the attributes belong to
                 (needed if the configuration has more than one ticket)

Options:
  -c FILE        Configuration file [default {DEFAULT_CONFIG}]
                 A value without '/' is a name looked up in /etc/booth/,
                 with \".conf\" added if the name has no '.'
  -s <site>      Ask another site's daemon: its address as in the
                 configuration, or \"other\" for the one other site
  -D             More debugging output
  -h             Show this help

Examples:

  # geostore list -t ticket-A -s 198.51.100.7
  # geostore set -s 198.51.100.7 sr_status ACTIVE
  # geostore get -t ticket-A -s 198.51.100.7 sr_status
  # geostore delete -s 198.51.100.7 sr_status

See the geostore(8) man page for more details.
"
    )
}
