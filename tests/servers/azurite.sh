#!/bin/bash
# Azurite, Microsoft's Blob storage emulator, on 127.0.0.1 (see ../shared/TESTING.md).
#
#   azurite.sh start DIR       state in DIR/data; writes DIR/env (endpoint, account, key,
#                              container "coffer-test" already created, COFFER_TEST_URL)
#   azurite.sh stop DIR
#   azurite.sh restart DIR     stop, then start on the same port with the same state
#   azurite.sh container DIR NAME      creates another container (Shared Key signed)
#   azurite.sh sas DIR PERMISSIONS [EXPIRY]   prints an account SAS token for the blob
#                              service (e.g. PERMISSIONS=rl: read + list only)
#
# The signing here is a second, independent implementation of Microsoft's Shared Key and
# account SAS formats (curl + openssl), so the tests do not check the plugin against itself.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/servers/lib.sh
. "$here/lib.sh"

AZURITE_ACCOUNT=devstoreaccount1
AZURITE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
AZURITE_CONTAINER=coffer-test
AZURE_API_VERSION=2021-08-06

azurite_hmac() { # base64 HMAC-SHA256 of stdin with the account key
	local hexkey
	hexkey=$(printf '%s' "$AZURITE_KEY" | base64 -d | od -An -v -tx1 | tr -d ' \n')
	openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hexkey" -binary | base64 -w0
}

azurite_create_container() { # ENDPOINT NAME: PUT ?restype=container, Shared Key signed
	local endpoint=$1 name=$2 date path sig code
	date=$(LC_ALL=C TZ=GMT date '+%a, %d %b %Y %H:%M:%S GMT')
	path=${endpoint#http://*/}
	# VERB, 11 standard headers (all empty here), x-ms-* headers, canonical resource: the
	# path-style URL path already names the account, so it appears twice.
	sig=$(printf 'PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:%s\nx-ms-version:%s\n/%s/%s/%s\nrestype:container' \
		"$date" "$AZURE_API_VERSION" "$AZURITE_ACCOUNT" "$path" "$name" | azurite_hmac)
	code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Length: 0' \
		-H "x-ms-date: $date" -H "x-ms-version: $AZURE_API_VERSION" \
		-H "Authorization: SharedKey $AZURITE_ACCOUNT:$sig" "$endpoint/$name?restype=container")
	case $code in
	201 | 409) return 0 ;;
	*) echo "azurite: creating container $name failed: HTTP $code" >&2; return 1 ;;
	esac
}

azurite_sas() { # PERMISSIONS [EXPIRY]: account SAS (version 2020-12-06+ string-to-sign)
	local sp=$1 se=${2:-} sig
	[ -n "$se" ] || se=$(date -u -d '+1 day' '+%Y-%m-%dT%H:%M:%SZ')
	# account, sp, ss, srt, st, se, sip, spr, sv, ses, and a final newline
	sig=$(printf '%s\n%s\nb\nsco\n\n%s\n\n\n%s\n\n' "$AZURITE_ACCOUNT" "$sp" "$se" "$AZURE_API_VERSION" |
		azurite_hmac)
	sig=$(printf '%s' "$sig" | python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.stdin.read(), safe=""))')
	printf 'sv=%s&ss=b&srt=sco&sp=%s&se=%s&sig=%s\n' "$AZURE_API_VERSION" "$sp" "$se" "$sig"
}

azurite_start() { # DIR
	local dir=$1 modules port pid endpoint
	srv_require node curl openssl python3
	modules=$(srv_node_modules) || srv_skip "azurite is not installed and npm could not install it"
	[ -f "$modules/node_modules/azurite/dist/src/blob/main.js" ] || srv_skip "azurite is missing in $modules"
	mkdir -p "$dir/data" || return 1
	if [ -f "$dir/port" ]; then
		port=$(cat "$dir/port")
		srv_wait_port_free "$port" 30 || { echo "azurite: port $port still busy" >&2; return 1; }
	else
		port=$(srv_free_port)
		echo "$port" >"$dir/port"
	fi
	node "$modules/node_modules/azurite/dist/src/blob/main.js" --silent --disableTelemetry \
		--skipApiVersionCheck --location "$dir/data" --blobHost 127.0.0.1 --blobPort "$port" \
		>>"$dir/azurite.log" 2>&1 </dev/null &
	pid=$!
	endpoint="http://127.0.0.1:$port/$AZURITE_ACCOUNT"
	cat >"$dir/env" <<EOF
export AZURE_STORAGE_ENDPOINT='$endpoint'
export AZURE_STORAGE_ACCOUNT='$AZURITE_ACCOUNT'
export AZURE_STORAGE_KEY='$AZURITE_KEY'
export AZURE_TEST_CONTAINER='$AZURITE_CONTAINER'
export COFFER_TEST_URL='azure://$AZURITE_CONTAINER'
SRV_PORT='$port'
SRV_PIDS='$pid'
EOF
	if ! srv_wait_http "$endpoint?comp=list" 60; then
		tail -20 "$dir/azurite.log" >&2
		srv_stop "$dir"
		return 1
	fi
	azurite_create_container "$endpoint" "$AZURITE_CONTAINER" || { srv_stop "$dir"; return 1; }
}

cmd=${1:-}
dir=${2:-}
[ -n "$dir" ] || { echo "usage: $0 start|stop|restart|container|sas DIR ..." >&2; exit 2; }
case $cmd in
start) srv_enabled; azurite_start "$dir" ;;
stop) srv_stop "$dir" ;;
restart) srv_stop "$dir" && azurite_start "$dir" ;;
container)
	# shellcheck disable=SC1091
	. "$dir/env" && azurite_create_container "$AZURE_STORAGE_ENDPOINT" "${3:?container name}" ;;
sas) azurite_sas "${3:?permissions}" "${4:-}" ;;
*) echo "usage: $0 start|stop|restart|container|sas DIR ..." >&2; exit 2 ;;
esac
