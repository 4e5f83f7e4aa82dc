#!/bin/bash
# backend-s3 against OpenStack Swift's s3api (tests/servers/swift.sh starts it):
#  1. the backend conformance suite, with small list pages, DeleteObjects batches and a
#     multipart threshold, so paging, batching and multipart really happen;
#  2. a full backup, restore (diff -r) and verify --read-data through S3, and
#     `repository status` naming the endpoint and bucket;
#  3. cross-check with Debian's aws CLI: it lists and downloads everything the backend
#     wrote, uploads it under another prefix, and coffer restores and verifies that copy;
#  4. a wrong secret: exit 3, the access key named, no secret or signature in any output
#     (COFFER_HTTP_DEBUG=1 too), nothing written;
#  5. the fault test: the Swift proxy is killed in the middle of a backup and started
#     again on the same port; the next backup succeeds and every snapshot restores and
#     verifies.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_src=${COFFER_TOP_SRCDIR:-$(cd "$here/.." && pwd)}
top_build=${COFFER_TOP_BUILDDIR:-$(pwd)}
. "$top_src/tests/servers/lib.sh"
srv_enabled
[ -f "$top_build/plugins/backend-s3/backend-s3.la" ] || { echo "SKIP: backend-s3 not built"; exit 77; }
aws=${COFFER_AWS_CLI:-/usr/bin/aws}
srv_require "$aws" python3

coffer="$top_build/core/bin/coffer"
runner="$top_build/tests/conformance_runner"
export COFFER_PLUGIN_PATH="$top_build/plugins/backend-s3:$top_build/plugins/codec:$top_build/plugins/frontend-cli"
export COFFER_TEST_SCRYPT_N=1024
export KOPIA_PASSWORD=s3-test-password
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_REGION KOPIA_S3_ENDPOINT AWS_S3_DISABLE_TLS KOPIA_S3_DISABLE_TLS
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=""

tmp=$(mktemp -d "${TMPDIR:-/tmp}/coffer-s3-XXXXXX")
srv=$tmp/swift
cleanup() {
	"$top_src/tests/servers/swift.sh" stop "$srv"
	rm -rf "$tmp"
}
trap cleanup EXIT
export KOPIA_CACHE_DIR=$tmp/cache

"$top_src/tests/servers/swift.sh" start "$srv"
rc=$?
[ $rc -eq 0 ] || exit $rc
. "$srv/env"
bucket=$COFFER_TEST_BUCKET
s3cli() { "$aws" --endpoint-url "$AWS_S3_ENDPOINT" "$@"; }

failures=0
ok() { echo "ok: $*"; }
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}
check() { # DESCRIPTION EXPECTED-STATUS ACTUAL-STATUS
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1 (expected exit $2, got $3)"; fi
}
must() { # DESCRIPTION COMMAND... (exit 0 expected; output in $tmp/out, $tmp/err)
	local d=$1
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	check "$d" 0 $rc
	[ $rc -eq 0 ] || cat "$tmp/out" "$tmp/err"
	return $rc
}
contains() { # DESCRIPTION FILE TEXT
	if grep -q -- "$3" "$2"; then ok "$1"; else
		fail "$1: '$3' not in:"
		cat "$2"
	fi
}
absent() { # DESCRIPTION FILE TEXT
	if grep -q -- "$3" "$2"; then
		fail "$1: '$3' found in:"
		grep -- "$3" "$2" | head -5
	else ok "$1"; fi
}
same_tree() { # DESCRIPTION A B
	if diff -r "$2" "$3" >"$tmp/diff" 2>&1; then ok "$1"; else
		fail "$1"
		head -20 "$tmp/diff"
	fi
}
make_tree() { # DIR FILES SIZE-KIB: random files, a few small ones, a subfolder
	local dir=$1 n=$2 kib=$3 i
	mkdir -p "$dir/sub/deeper"
	for i in $(seq 1 "$n"); do
		head -c $((kib * 1024)) /dev/urandom >"$dir/file-$i.bin"
	done
	seq 1 50000 >"$dir/sub/numbers.txt"
	echo "hello through s3" >"$dir/sub/deeper/hello.txt"
	: >"$dir/sub/empty"
	ln -s sub/deeper/hello.txt "$dir/link"
}

# Small pages and batches, and a 6 MiB multipart threshold with Swift's 5 MiB parts.
cat >"$tmp/coffer.conf" <<EOF
plugins = {
  backend-s3 = {
    page_size = 7;
    delete_batch = 100;
    multipart_threshold = 6291456;
    multipart_part_size = 5242880;
  };
};
EOF
export COFFER_CONFIG=$tmp/coffer.conf

