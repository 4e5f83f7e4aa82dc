#!/bin/bash
# TLS with a custom CA: nginx (tests/servers/nginx-tls.sh) serves Azurite over https with a
# certificate from a CA made in the test. With CUSTOM_CA the repository works end to end;
# without it the first request fails verification: exit 3 and a message about the
# certificate. Also --ca-file gives the same as CUSTOM_CA.
set -u
top_src=${COFFER_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
top_build=${COFFER_TOP_BUILDDIR:-$(pwd)}
# shellcheck source=tests/servers/lib.sh
. "$top_src/tests/servers/lib.sh"
srv_enabled
servers="$top_src/tests/servers"
coffer="$top_build/core/bin/coffer"
[ -f "$top_build/plugins/backend-azure/backend-azure.la" ] || { echo "SKIP: backend-azure was not built"; exit 77; }
export COFFER_PLUGIN_PATH="$top_build/plugins/backend-azure:$top_build/plugins/codec:$top_build/plugins/frontend-cli"
export COFFER_TEST_SCRYPT_N=1024 KOPIA_PASSWORD=tls-test-password
unset AZURE_STORAGE_SAS_TOKEN AZURE_STORAGE_ENDPOINT_SUFFIX CUSTOM_CA COFFER_CONFIG
tmp=$(srv_tmpdir)
trap '"$servers/nginx-tls.sh" stop "$tmp/nginx"; "$servers/azurite.sh" stop "$tmp/azurite"; rm -rf "$tmp"' EXIT
export KOPIA_CACHE_DIR=$tmp/cache
failures=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { # DESCRIPTION EXPECTED-STATUS ACTUAL-STATUS
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1 (expected exit $2, got $3)"; tail -20 "$tmp/out"; fi
}
run() { "$@" >"$tmp/out" 2>&1; }

"$servers/azurite.sh" start "$tmp/azurite"
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: azurite did not start"; exit 1; }
# shellcheck disable=SC1091
. "$tmp/azurite/env"
"$servers/nginx-tls.sh" start "$tmp/nginx" "$SRV_PORT"
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: nginx did not start"; exit 1; }
# shellcheck disable=SC1091
. "$tmp/nginx/env"
export AZURE_STORAGE_ENDPOINT="$TLS_ENDPOINT/$AZURE_STORAGE_ACCOUNT"
repo="azure://$AZURE_TEST_CONTAINER/tls"

src=$tmp/src
mkdir -p "$src/d"
head -c 700000 /dev/urandom >"$src/d/random.bin"
seq 1 20000 >"$src/numbers.txt"

run "$coffer" repository create --repository "$repo"
check "without the CA, repository create fails with exit 3" 3 $?
if grep -qiE 'certificate|CA' "$tmp/out"; then ok "the message is about the certificate: $(tail -1 "$tmp/out")"; else fail "no certificate/CA in:"; cat "$tmp/out"; fi

CUSTOM_CA=$TLS_CA_FILE run "$coffer" repository create --repository "$repo"
check "with CUSTOM_CA, repository create" 0 $?
CUSTOM_CA=$TLS_CA_FILE run "$coffer" repository status --repository "$repo"
check "repository status over https" 0 $?
grep -q "azure endpoint=https://127.0.0.1" "$tmp/out" && ok "status shows the https endpoint" || { fail "status lacks the https endpoint"; cat "$tmp/out"; }
CUSTOM_CA=$TLS_CA_FILE run "$coffer" snapshot create "$src" --repository "$repo" --source t@h:/tls
check "with CUSTOM_CA, snapshot create" 0 $?
run "$coffer" restore latest "$tmp/restore" --repository "$repo" --source t@h:/tls --ca-file "$TLS_CA_FILE"
check "with --ca-file, restore" 0 $?
if diff -r "$src" "$tmp/restore" >/dev/null 2>&1; then ok "restored tree equals the source"; else fail "restored tree differs"; fi
run "$coffer" snapshot list --repository "$repo" --all
check "without the CA, snapshot list fails with exit 3" 3 $?

echo "$failures failures"
[ $failures -eq 0 ]
