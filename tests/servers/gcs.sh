#!/bin/bash
# firebase-tools' Cloud Storage emulator on 127.0.0.1, started offline by gcs-emulator.js
# (see ../shared/TESTING.md, "GCS").
#
#   gcs.sh start DIR     objects in DIR/state (kept across restarts and kill -9); writes
#                        DIR/env (STORAGE_EMULATOR_HOST, GCS_ENDPOINT, GCS_TEST_BUCKET,
#                        COFFER_TEST_URL=gcs://coffer-test; the emulator serves any bucket
#                        name, and a bucket appears in its bucket list on its first upload)
#   gcs.sh stop DIR
#   gcs.sh restart DIR   stop, then start on the same port with the same objects
#
# The emulator has no authentication; tests of the service-account flow point the
# backend at it with GCS_ENDPOINT and run gcs-token-server.js for the token exchange.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/servers/lib.sh
. "$here/lib.sh"

GCS_BUCKET=coffer-test

gcs_start() { # DIR
	local dir=$1 modules port pid endpoint
	srv_require node curl
	modules=$(srv_node_modules) || srv_skip "firebase-tools is not installed and npm could not install it"
	[ -f "$modules/node_modules/firebase-tools/lib/emulator/storage/index.js" ] ||
		srv_skip "firebase-tools is missing in $modules"
	mkdir -p "$dir/state" || return 1
	port=$(cat "$dir/port" 2>/dev/null)
	if [ -n "$port" ]; then
		srv_wait_port_free "$port" 30 || { echo "gcs: port $port still busy" >&2; return 1; }
	else
		port=$(srv_free_port)
		echo "$port" >"$dir/port"
	fi
	node "$here/gcs-emulator.js" --host 127.0.0.1 --port "$port" --state "$dir/state" \
		--modules "$modules" >>"$dir/emulator.log" 2>&1 </dev/null &
	pid=$!
	endpoint="http://127.0.0.1:$port"
	cat >"$dir/env" <<EOF
export STORAGE_EMULATOR_HOST='$endpoint'
export GCS_ENDPOINT='$endpoint'
export GCS_TEST_BUCKET='$GCS_BUCKET'
export COFFER_TEST_URL='gcs://$GCS_BUCKET'
SRV_PORT='$port'
SRV_PIDS='$pid'
EOF
	if ! srv_wait_http "$endpoint/storage/v1/b/$GCS_BUCKET/o" 90; then
		tail -20 "$dir/emulator.log" >&2
		srv_stop "$dir"
		return 1
	fi
}

cmd=${1:-}
dir=${2:-}
[ -n "$dir" ] || { echo "usage: $0 start|stop|restart DIR" >&2; exit 2; }
case $cmd in
start) srv_enabled; gcs_start "$dir" ;;
stop) srv_stop "$dir" ;;
restart) srv_stop "$dir" && gcs_start "$dir" ;;
*) echo "usage: $0 start|stop|restart DIR" >&2; exit 2 ;;
esac
