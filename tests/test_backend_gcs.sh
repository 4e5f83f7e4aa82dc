#!/bin/bash
# backend-gcs against firebase-tools' storage emulator (tests/servers/gcs.sh):
#  1. the conformance suite in emulator mode (STORAGE_EMULATOR_HOST), 7 objects per
#     listing page so paging happens, resumable uploads above 1 MiB;
#  2. backup, restore (diff -r) and verify --read-data through the CLI, gs:// and status;
#  3. the service-account flow: an RSA key made here, GOOGLE_APPLICATION_CREDENTIALS
#     holding the JSON (and a path), token_uri at gcs-token-server.js, which checks the
#     JWT's RS256 signature with the public half and proxies to the emulator only with
#     its tokens; the assertion is checked again with `openssl dgst -verify`;
#     a token is reused across requests, a 2-second one is refreshed; a key the token
#     endpoint does not know is exit 3 naming the account and token_uri, no secrets shown;
#  4. a fault: the emulator is killed (-9) in the middle of a backup, which fails; it is
#     restarted on the same port with its objects (the launcher journals them), the next
#     backup succeeds and every earlier snapshot restores and verifies intact.
set -u
top_build=${COFFER_TOP_BUILDDIR:-$(pwd)}
top_src=${COFFER_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
servers="$top_src/tests/servers"
# shellcheck source=tests/servers/lib.sh
. "$servers/lib.sh"
srv_enabled
coffer="$top_build/core/bin/coffer"
runner="$top_build/tests/conformance_runner"
[ -f "$top_build/plugins/backend-gcs/backend-gcs.la" ] || { echo "SKIP: backend-gcs not built"; exit 77; }
srv_require node openssl python3 curl

export COFFER_PLUGIN_PATH="$top_build/plugins/backend-gcs:$top_build/plugins/codec:$top_build/plugins/frontend-cli"
export COFFER_TEST_SCRYPT_N=1024
export KOPIA_PASSWORD=gcs-test-password
tmp=$(srv_tmpdir)
token_pids=""
cleanup() {
	"$servers/gcs.sh" stop "$tmp/emu" >/dev/null 2>&1
	# shellcheck disable=SC2086
	[ -n "$token_pids" ] && srv_stop_pids $token_pids
	rm -rf "$tmp"
}
trap cleanup EXIT
export KOPIA_CACHE_DIR=$tmp/cache
failures=0
check() { # DESCRIPTION EXPECTED-STATUS ACTUAL-STATUS
	if [ "$2" = "$3" ]; then
		echo "ok: $1"
	else
		echo "FAIL: $1 (expected exit $2, got $3)"
		failures=$((failures + 1))
	fi
}
must() { # DESCRIPTION COMMAND...: exit 0 expected; output in $tmp/out
	local d=$1
	shift
	"$@" >"$tmp/out" 2>&1
	local rc=$?
	check "$d" 0 $rc
	[ $rc -eq 0 ] || tail -20 "$tmp/out"
	return $rc
}
contains() { # DESCRIPTION FILE TEXT
	if grep -qF -- "$3" "$2"; then echo "ok: $1"; else echo "FAIL: $1: '$3' not in:"; tail -20 "$2"; failures=$((failures + 1)); fi
}
lacks() { # DESCRIPTION FILE TEXT
	if grep -qF -- "$3" "$2"; then echo "FAIL: $1: '$3' found in:"; tail -20 "$2"; failures=$((failures + 1)); else echo "ok: $1"; fi
}
stat_of() { # PORT KEY: a counter of a token server
	curl -s "http://127.0.0.1:$1/stats" | python3 -c "import json, sys; print(json.load(sys.stdin)['$2'])"
}

"$servers/gcs.sh" start "$tmp/emu"
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: the storage emulator did not start"; exit 1; }
# shellcheck disable=SC1091
. "$tmp/emu/env"
emulator=$STORAGE_EMULATOR_HOST
bucket=$GCS_TEST_BUCKET
unset GCS_ENDPOINT

# ---------------------------------------------------------------- 1. conformance
echo "--- 1. conformance (at ${SECONDS}s)"
cat >"$tmp/coffer.conf" <<'EOF'
plugins = { backend-gcs = { page_size = 7; resumable_threshold = 1048576; }; };
EOF
COFFER_HTTP_DEBUG=1 "$runner" --config "$tmp/coffer.conf" --many 60 --large-size 3000000 \
	"gcs://$bucket/conformance" >"$tmp/conf.log" 2>&1
check "conformance suite in emulator mode" 0 $?
grep -E '^[0-9]+%:|FAIL|:F:' "$tmp/conf.log" | cut -c1-400
contains "listing pages of 7 objects" "$tmp/conf.log" "maxResults=7"
contains "listing follows nextPageToken" "$tmp/conf.log" "&pageToken="
contains "large blobs take a resumable upload" "$tmp/conf.log" "uploadType=resumable&upload_id="
contains "small blobs take a media upload" "$tmp/conf.log" "uploadType=media"

# ---------------------------------------------------------------- 2. end to end
echo "--- 2. end to end (at ${SECONDS}s)"
src=$tmp/src
mkdir -p "$src/dir/sub" "$src/empty"
head -c 3000000 /dev/urandom >"$src/dir/random.bin"
seq 1 200000 >"$src/dir/sub/numbers.txt"
echo hello >"$src/hello.txt"
ln -s hello.txt "$src/link"
printf 'x' >"$src/dir/caf$(printf '\xc3\xa9')"
repo="gcs://$bucket/e2e/repo"
must "repository create on $repo" "$coffer" repository create --repository "$repo"
must "snapshot create" "$coffer" snapshot create "$src" --source app@host:/data --repository "$repo"
must "repository status" "$coffer" repository status --repository "$repo"
contains "status describes the backend" "$tmp/out" "gcs endpoint=$emulator bucket=$bucket prefix=e2e/repo/ auth=emulator"
must "restore latest" "$coffer" restore latest "$tmp/restore1" --source app@host:/data --repository "$repo"
diff -r "$src" "$tmp/restore1" >"$tmp/diff" 2>&1
check "restored tree equals the source" 0 $?
must "snapshot verify --read-data" "$coffer" snapshot verify --read-data --repository "$repo"
must "the gs:// scheme opens the same repository" "$coffer" snapshot list --all --repository "gs://$bucket/e2e/repo"
contains "gs:// lists the snapshot" "$tmp/out" "app@host:/data"

if [ "${COFFER_SERVER_TESTS:-1}" = quick ]; then
	# the sanitizer pass of tests/run-all.sh: conformance and one backup round trip only
	echo "COFFER_SERVER_TESTS=quick: stopping after the round trip; $failures failure(s)"
	[ "$failures" -eq 0 ]
	exit
fi

# ---------------------------------------------------------------- 3. service account
echo "--- 3. service account (at ${SECONDS}s)"
email=backup@coffer-test.iam.gserviceaccount.com
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/sa.pem" 2>/dev/null &&
	openssl pkey -in "$tmp/sa.pem" -pubout -out "$tmp/sa.pub" &&
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp/other.pem" 2>/dev/null &&
	openssl pkey -in "$tmp/other.pem" -pubout -out "$tmp/other.pub" || { echo "FAIL: openssl key generation"; exit 1; }

start_token_server() { # PUBKEY EXPIRES-IN DELAY-MS: sets tport
	tport=$(srv_free_port)
	node "$servers/gcs-token-server.js" --port "$tport" --pubkey "$1" --email "$email" \
		--expires-in "$2" --delay-ms "$3" --upstream "$emulator" --record "$tmp/assertion.$tport" \
		>>"$tmp/token-server.log" 2>&1 </dev/null &
	token_pids="$token_pids $!"
	srv_wait_http "http://127.0.0.1:$tport/stats" 30 || { echo "FAIL: token server did not start"; exit 1; }
}
sa_json() { # TOKEN-PORT: the service-account key JSON for sa.pem
	python3 - "$tmp/sa.pem" "$email" "http://127.0.0.1:$1/token" <<'EOF'
import json, sys
print(json.dumps({"type": "service_account", "project_id": "coffer-test",
                  "private_key_id": "0123456789abcdef", "private_key": open(sys.argv[1]).read(),
                  "client_email": sys.argv[2], "client_id": "1", "token_uri": sys.argv[3]}, indent=2))
EOF
}
as_account() { # TOKEN-PORT COMMAND...: runs with the key and no emulator mode
	local port=$1
	shift
	env -u STORAGE_EMULATOR_HOST GCS_ENDPOINT="http://127.0.0.1:$port" \
		GOOGLE_APPLICATION_CREDENTIALS="$(sa_json "$port")" "$@"
}

start_token_server "$tmp/sa.pub" 3600 0
long=$tport
sarepo="gcs://$bucket/sa/repo"
must "repository create with a service account" as_account "$long" "$coffer" repository create --repository "$sarepo"
check "the token endpoint verified one assertion" 1 "$(stat_of "$long" exchanges)"
must "snapshot create with a service account" as_account "$long" "$coffer" snapshot create "$src" \
	--source app@host:/data --repository "$sarepo"
proxied=$(stat_of "$long" proxied)
check "one token per process, reused for all $proxied requests" 2 "$(stat_of "$long" exchanges)"
[ "$proxied" -gt 10 ] && echo "ok: $proxied authenticated requests" ||
	{ echo "FAIL: only $proxied authenticated requests"; failures=$((failures + 1)); }
check "no request went without a valid token" 0 "$(stat_of "$long" unauthorized)"
must "status with a service account" as_account "$long" "$coffer" repository status --repository "$sarepo"
contains "status names the service account" "$tmp/out" "auth=service-account $email"
sa_json "$long" >"$tmp/sa.json"
must "GOOGLE_APPLICATION_CREDENTIALS as a file path" env -u STORAGE_EMULATOR_HOST \
	GCS_ENDPOINT="http://127.0.0.1:$long" GOOGLE_APPLICATION_CREDENTIALS="$tmp/sa.json" \
	"$coffer" restore latest "$tmp/restore-sa" --source app@host:/data --repository "$sarepo"
diff -r "$src" "$tmp/restore-sa" >"$tmp/diff" 2>&1
check "restored through the service account equals the source" 0 $?

# The assertion again, checked apart from the token server: openssl over header.claims.
python3 - "$tmp/assertion.$long" "$tmp/jwt" <<'EOF'
import base64, json, sys
h, c, s = open(sys.argv[1]).read().split(".")
dec = lambda p: base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))
open(sys.argv[2] + ".input", "w").write(h + "." + c)
open(sys.argv[2] + ".sig", "wb").write(dec(s))
json.dump({"header": json.loads(dec(h)), "claims": json.loads(dec(c))}, open(sys.argv[2] + ".json", "w"))
EOF
openssl dgst -sha256 -verify "$tmp/sa.pub" -signature "$tmp/jwt.sig" "$tmp/jwt.input" >"$tmp/out" 2>&1
check "openssl dgst -verify accepts the JWT signature" 0 $?
openssl dgst -sha256 -verify "$tmp/other.pub" -signature "$tmp/jwt.sig" "$tmp/jwt.input" >"$tmp/out" 2>&1
check "openssl dgst -verify refuses it with another key" 1 $?
contains "JWT header is RS256 with the key id" "$tmp/jwt.json" '"alg": "RS256", "typ": "JWT", "kid": "0123456789abcdef"'
contains "JWT audience is the token_uri" "$tmp/jwt.json" "\"aud\": \"http://127.0.0.1:$long/token\""