# ------------------------------------------------------------------ 1. conformance
COFFER_HTTP_DEBUG=1 "$runner" --config "$tmp/coffer.conf" --expect-plugin-file backend-s3 \
	--large-size 12000000 --many 40 --threads 4 "s3://$bucket/conformance" >"$tmp/conf.log" 2>&1
rc=$?
check "conformance suite against Swift s3api" 0 $rc
[ $rc -eq 0 ] || grep -v '^\[coffer-http\]' "$tmp/conf.log" | tail -30
grep -q 'continuation-token=' "$tmp/conf.log" && ok "listings were paged" || fail "no listing was paged"
grep -q 'partNumber=2' "$tmp/conf.log" && ok "a multipart upload ran" || fail "no multipart upload"
grep -q '?delete' "$tmp/conf.log" && ok "DeleteObjects ran" || fail "no DeleteObjects request"
s3cli s3 ls --recursive "s3://$bucket/conformance/" >"$tmp/left" 2>&1
[ ! -s "$tmp/left" ] && ok "the suite left nothing behind" || { fail "leftovers:"; head "$tmp/left"; }

# ------------------------------------------------------------------ 2. backup, restore, verify
repo="s3://$bucket/repo1"
src=$tmp/src
make_tree "$src" 6 1500
head -c 9000000 /dev/urandom >"$src/big.bin"
must "repository create on S3" "$coffer" repository create --repository "$repo"
must "repository status" "$coffer" repository status --repository "$repo"
contains "status names the endpoint" "$tmp/out" "endpoint=$AWS_S3_ENDPOINT"
contains "status names the bucket and prefix" "$tmp/out" "bucket=$bucket prefix=repo1/"
# a bare host with KOPIA_S3_ENDPOINT and KOPIA_S3_DISABLE_TLS means plain http
env -u AWS_S3_ENDPOINT KOPIA_S3_ENDPOINT="${AWS_S3_ENDPOINT#http://}" KOPIA_S3_DISABLE_TLS=true \
	"$coffer" repository status --repository "$repo" >"$tmp/out" 2>"$tmp/err"
check "KOPIA_S3_ENDPOINT with a bare host and KOPIA_S3_DISABLE_TLS" 0 $?
contains "status shows the http endpoint and path style" "$tmp/out" "endpoint=$AWS_S3_ENDPOINT .*addressing=path"
must "snapshot create through S3" "$coffer" snapshot create "$src" --repository "$repo" --source test@host:/data --parallel 4
id1=$(tail -1 "$tmp/out")
mkdir -p "$tmp/restore1" "$tmp/restore2" "$tmp/restore3" "$tmp/restore4"
must "restore through S3" "$coffer" restore "$id1" "$tmp/restore1" --repository "$repo" --parallel 4
same_tree "restored tree equals the source" "$src" "$tmp/restore1"
must "verify --read-data through S3" "$coffer" snapshot verify --read-data --repository "$repo"

if [ "${COFFER_SERVER_TESTS:-1}" = quick ]; then
	# the sanitizer pass of tests/run-all.sh: conformance and one backup round trip only
	echo "COFFER_SERVER_TESTS=quick: stopping after the round trip; $failures failure(s)"
	[ "$failures" -eq 0 ]
	exit
fi

# ------------------------------------------------------------------ 3. aws CLI cross-check
s3cli s3 ls --recursive "s3://$bucket/repo1/" >"$tmp/aws-ls" 2>"$tmp/err"
check "aws CLI lists the repository" 0 $?
nobj=$(wc -l <"$tmp/aws-ls")
[ "$nobj" -gt 3 ] && ok "aws CLI sees $nobj objects" || fail "aws CLI sees only $nobj objects"
must "aws CLI downloads every object" s3cli s3 sync --only-show-errors "s3://$bucket/repo1" "$tmp/dl"
ndl=$(find "$tmp/dl" -type f | wc -l)
[ "$ndl" -eq "$nobj" ] && ok "downloaded all $ndl objects" || fail "downloaded $ndl of $nobj objects"
# sizes listed by aws equal the bytes downloaded
python3 - "$tmp/aws-ls" "$tmp/dl" repo1/ <<'PY' && ok "listed sizes match the downloads" || fail "sizes differ"
import os, sys
for line in open(sys.argv[1]):
    parts = line.split(None, 3)
    size, key = int(parts[2]), parts[3].rstrip("\n")
    path = os.path.join(sys.argv[2], key[len(sys.argv[3]):])
    assert os.path.getsize(path) == size, (key, size)
PY
must "aws CLI uploads the copy (multipart for large objects)" \
	s3cli s3 sync --only-show-errors "$tmp/dl" "s3://$bucket/repo2"
