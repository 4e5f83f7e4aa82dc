#!/bin/bash
# Snapshot hooks end to end through the coffer executable and a filesystem repository:
# --before-snapshot / --after-snapshot / --hook-timeout and their documented semantics.
set -u
top_build=${COFFER_TOP_BUILDDIR:-$(pwd)}
coffer="$top_build/core/bin/coffer"
[ -e "$top_build/plugins/hook-shell/hook-shell.la" ] || { echo "skip: hook-shell not built"; exit 77; }
export COFFER_PLUGIN_PATH="$top_build/plugins/backend-fs:$top_build/plugins/codec:$top_build/plugins/frontend-cli:$top_build/plugins/hook-shell"
export COFFER_TEST_SCRYPT_N=1024
export KOPIA_PASSWORD=hook-test-password
tmp=$(mktemp -d /tmp/coffer-hooks-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export KOPIA_CACHE_DIR=$tmp/cache
repo="filesystem://$tmp/repo"
export KOPIA_REPOSITORY=$repo
failures=0
check() { # DESCRIPTION EXPECTED-STATUS ACTUAL-STATUS
	if [ "$2" = "$3" ]; then
		echo "ok: $1"
	else
		echo "FAIL: $1 (expected exit $2, got $3)"
		cat "$tmp/out" "$tmp/err" 2>/dev/null
		failures=$((failures + 1))
	fi
}
contains() { # DESCRIPTION FILE TEXT
	if grep -q -- "$3" "$2"; then echo "ok: $1"; else echo "FAIL: $1: '$3' not in:"; cat "$2"; failures=$((failures + 1)); fi
}
absent() { # DESCRIPTION FILE TEXT
	if grep -q -- "$3" "$2"; then echo "FAIL: $1: '$3' found in:"; cat "$2"; failures=$((failures + 1)); else echo "ok: $1"; fi
}
count_snapshots() { # SOURCE
	"$coffer" snapshot list "$1" --json 2>/dev/null | grep -c '"id"'
}

src=$tmp/src
mkdir -p "$src"
echo data >"$src/data.txt"
"$coffer" repository create >"$tmp/out" 2>&1
check "repository create" 0 $?

# 1. the before-hook runs in the source folder; what it writes is in the snapshot
"$coffer" snapshot create "$src" --source app@host:/one \
	--before-snapshot 'echo "dumping to $PWD"; echo dump-content > dump.sql' \
	--after-snapshot 'echo resumed' >"$tmp/out" 2>"$tmp/err"
check "snapshot with before and after hooks" 0 $?
id1=$(tail -1 "$tmp/out")
contains "before-hook output is logged with its action" "$tmp/err" "^hook beforeSnapshot: dumping to $src\$"
contains "after-hook output is logged with its action" "$tmp/err" "^hook afterSnapshot: resumed\$"
"$coffer" restore "$id1" "$tmp/restore1" >"$tmp/out" 2>"$tmp/err"
check "restore the hooked snapshot" 0 $?
if [ "$(cat "$tmp/restore1/dump.sql" 2>/dev/null)" = dump-content ]; then
	echo "ok: the file the before-hook wrote is in the snapshot"
else
	echo "FAIL: dump.sql missing from the snapshot"; failures=$((failures + 1))
fi
rm -f "$src/dump.sql"

# 2. a failing before-hook records nothing; the after-hook still runs
"$coffer" snapshot create "$src" --source app@host:/two \
	--before-snapshot 'echo quiescing; exit 7' \
	--after-snapshot "echo \"\$COFFER_SNAPSHOT_RESULT\" > '$tmp/after-two'" >"$tmp/out" 2>"$tmp/err"
check "failing before-hook fails the run" 1 $?
contains "the message names the hook and its status" "$tmp/err" "beforeSnapshot hook 'echo quiescing; exit 7' failed: exit status 7"
contains "the message says nothing was taken" "$tmp/err" "no snapshot was taken"
[ "$(count_snapshots app@host:/two)" = 0 ] && echo "ok: no snapshot recorded" ||
	{ echo "FAIL: a snapshot was recorded after a failed before-hook"; failures=$((failures + 1)); }
[ "$(cat "$tmp/after-two" 2>/dev/null)" = skipped ] && echo "ok: after-hook ran (result skipped)" ||
	{ echo "FAIL: after-hook did not run after the failed before-hook"; failures=$((failures + 1)); }

# 3. a failing after-hook fails the run but keeps the snapshot
"$coffer" snapshot create "$src" --source app@host:/three --after-snapshot 'echo oops >&2; exit 5' \
	>"$tmp/out" 2>"$tmp/err"
check "failing after-hook fails the run" 1 $?
id3=$(tail -1 "$tmp/out")
contains "after-hook stderr is logged" "$tmp/err" "^hook afterSnapshot: oops\$"
contains "the message says the snapshot was kept" "$tmp/err" "afterSnapshot hook 'echo oops >&2; exit 5' failed: exit status 5; snapshot $id3 was kept"
[ "$(count_snapshots app@host:/three)" = 1 ] && echo "ok: the snapshot is listed" ||
	{ echo "FAIL: the snapshot of the failed after-hook run is not listed"; failures=$((failures + 1)); }

"$coffer" snapshot create "$src" --source app@host:/three --after-snapshot 'exit 5' --json >"$tmp/out" 2>"$tmp/err"
check "failing after-hook with --json" 1 $?
contains "--json has the snapshot" "$tmp/out" '"snapshot": {'
contains "--json has the after-hook result" "$tmp/out" '"afterSnapshot": {'
contains "--json has the error" "$tmp/out" '"error": "afterSnapshot hook'

# 4. a before-hook that outlives --hook-timeout is killed with its process group
start=$(date +%s)
"$coffer" snapshot create "$src" --source app@host:/four --hook-timeout 1 \
	--before-snapshot "sleep 60 & echo \$! > '$tmp/bg.pid'; sleep 60" \
	--after-snapshot "echo \"\$COFFER_ACTION\" > '$tmp/after-four'" >"$tmp/out" 2>"$tmp/err"
check "timed-out before-hook fails the run" 1 $?
took=$(($(date +%s) - start))
[ $took -lt 20 ] && echo "ok: the run ended ${took} s after a 1 s timeout" ||
	{ echo "FAIL: the timed-out run took $took s"; failures=$((failures + 1)); }
contains "the message says it timed out" "$tmp/err" "timed out after 1 s"
bg=$(cat "$tmp/bg.pid" 2>/dev/null || echo 0)
if [ "$bg" -gt 0 ] && kill -0 "$bg" 2>/dev/null && ! grep -q '^[^)]*) Z' "/proc/$bg/stat" 2>/dev/null; then
	echo "FAIL: the hook's background process $bg survived"; failures=$((failures + 1)); kill -9 "$bg"
else
	echo "ok: the hook's background process is gone"
fi
[ "$(count_snapshots app@host:/four)" = 0 ] && echo "ok: no snapshot after the timeout" ||
	{ echo "FAIL: a snapshot was recorded after a timed-out before-hook"; failures=$((failures + 1)); }
[ "$(cat "$tmp/after-four" 2>/dev/null)" = afterSnapshot ] && echo "ok: after-hook ran after the timeout" ||
	{ echo "FAIL: after-hook did not run after the timeout"; failures=$((failures + 1)); }

# 5. the environment the after-hook sees
"$coffer" snapshot create "$src" --source app@host:/five \
	--after-snapshot "env > '$tmp/env-five'; pwd -P >> '$tmp/env-five'" >"$tmp/out" 2>"$tmp/err"
check "after-hook environment run" 0 $?
id5=$(tail -1 "$tmp/out")
contains "COFFER_ACTION" "$tmp/env-five" "^COFFER_ACTION=afterSnapshot\$"
contains "COFFER_SOURCE_PATH" "$tmp/env-five" "^COFFER_SOURCE_PATH=$src\$"
contains "COFFER_SOURCE" "$tmp/env-five" "^COFFER_SOURCE=app@host:/five\$"
contains "COFFER_SNAPSHOT_ID" "$tmp/env-five" "^COFFER_SNAPSHOT_ID=$id5\$"
contains "COFFER_SNAPSHOT_RESULT" "$tmp/env-five" "^COFFER_SNAPSHOT_RESULT=ok\$"
contains "KOPIA_SNAPSHOT_PATH for kopia-style scripts" "$tmp/env-five" "^KOPIA_SNAPSHOT_PATH=$src\$"
contains "the hook ran in the source folder" "$tmp/env-five" "^$(cd "$src" && pwd -P)\$"
absent "the repository password is not passed on" "$tmp/env-five" "hook-test-password"

# 6. the after-hook runs when the snapshot itself fails (the before-hook takes the
# repository away, the after-hook puts it back)
echo changed >"$src/data.txt"
"$coffer" snapshot create "$src" --source app@host:/six \
	--before-snapshot "mv '$tmp/repo' '$tmp/repo.away' && touch '$tmp/repo'" \
	--after-snapshot "rm '$tmp/repo' && mv '$tmp/repo.away' '$tmp/repo'; echo \"\$COFFER_SNAPSHOT_RESULT\" > '$tmp/after-six'" \
	>"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -ne 0 ] && echo "ok: the snapshot fails without its repository (exit $rc)" ||
	{ echo "FAIL: the snapshot succeeded without its repository"; failures=$((failures + 1)); }
[ "$(cat "$tmp/after-six" 2>/dev/null)" = failed ] && echo "ok: after-hook ran after the failed snapshot" ||
	{ echo "FAIL: after-hook did not run after the failed snapshot"; cat "$tmp/err"; failures=$((failures + 1)); }
"$coffer" snapshot list --all >"$tmp/out" 2>"$tmp/err"
check "the repository is usable again" 0 $?

# 7. usage errors
"$coffer" snapshot create "$src" --hook-timeout soon --before-snapshot true >"$tmp/out" 2>"$tmp/err"
check "--hook-timeout must be a number" 2 $?

echo "$failures failures"
[ $failures -eq 0 ]