# A 2-second token: the backend must fetch new ones during one long process (the proxy
# refuses expired tokens, so success means it refreshed in time).
start_token_server "$tmp/sa.pub" 2 250
short=$tport
must "backup with 2-second tokens" as_account "$short" "$coffer" snapshot create "$src" \
	--source app@host:/short --repository "$sarepo" --force-hash
must "verify --read-data with 2-second tokens" as_account "$short" "$coffer" snapshot verify \
	--read-data --repository "$sarepo"
exchanges=$(stat_of "$short" exchanges)
[ "$exchanges" -gt 2 ] && echo "ok: short tokens were refreshed ($exchanges exchanges, 2 processes)" ||
	{ echo "FAIL: expected refreshes, saw $exchanges exchanges"; failures=$((failures + 1)); }
check "no request went with an expired token" 0 "$(stat_of "$short" unauthorized)"

# A key the token endpoint does not know: authentication error, nothing secret shown.
start_token_server "$tmp/other.pub" 3600 0
wrong=$tport
as_account "$wrong" "$coffer" snapshot list --all --repository "$sarepo" >"$tmp/wrong.out" 2>&1
check "a key the token endpoint refuses is exit 3" 3 $?
head -3 "$tmp/wrong.out"
contains "the message names the account" "$tmp/wrong.out" "$email"
contains "the message names the token endpoint" "$tmp/wrong.out" "http://127.0.0.1:$wrong/token"
contains "the message gives the endpoint's reason" "$tmp/wrong.out" "Invalid JWT Signature"
check "the refused exchange reached the token server" 1 "$(stat_of "$wrong" refused)"
COFFER_HTTP_DEBUG=1 as_account "$wrong" "$coffer" repository status --repository "$sarepo" >>"$tmp/wrong.out" 2>&1
key_line=$(sed -n 5p "$tmp/sa.pem")
lacks "no private key in the output" "$tmp/wrong.out" "PRIVATE KEY"
lacks "no piece of the private key in the output" "$tmp/wrong.out" "$key_line"
lacks "no assertion in the output" "$tmp/wrong.out" "$(cut -c1-40 "$tmp/assertion.$wrong")"
lacks "no access token in the output" "$tmp/wrong.out" "ya29.test-"
env -u STORAGE_EMULATOR_HOST -u GOOGLE_APPLICATION_CREDENTIALS "$coffer" snapshot list --all \
	--repository "$sarepo" >"$tmp/out" 2>&1
