#!/bin/sh
# The demo's target system, run by accessbot's exec adapter as `access.sh grant|revoke|extend`
# with the grant in ACCESSBOT_* environment variables. Access here is a file per grant in
# $ACCESS_DIR naming who may use what until when: `ls` that directory to see who has access now.
# A real deployment would create a database role or sign an SSH certificate instead.
set -eu
action=$1
case ${ACCESSBOT_GRANT_ID:-} in
'' | *[!A-Za-z0-9_-]*)
	echo "unexpected grant ID" >&2
	exit 2
	;;
esac
file=$ACCESS_DIR/$ACCESSBOT_RESOURCE.$ACCESSBOT_GRANT_ID
case $action in
grant | extend)
	mkdir -p "$ACCESS_DIR"
	printf '%s may use %s until %s (grant %s)\n' "$ACCESSBOT_ACCOUNT" "$ACCESSBOT_RESOURCE" \
		"$ACCESSBOT_EXPIRES" "$ACCESSBOT_GRANT_ID" >"$file.tmp"
	mv "$file.tmp" "$file"
	;;
revoke)
	rm -f "$file"
	;;
*)
	echo "unknown action $action" >&2
	exit 2
	;;
esac
