#!/bin/bash
# End-to-end through the coffer executable: create a filesystem repository, back up a
# tree with every kind of entry, list, restore and compare, and the documented failure
# modes with their exit codes.
set -u
top_build=${COFFER_TOP_BUILDDIR:-$(pwd)}
coffer="$top_build/core/bin/coffer"
export COFFER_PLUGIN_PATH="$top_build/plugins/backend-fs:$top_build/plugins/codec:$top_build/plugins/frontend-cli"
export COFFER_TEST_SCRYPT_N=1024
export KOPIA_PASSWORD=correct-horse
tmp=$(mktemp -d /tmp/coffer-cli-XXXXXX)
trap 'chmod -R u+rwx "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
export KOPIA_CACHE_DIR=$tmp/cache
repo="filesystem://$tmp/repo"
failures=0
check() { # DESCRIPTION EXPECTED-STATUS ACTUAL-STATUS
	if [ "$2" = "$3" ]; then
		echo "ok: $1"
	else
		echo "FAIL: $1 (expected exit $2, got $3)"
		failures=$((failures + 1))
	fi
}
must() { # DESCRIPTION COMMAND... (exit 0 expected)
	local d=$1
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	check "$d" 0 $rc
	[ $rc -eq 0 ] || { cat "$tmp/out" "$tmp/err"; }
	return $rc
}
contains() { # DESCRIPTION FILE TEXT
	if grep -q -- "$3" "$2"; then echo "ok: $1"; else echo "FAIL: $1: '$3' not in:"; cat "$2"; failures=$((failures + 1)); fi
}

src=$tmp/src
mkdir -p "$src/dir/sub/deeper" "$src/empty-dir"
head -c 3000000 /dev/urandom >"$src/dir/random.bin"
seq 1 200000 >"$src/dir/sub/numbers.txt"
: >"$src/empty-file"
echo "hello" >"$src/hello.txt"
ln -s hello.txt "$src/link-to-hello"
ln -s /nonexistent/target "$src/dangling"
ln "$src/hello.txt" "$src/dir/hardlink-to-hello"
printf 'x' >"$src/$(printf 'latin1-\xe9\xe8')"
long=$(printf 'n%.0s' $(seq 1 250))
echo long >"$src/dir/$long"
mkfifo "$src/fifo"
chmod 0751 "$src/dir"
chmod 0604 "$src/hello.txt"
touch -d '2001-02-03 04:05:06.123456789' "$src/dir/sub/numbers.txt"
setfattr -n user.coffer -v test-value "$src/hello.txt" 2>/dev/null && have_xattr=1 || have_xattr=0

"$coffer" repository create --repository "$repo" >"$tmp/out" 2>&1
check "repository create" 0 $?
"$coffer" repository create --repository "$repo" >"$tmp/out" 2>&1
check "repository create refuses an existing repository" 1 $?
contains "create twice says it exists" "$tmp/out" "exist"