check "no credentials at all is exit 3" 3 $?
contains "the message says what to set" "$tmp/out" "GOOGLE_APPLICATION_CREDENTIALS"

# ---------------------------------------------------------------- 4. fault
echo "--- 4. fault (at ${SECONDS}s)"
big=$tmp/big
mkdir -p "$big"
for i in 1 2 3 4 5 6; do head -c 12000000 /dev/urandom >"$big/f$i"; done
cp -r "$src" "$big/src"
objects() { find "$tmp/emu/state/meta" -name '*.json' | wc -l; }
before=$(objects)
COFFER_HTTP_MAX_TOTAL_MS=2000 "$coffer" snapshot create "$big" --source app@host:/big \
	--repository "$repo" --parallel 2 >"$tmp/fault.out" 2>&1 &
backup=$!
# kill once the backup has stored a few objects
for _ in $(seq 300); do
	[ "$(objects)" -gt $((before + 2)) ] && break
	kill -0 $backup 2>/dev/null || break
	sleep 0.05
done
kill -9 "$(. "$tmp/emu/env" && echo "$SRV_PIDS")"
wait $backup
rc=$?
[ "$rc" -ne 0 ] && echo "ok: the interrupted backup failed (exit $rc)" ||
	{ echo "FAIL: the backup finished before the kill; the fault test did not interrupt it"; failures=$((failures + 1)); }
"$servers/gcs.sh" restart "$tmp/emu" >/dev/null 2>&1
check "emulator restarted on the same port" 0 $?
contains "the emulator restored its objects" "$tmp/emu/emulator.log" "objects restored"
must "the next backup succeeds" "$coffer" snapshot create "$big" --source app@host:/big --repository "$repo"
must "restore the snapshot taken before the fault" "$coffer" restore latest "$tmp/restore2" \
	--source app@host:/data --repository "$repo"
diff -r "$src" "$tmp/restore2" >"$tmp/diff" 2>&1
check "the earlier snapshot is intact" 0 $?
must "restore the snapshot taken after the fault" "$coffer" restore latest "$tmp/restore3" \
	--source app@host:/big --repository "$repo"
diff -r "$big" "$tmp/restore3" >"$tmp/diff" 2>&1
check "the new snapshot is intact" 0 $?
must "verify --read-data after the fault" "$coffer" snapshot verify --read-data --repository "$repo"

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) failed"
	exit 1
fi
echo "all backend-gcs checks passed in ${SECONDS}s"
