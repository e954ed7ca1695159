# geo_attr.sh: shell functions for resource agents that publish a booth
# GEO attribute (see geostore(8) and "attr-prereq" in boothd(8)).
#
# Installed as $OCF_ROOT/lib/booth/geo_attr.sh; an agent sources it after
# ocf-shellfuncs:
#
#	. "${OCF_ROOT}/lib/booth/geo_attr.sh"
#
# and then
#   - prints "$(geo_attr_meta_data)" among its <parameters>: booth_ticket,
#     booth_config and geo_attribute;
#   - calls geo_attr_validate_all in validate-all (0: usable or not asked
#     for, 1: not usable, the reason logged);
#   - after it changed the state the attribute describes (for instance
#     after data replication), calls "geo_attr_geo_attr OUTCOME" when
#     OCF_RESKEY_booth_ticket is set: OUTCOME 0 deletes the attribute,
#     anything else sets it to the value the ticket's attr-prereq expects.
#     This is best effort: failures are returned, nothing else is done.
#
# The attribute is set at the site "other" (the one other site of a
# two-site cluster). With more sites, define a function get_site_name that
# prints the site's address as written in booth.conf.
#
# The attribute and its value come from the first
#	attr-prereq = auto NAME eq VALUE
# line of the ticket (the one for NAME if geo_attribute is set).
#
# License: GPL-2.0-or-later

GEO_ATTR_DEFAULT_CONF=/etc/booth/booth.conf
: "${OCF_RESKEY_booth_config:=$GEO_ATTR_DEFAULT_CONF}"
: "${OCF_RESKEY_booth_ticket:=}"
: "${OCF_RESKEY_geo_attribute:=}"

geo_attr_meta_data() {
	cat <<END
<parameter name="booth_ticket" unique="0" required="0">
<longdesc lang="en">
The booth ticket whose GEO attribute this resource maintains. Without it
no attribute is updated. See also booth_config and geo_attribute.
</longdesc>
<shortdesc lang="en">Booth ticket</shortdesc>
<content type="string" default=""/>
</parameter>
<parameter name="booth_config" unique="0" required="0">
<longdesc lang="en">
The booth configuration: a file, or a name in /etc/booth (".conf" is added
to a name without a dot), as for "boothd -c".
</longdesc>
<shortdesc lang="en">Booth configuration</shortdesc>
<content type="string" default="$GEO_ATTR_DEFAULT_CONF"/>
</parameter>
<parameter name="geo_attribute" unique="0" required="0">
<longdesc lang="en">
The attribute's name. By default the name of the ticket's first
"attr-prereq = auto NAME eq VALUE" line; needed only when the ticket has
several.
</longdesc>
<shortdesc lang="en">GEO attribute</shortdesc>
<content type="string" default=""/>
</parameter>
END
}

# The configuration as a file, with "boothd -c" semantics.
geo_attr_conf_path() {
	case "$OCF_RESKEY_booth_config" in
	*/*) echo "$OCF_RESKEY_booth_config" ;;
	*.*) echo "/etc/booth/$OCF_RESKEY_booth_config" ;;
	*) echo "/etc/booth/$OCF_RESKEY_booth_config.conf" ;;
	esac
}

# Prints "NAME VALUE" from the ticket's attr-prereq (nothing if none).
geo_attr_get_attr() {
	awk -v tkt="$OCF_RESKEY_booth_ticket" -v want="$OCF_RESKEY_geo_attribute" '
		function unquote(v) {
			gsub(/^["\047]|["\047]$/, "", v)
			return v
		}
		/^[[:space:]]*#/ { next }
		# A ticket line starts a section; the keys up to the next one
		# belong to it.
		/^[[:space:]]*ticket[[:space:]]*=/ {
			v = $0
			sub(/^[[:space:]]*ticket[[:space:]]*=[[:space:]]*/, "", v)
			sub(/[[:space:]]+$/, "", v)
			in_ticket = (unquote(v) == tkt)
			next
		}
		in_ticket && /^[[:space:]]*attr-prereq[[:space:]]*=/ {
			v = $0
			sub(/^[[:space:]]*attr-prereq[[:space:]]*=[[:space:]]*/, "", v)
			n = split(v, f, /[[:space:]]+/)
			if (n >= 4 && f[1] == "auto" && f[3] == "eq" &&
			    (want == "" || want == f[2])) {
				print f[2], f[4]
				exit
			}
		}
	' "$(geo_attr_conf_path)"
}

# The site whose attribute is updated.
geo_attr_site() {
	if command -v get_site_name >/dev/null 2>&1; then
		get_site_name
	else
		echo other
	fi
}

# $1 = 0: delete the attribute; anything else: set it.
geo_attr_geo_attr() {
	geo_attr_outcome=$1
	# shellcheck disable=SC2046
	set -- $(geo_attr_get_attr)
	[ $# -ge 2 ] || return 1
	geo_attr_where=$(geo_attr_site)
	if [ "$geo_attr_outcome" = 0 ]; then
		geostore delete -c "$OCF_RESKEY_booth_config" -t "$OCF_RESKEY_booth_ticket" \
			-s "$geo_attr_where" "$1" >/dev/null 2>&1
	else
		geostore set -c "$OCF_RESKEY_booth_config" -t "$OCF_RESKEY_booth_ticket" \
			-s "$geo_attr_where" "$1" "$2"
	fi
}

# Prints the attribute's current value.
geo_attr_read_attr() {
	# shellcheck disable=SC2046
	set -- $(geo_attr_get_attr)
	[ $# -ge 1 ] || return 1
	geostore get -c "$OCF_RESKEY_booth_config" -t "$OCF_RESKEY_booth_ticket" \
		-s "$(geo_attr_site)" "$1"
}

# 0 if no ticket is set or the ticket has an attribute to maintain.
geo_attr_validate_all() {
	[ -n "$OCF_RESKEY_booth_ticket" ] || return 0
	geo_attr_conf=$(geo_attr_conf_path)
	if [ ! -f "$geo_attr_conf" ]; then
		ocf_log err "booth configuration $geo_attr_conf does not exist"
		return 1
	fi
	if [ -z "$(geo_attr_get_attr)" ]; then
		if [ -n "$OCF_RESKEY_geo_attribute" ]; then
			ocf_log err "ticket $OCF_RESKEY_booth_ticket in $geo_attr_conf has no \"attr-prereq = auto $OCF_RESKEY_geo_attribute eq VALUE\""
		else
			ocf_log err "ticket $OCF_RESKEY_booth_ticket in $geo_attr_conf has no \"attr-prereq = auto NAME eq VALUE\""
		fi
		return 1
	fi
	return 0
}