must "snapshot list of the aws-written copy" "$coffer" snapshot list --all --repository "s3://$bucket/repo2"
contains "the copy holds the snapshot" "$tmp/out" "${id1:0:8}"
must "restore from the aws-written copy" "$coffer" restore "$id1" "$tmp/restore2" --repository "s3://$bucket/repo2"
same_tree "tree from the aws-written copy equals the source" "$src" "$tmp/restore2"
must "verify --read-data of the aws-written copy" "$coffer" snapshot verify --read-data --repository "s3://$bucket/repo2"

# ------------------------------------------------------------------ 4. wrong secret
bad_secret=wrong-secret-not-testing
for debug in 0 1; do
	AWS_SECRET_ACCESS_KEY=$bad_secret COFFER_HTTP_DEBUG=$debug \
		"$coffer" repository create --repository "s3://$bucket/wrong" >"$tmp/auth" 2>&1
	check "wrong secret: authentication exit code (debug=$debug)" 3 $?
	contains "wrong secret: the access key id is named (debug=$debug)" "$tmp/auth" "test:tester"
	contains "wrong secret: the secret key is blamed (debug=$debug)" "$tmp/auth" "AWS_SECRET_ACCESS_KEY"
	absent "wrong secret: the secret is not shown (debug=$debug)" "$tmp/auth" "$bad_secret"
	absent "wrong secret: the real secret is not shown (debug=$debug)" "$tmp/auth" "$AWS_SECRET_ACCESS_KEY"
	if grep -Eq 'Signature=|[0-9a-f]{64}' "$tmp/auth"; then
		fail "wrong secret: a signature appears (debug=$debug)"
		grep -E 'Signature=|[0-9a-f]{64}' "$tmp/auth" | head -3
	else
		ok "wrong secret: no signature in the output (debug=$debug)"
	fi
done
s3cli s3 ls --recursive "s3://$bucket/wrong/" >"$tmp/wrong-ls" 2>&1
[ ! -s "$tmp/wrong-ls" ] && ok "wrong secret: nothing was written" || { fail "wrong secret wrote:"; cat "$tmp/wrong-ls"; }
AWS_ACCESS_KEY_ID=nobody:none "$coffer" snapshot list --all --repository "$repo" >"$tmp/auth" 2>&1
check "unknown access key: authentication exit code" 3 $?
contains "unknown access key: it is named" "$tmp/auth" "nobody:none"

# ------------------------------------------------------------------ 5. fault: the proxy dies mid-backup
src2=$tmp/src2
make_tree "$src2" 60 2048
objects() { find "$srv/srv" -name '*.data' 2>/dev/null | wc -l; }
before=$(objects)
export COFFER_HTTP_MAX_TOTAL_MS=3000 COFFER_HTTP_BASE_DELAY_MS=100
"$coffer" snapshot create "$src2" --repository "$repo" --source test@host:/big --parallel 2 >"$tmp/fault.out" 2>&1 &
backup=$!
waited=0
while [ "$(objects)" -lt $((before + 3)) ] && kill -0 $backup 2>/dev/null && [ $waited -lt 600 ]; do
	sleep 0.1
	waited=$((waited + 1))
done
"$top_src/tests/servers/swift.sh" stop-proxy "$srv"
wait $backup
rc=$?
if [ $rc -ne 0 ]; then
	ok "the backup failed when the proxy died (exit $rc)"
	[ $rc -eq 6 ] && ok "reported as transient (exit 6)" || { fail "exit $rc, not 6 (transient)"; tail -3 "$tmp/fault.out"; }
else
	fail "the backup finished before the proxy was killed; make the tree bigger"
fi
"$top_src/tests/servers/swift.sh" start-proxy "$srv"
check "proxy restarted on the same port" 0 $?
unset COFFER_HTTP_MAX_TOTAL_MS COFFER_HTTP_BASE_DELAY_MS
must "backup after the restart" "$coffer" snapshot create "$src2" --repository "$repo" --source test@host:/big --parallel 4
id2=$(tail -1 "$tmp/out")
must "restore the first snapshot after the fault" "$coffer" restore "$id1" "$tmp/restore3" --repository "$repo"
same_tree "first snapshot intact after the fault" "$src" "$tmp/restore3"
must "restore the snapshot made after the fault" "$coffer" restore "$id2" "$tmp/restore4" --repository "$repo"
same_tree "post-fault snapshot equals its source" "$src2" "$tmp/restore4"
must "verify --read-data after the fault" "$coffer" snapshot verify --read-data --repository "$repo"

echo "$failures failure(s)"
[ $failures -eq 0 ]