must "snapshot create" "$coffer" snapshot create "$src" --repository "$repo" --source "test@host:/data" --tag purpose=test
id1=$(tail -1 "$tmp/out")
[ ${#id1} -eq 32 ] && echo "ok: snapshot id printed ($id1)" || { echo "FAIL: no snapshot id: $id1"; failures=$((failures + 1)); }

must "snapshot list --json" "$coffer" snapshot list --all --repository "$repo" --json
contains "list shows the id" "$tmp/out" "$id1"
contains "list shows the source" "$tmp/out" "test@host:/data"

must "second snapshot (unchanged tree)" "$coffer" snapshot create "$src" --repository "$repo" --source "test@host:/data" --json
python3 - "$tmp/out" <<'PY' && echo "ok: unchanged files are not read again" || { echo "FAIL: incremental"; exit 1; }
import json, sys
s = json.load(open(sys.argv[1]))["stats"]
assert s["cachedFiles"] == s["files"] and s["files"] > 0, s
PY
[ $? -eq 0 ] || failures=$((failures + 1))

dest=$tmp/restore
mkdir -p "$dest"
must "restore by id" "$coffer" restore "$id1" "$dest" --repository "$repo"
# diff reports every fifo pair as a difference; the fifo is checked on its own below
diff -r --no-dereference "$src" "$dest" 2>&1 | grep -v 'is a fifo while file .* is a fifo' >"$tmp/diff"
if [ ! -s "$tmp/diff" ]; then echo "ok: restored tree equals the source"; else echo "FAIL: restored tree differs"; cat "$tmp/diff"; failures=$((failures + 1)); fi
[ "$(stat -c %y "$dest/dir/sub/numbers.txt")" = "$(stat -c %y "$src/dir/sub/numbers.txt")" ] && echo "ok: mtime with nanoseconds" || { echo "FAIL: mtime"; failures=$((failures + 1)); }
[ "$(stat -c %a "$dest/dir")" = 751 ] && [ "$(stat -c %a "$dest/hello.txt")" = 604 ] && echo "ok: modes" || { echo "FAIL: modes"; failures=$((failures + 1)); }
[ -p "$dest/fifo" ] && echo "ok: fifo" || { echo "FAIL: fifo"; failures=$((failures + 1)); }
[ "$(stat -c %i "$dest/hello.txt")" = "$(stat -c %i "$dest/dir/hardlink-to-hello")" ] && echo "ok: hardlink" || { echo "FAIL: hardlink"; failures=$((failures + 1)); }
[ "$(readlink "$dest/dangling")" = /nonexistent/target ] && echo "ok: symlink" || { echo "FAIL: symlink"; failures=$((failures + 1)); }
if [ $have_xattr = 1 ]; then
	[ "$(getfattr --only-values -n user.coffer "$dest/hello.txt" 2>/dev/null)" = test-value ] && echo "ok: xattr" || { echo "FAIL: xattr"; failures=$((failures + 1)); }
fi

must "ls" "$coffer" ls "$id1/dir" --repository "$repo"
contains "ls lists a file" "$tmp/out" "random.bin"
must "cat" "$coffer" cat "$id1/dir/sub/numbers.txt" --repository "$repo"
cmp -s "$tmp/out" "$src/dir/sub/numbers.txt" && echo "ok: cat content" || { echo "FAIL: cat content"; failures=$((failures + 1)); }

echo changed >>"$src/hello.txt"
must "third snapshot (one file changed)" "$coffer" snapshot create "$src" --repository "$repo" --source "test@host:/data"
id3=$(tail -1 "$tmp/out")
must "diff" "$coffer" diff "$id1" "$id3" --repository "$repo"
contains "diff names the changed file" "$tmp/out" "hello.txt"

# selection: nothing eligible before 1980 -> exit 0, destination untouched
mkdir -p "$tmp/untouched" && echo keep >"$tmp/untouched/keep"
must "restore latest --as-of 1980" "$coffer" restore latest "$tmp/untouched" --source test@host:/data --as-of 1980-01-01T00:00:00Z --repository "$repo" --delete-extra
contains "says no eligible snapshot" "$tmp/out" "no eligible snapshot"
[ "$(ls "$tmp/untouched")" = keep ] && echo "ok: destination untouched" || { echo "FAIL: destination touched"; failures=$((failures + 1)); }
must "restore latest --previous 1" "$coffer" restore latest "$tmp/prev" --source test@host:/data --previous 1 --repository "$repo"
[ "$(cat "$tmp/prev/hello.txt")" = hello ] && echo "ok: previous 1 is the second newest" || { echo "FAIL: previous"; failures=$((failures + 1)); }
must "restore latest --delete-extra" "$coffer" restore latest "$tmp/untouched" --source test@host:/data --repository "$repo" --delete-extra
[ ! -e "$tmp/untouched/keep" ] && [ -f "$tmp/untouched/hello.txt" ] && echo "ok: extra file deleted" || { echo "FAIL: delete-extra"; failures=$((failures + 1)); }

# failure modes and exit codes
KOPIA_PASSWORD=wrong "$coffer" snapshot list --all --repository "$repo" >"$tmp/out" 2>&1
check "wrong password exits with the authentication code" 3 $?
contains "wrong password message" "$tmp/out" "password"
"$coffer" snapshot list --all --repository "filesystem://$tmp/nothing-here" >"$tmp/out" 2>&1
check "no repository exits with not found" 4 $?
"$coffer" restore 0123456789abcdef0123456789abcdef "$tmp/x" --repository "$repo" >"$tmp/out" 2>&1
check "unknown snapshot id exits with not found" 4 $?
echo file >"$tmp/not-a-dir"
"$coffer" restore "$id1" "$tmp/not-a-dir" --repository "$repo" >"$tmp/out" 2>&1
rc=$?; [ $rc -ne 0 ] && echo "ok: DEST that is a file is refused ($rc)" || { echo "FAIL: DEST file accepted"; failures=$((failures + 1)); }
"$coffer" snapshot create "$src" --repository "ftp://host/x" >"$tmp/out" 2>&1
check "unknown scheme is a usage error" 4 $?
contains "unknown scheme lists installed" "$tmp/out" "filesystem"
"$coffer" snapshot create "$src" --repository "$repo" --compression lz77 >"$tmp/out" 2>&1
rc=$?; [ $rc -ne 0 ] && grep -q zstd "$tmp/out" && echo "ok: unknown codec lists installed" || { echo "FAIL: unknown codec"; cat "$tmp/out"; failures=$((failures + 1)); }

must "verify --read-data on a good repository" "$coffer" snapshot verify --read-data --repository "$repo"
# flip one byte in the middle of every data pack: verify must name damaged files
find "$tmp/repo" -type f -name 'p*' | while read -r pack; do
	size=$(stat -c %s "$pack"); off=$((size / 3))
	printf '\xff' | dd of="$pack" bs=1 seek=$off conv=notrunc status=none
done
"$coffer" snapshot verify --read-data --repository "$repo" >"$tmp/out" 2>&1
check "verify --read-data detects corruption" 5 $?
contains "verify names a damaged file" "$tmp/out" "error:"

echo "$failures failures"
[ $failures -eq 0 ]
