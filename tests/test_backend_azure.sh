#!/bin/bash
# backend-azure against Azurite (tests/servers/azurite.sh): the conformance suite with small
# pages and blocks; backup, restore and verify --read-data through the CLI; a wrong account
# key and a read-only SAS (exit 3, no secret in any output, nothing written); and Azurite
# killed in the middle of a backup, then started again on the same port and state.
set -u
top_src=${COFFER_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
top_build=${COFFER_TOP_BUILDDIR:-$(pwd)}
# shellcheck source=tests/servers/lib.sh
. "$top_src/tests/servers/lib.sh"
srv_enabled
azurite="$top_src/tests/servers/azurite.sh"
coffer="$top_build/core/bin/coffer"
plugin="$top_build/plugins/backend-azure/backend-azure.la"
[ -f "$plugin" ] || { echo "SKIP: backend-azure was not built"; exit 77; }
export COFFER_PLUGIN_PATH="$top_build/plugins/backend-azure:$top_build/plugins/codec:$top_build/plugins/frontend-cli"
export COFFER_TEST_SCRYPT_N=1024 KOPIA_PASSWORD=azure-test-password
unset AZURE_STORAGE_SAS_TOKEN AZURE_STORAGE_ENDPOINT_SUFFIX CUSTOM_CA COFFER_HTTP_DEBUG
tmp=$(srv_tmpdir)
srv=$tmp/azurite
trap '"$azurite" stop "$srv"; rm -rf "$tmp"' EXIT
export KOPIA_CACHE_DIR=$tmp/cache
failures=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { # DESCRIPTION EXPECTED-STATUS ACTUAL-STATUS
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1 (expected exit $2, got $3)"; cat "$tmp/out" 2>/dev/null | tail -20; fi
}
run() { "$@" >"$tmp/out" 2>&1; }
contains() { # DESCRIPTION FILE TEXT
	if grep -q -- "$3" "$2"; then ok "$1"; else fail "$1: '$3' not in:"; tail -20 "$2"; fi
}
lacks() { # DESCRIPTION FILE TEXT
	if grep -q -- "$3" "$2"; then fail "$1: '$3' found in:"; grep -- "$3" "$2" | head -5; else ok "$1"; fi
}

"$azurite" start "$srv"
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: azurite did not start"; exit 1; }
# shellcheck disable=SC1091
. "$srv/env"
good_key=$AZURE_STORAGE_KEY

# Blob names under the container, read with Shared Key by curl+openssl (azurite.sh's own
# signer), so the listing does not depend on the plugin.
blob_names() { # PREFIX
	local sas
	sas=$("$azurite" sas "$srv" rl)
	curl -s "$AZURE_STORAGE_ENDPOINT/$AZURE_TEST_CONTAINER?restype=container&comp=list&prefix=$1&$sas" |
		grep -o '<Name>[^<]*</Name>' | sort
}

# Small pages and blocks so that paging and Put Block really happen.
cat >"$tmp/coffer.cfg" <<'EOF'
plugins = { backend-azure = { page_size = 5; block_threshold = 262144; block_size = 100000; }; };
EOF
export COFFER_CONFIG=$tmp/coffer.cfg

# ------------------------------------------------------------------ conformance
"$top_build/tests/conformance_runner" --config "$tmp/coffer.cfg" --expect-plugin-file backend-azure \
	--many 40 --large-size 1500007 --threads 4 "azure://$AZURE_TEST_CONTAINER/conformance" >"$tmp/conf.log" 2>&1
rc=$?
check "conformance suite on azure://$AZURE_TEST_CONTAINER/conformance" 0 $rc
[ $rc -eq 0 ] || cat "$tmp/conf.log"

# ------------------------------------------------------------------ backup, restore, verify
repo="azure://$AZURE_TEST_CONTAINER/repo"
src=$tmp/src
mkdir -p "$src/dir/sub" "$src/empty"
head -c 2500000 /dev/urandom >"$src/dir/random.bin"
seq 1 100000 >"$src/dir/sub/numbers.txt"
for i in $(seq 1 30); do head -c $((i * 997)) /dev/urandom >"$src/dir/small-$i"; done
echo hello >"$src/hello.txt"
ln -s hello.txt "$src/link"

run "$coffer" repository create --repository "$repo"
check "repository create" 0 $?
run "$coffer" repository status --repository "$repo"
check "repository status" 0 $?
contains "status names the backend and endpoint" "$tmp/out" "azure endpoint=$AZURE_STORAGE_ENDPOINT"
contains "status names account and container" "$tmp/out" "account=devstoreaccount1 container=$AZURE_TEST_CONTAINER prefix=repo/"
contains "status names the auth mode" "$tmp/out" "auth=sharedkey"
run "$coffer" snapshot create "$src" --repository "$repo" --source test@host:/data
check "snapshot create" 0 $?
id1=$(tail -1 "$tmp/out")
run "$coffer" restore latest "$tmp/restore1" --repository "$repo" --source test@host:/data
check "restore latest" 0 $?
if diff -r --no-dereference "$src" "$tmp/restore1" >"$tmp/diff" 2>&1; then ok "restored tree equals the source"; else fail "restored tree differs"; head "$tmp/diff"; fi
run "$coffer" snapshot verify --read-data --repository "$repo"
check "snapshot verify --read-data" 0 $?

if [ "${COFFER_SERVER_TESTS:-1}" = quick ]; then
	# the sanitizer pass of tests/run-all.sh: conformance and one backup round trip only
	echo "COFFER_SERVER_TESTS=quick: stopping after the round trip; $failures failure(s)"
	[ "$failures" -eq 0 ]
	exit
fi

# ------------------------------------------------------------------ wrong account key
before=$(blob_names repo/)
wrong_key=$(head -c 64 /dev/urandom | base64 -w0)
echo "changed" >>"$src/hello.txt"
AZURE_STORAGE_KEY=$wrong_key COFFER_HTTP_DEBUG=1 run "$coffer" snapshot create "$src" --repository "$repo" --source test@host:/data
check "backup with a wrong account key exits 3" 3 $?
cp "$tmp/out" "$tmp/wrongkey.out"
contains "the message names the account" "$tmp/wrongkey.out" "devstoreaccount1"
contains "the message names the credential" "$tmp/wrongkey.out" "AZURE_STORAGE_KEY"
lacks "the wrong key is not printed" "$tmp/wrongkey.out" "$wrong_key"
lacks "the right key is not printed" "$tmp/wrongkey.out" "$good_key"
if grep -Eq 'SharedKey [^ ]*:[A-Za-z0-9+/]{43}=' "$tmp/wrongkey.out"; then fail "a signature is printed"; else ok "no signature in the debug log"; fi
AZURE_STORAGE_KEY=$wrong_key run "$coffer" repository create --repository "azure://$AZURE_TEST_CONTAINER/other"
check "repository create with a wrong key exits 3" 3 $?
[ "$(blob_names repo/)" = "$before" ] && ok "nothing written with the wrong key" || fail "blobs changed after a refused backup"
[ -z "$(blob_names other/)" ] && ok "no repository half-created with the wrong key" || fail "blobs under other/"

# ------------------------------------------------------------------ read-only SAS
sas=$("$azurite" sas "$srv" rl)
sas_sig=${sas##*sig=}
ro() { # SAS-TOKEN COMMAND...: runs with only the SAS, output in $tmp/out
	local token=$1
	shift
	(unset AZURE_STORAGE_KEY; export AZURE_STORAGE_SAS_TOKEN=$token COFFER_HTTP_DEBUG=1; "$@") >"$tmp/out" 2>&1
}
ro "?$sas" "$coffer" snapshot list --repository "$repo" --all
check "read-only SAS (with a leading '?') lists snapshots" 0 $?
contains "the listing shows the first snapshot" "$tmp/out" "$id1"
cat "$tmp/out" >"$tmp/sas.out"
ro "$sas" "$coffer" restore latest "$tmp/restore-sas" --repository "$repo" --source test@host:/data
check "read-only SAS restores" 0 $?
cat "$tmp/out" >>"$tmp/sas.out"
ro "$sas" "$coffer" repository status --repository "$repo"
contains "status shows auth=sas" "$tmp/out" "auth=sas"
before=$(blob_names repo/)
ro "$sas" "$coffer" snapshot create "$src" --repository "$repo" --source test@host:/data
check "backup with a read-only SAS exits 3" 3 $?
cat "$tmp/out" >>"$tmp/sas.out"
contains "the refusal names the account" "$tmp/out" "devstoreaccount1"
contains "the refusal names the SAS" "$tmp/out" "AZURE_STORAGE_SAS_TOKEN"
lacks "the SAS signature is not printed" "$tmp/sas.out" "$sas_sig"
lacks "the decoded SAS signature is not printed" "$tmp/sas.out" "$(printf '%b' "${sas_sig//%/\\x}")"
[ "$(blob_names repo/)" = "$before" ] && ok "nothing written with the read-only SAS" || fail "blobs changed after a refused SAS backup"

# ------------------------------------------------------------------ fault: server killed mid-backup
mkdir -p "$src/big"
for i in $(seq 1 24); do head -c 1500000 /dev/urandom >"$src/big/f$i"; done
stored() { du -sk "$srv/data" | cut -f1; }
start_size=$(stored)
COFFER_HTTP_MAX_ATTEMPTS=3 COFFER_HTTP_MAX_TOTAL_MS=4000 \
	"$coffer" snapshot create "$src" --repository "$repo" --source test@host:/data >"$tmp/fault.out" 2>&1 &
backup=$!
# Once the backup has stored a few MB, kill the server under it (SIGKILL: no clean shutdown).
for _ in $(seq 400); do
	[ "$(stored)" -gt $((start_size + 3000)) ] && break
	sleep 0.05
done
# shellcheck disable=SC1091
kill -9 $(. "$srv/env" && echo "$SRV_PIDS")
wait $backup
rc=$?
if [ $rc -ne 0 ]; then ok "the interrupted backup failed (exit $rc): $(tail -1 "$tmp/fault.out")"; else fail "the backup finished before the server was killed"; fi
"$azurite" start "$srv" || { fail "azurite did not start again"; exit 1; }
run "$coffer" snapshot create "$src" --repository "$repo" --source test@host:/data
check "the next backup succeeds" 0 $?
run "$coffer" snapshot list --repository "$repo" --all --json
# newest first
ids=$(python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(open(sys.argv[1]))))' "$tmp/out" 2>/dev/null)
[ -n "$ids" ] || fail "no snapshot ids after the fault"
n=0
for id in $ids; do
	n=$((n + 1))
	run "$coffer" restore "$id" "$tmp/after-$n" --repository "$repo"
	check "snapshot $id restores after the fault" 0 $?
done
if diff -r --no-dereference "$src" "$tmp/after-1" >/dev/null 2>&1; then ok "the newest snapshot equals the source"; else fail "the newest snapshot differs from the source"; fi
if diff -r --no-dereference "$tmp/restore1" "$tmp/after-$n" >/dev/null 2>&1; then ok "the first snapshot is intact"; else fail "the first snapshot changed"; fi
run "$coffer" snapshot verify --read-data --repository "$repo"
check "verify --read-data after the fault" 0 $?

echo "$failures failures"
[ $failures -eq 0 ]
