#!/bin/sh
# A target for the exec adapter's tests: it keeps access as one file per grant in $STATE_DIR,
# holding the account name. Called as: target.sh MODE [extra args...] ACTION.
set -u

mode=$1
for last in "$@"; do :; done
action=$last

if [ "$action" != "${ACCESSBOT_ACTION:-}" ]; then
	echo "last argument $action differs from ACCESSBOT_ACTION" >&2
	exit 2
fi
case $ACCESSBOT_GRANT_ID in
'' | *[!A-Za-z0-9_-]*)
	echo "refusing grant id" >&2
	exit 2
	;;
esac
file=$STATE_DIR/grant-$ACCESSBOT_GRANT_ID

case $mode in
normal)
	case $action in
	grant)
		printf '%s\n' "$ACCESSBOT_ACCOUNT" >"$file.tmp" && mv "$file.tmp" "$file" || exit 75
		# The lease names the grant, whose characters were checked above, so no JSON escaping
		# is needed; the account may hold anything.
		printf '{"lease":{"grant":"%s"},"secret":{"kind":"password","label":"password","value":"pw-%s"}}\n' \
			"$ACCESSBOT_GRANT_ID" "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
		;;
	revoke)
		rm -f "$file"
		;;
	extend)
		if [ ! -f "$file" ]; then
			echo "no grant $ACCESSBOT_GRANT_ID" >&2
			exit 1
		fi
		printf '%s\n' "$ACCESSBOT_EXPIRES_UNIX" >"$file.expires"
		;;
	*)
		echo "unknown action $action" >&2
		exit 2
		;;
	esac
	;;
env)
	env >"$STATE_DIR/env"
	;;
args)
	printf '%s\n' "$@" >"$STATE_DIR/args"
	;;
hang)
	# A child in the same process group, which the adapter must kill too.
	sleep 300 &
	echo $! >"$STATE_DIR/child.pid"
	wait
	;;
tempfail)
	echo "target is restarting, try later" >&2
	exit 75
	;;
fail)
	# More than 200 bytes of stderr, of which only the end must reach the error.
	i=0
	while [ $i -lt 30 ]; do
		printf 'noise-%02d ' $i >&2
		i=$((i + 1))
	done
	echo "unknown account $ACCESSBOT_ACCOUNT" >&2
	exit 1
	;;
*)
	echo "unknown mode $mode" >&2
	exit 2
	;;
esac
