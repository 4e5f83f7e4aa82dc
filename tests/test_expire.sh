#!/bin/bash
# `coffer snapshot expire` end to end on a filesystem repository: snapshots with fixed start
# times (snapshot create --start-time) across the 2026-W53 year end, usage errors, --dry-run
# deletes nothing, --json gives every reason, a real expire, pin/unpin, and every remaining
# snapshot still restores its own content. The rules themselves: tests/test_retention.c.
set -u
top_build=${COFFER_TOP_BUILDDIR:-$(pwd)}
coffer="$top_build/core/bin/coffer"
for p in backend-fs/backend-fs.la frontend-cli/frontend-cli.la; do
	[ -f "$top_build/plugins/$p" ] || { echo "skip: plugins/$p was not built"; exit 77; }
done
export COFFER_PLUGIN_PATH="$top_build/plugins/backend-fs:$top_build/plugins/codec:$top_build/plugins/frontend-cli"
export COFFER_TEST_SCRYPT_N=1024
export KOPIA_PASSWORD=expire-test
tmp=$(mktemp -d /tmp/coffer-expire-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export KOPIA_CACHE_DIR=$tmp/cache
export KOPIA_REPOSITORY="filesystem://$tmp/repo"
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
	[ $rc -eq 0 ] || cat "$tmp/out" "$tmp/err"
	return $rc
}
contains() { # DESCRIPTION FILE TEXT
	if grep -q -- "$3" "$2"; then echo "ok: $1"; else echo "FAIL: $1: '$3' not in:"; cat "$2"; failures=$((failures + 1)); fi
}
count_snapshots() { # SOURCE|--all
	"$coffer" snapshot list "$1" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

A=app@host:/data
B=db@host:/db
src=$tmp/src
mkdir -p "$src"
must "repository create" "$coffer" repository create

declare -A id
snap() { # NAME SOURCE START-TIME: a snapshot whose file says NAME
	echo "content of $1" >"$src/file.txt"
	must "snapshot $1 at $3" "$coffer" snapshot create "$src" --source "$2" --start-time "$3"
	id[$1]=$(tail -1 "$tmp/out")
}
snap a1 "$A" 2026-12-27T18:00:00Z   # Sunday, 2026-W52
snap a2 "$A" 2026-12-28T06:00:00Z   # Monday, 2026-W53
snap a3 "$A" 2026-12-31T22:00:00Z
snap a4 "$A" 2027-01-01T03:00:00Z   # still 2026-W53
snap a5 "$A" 2027-01-03T23:30:00Z   # last of 2026-W53
snap a6 "$A" 2027-01-04T00:30:00Z   # Monday, 2027-W01
snap a7 "$A" 2027-01-04T09:00:00Z
snap a8 "$A" 2027-01-04T09:30:00Z
snap b1 "$B" 2027-01-01T00:00:00Z
snap b2 "$B" 2027-01-02T00:00:00Z
[ "$(count_snapshots --all)" = 10 ] && echo "ok: ten snapshots" || { echo "FAIL: not ten snapshots"; failures=$((failures + 1)); }

# usage errors delete nothing
"$coffer" snapshot expire --all >"$tmp/out" 2>&1
check "expire without any --keep-* is a usage error" 2 $?
contains "and says why" "$tmp/out" "at least one --keep"
"$coffer" snapshot expire --all --keep-daily 0 >"$tmp/out" 2>&1
check "expire with only zero counts is a usage error" 2 $?
"$coffer" snapshot expire --keep-daily 2 >"$tmp/out" 2>&1
check "expire without SOURCE or --all is a usage error" 2 $?
"$coffer" snapshot expire "$A" --all --keep-daily 2 >"$tmp/out" 2>&1
check "expire with SOURCE and --all is a usage error" 2 $?
"$coffer" snapshot expire --all --keep-daily two >"$tmp/out" 2>&1
check "expire with a count that is not a number is a usage error" 2 $?
"$coffer" snapshot expire --all --keep-daily=-1 >"$tmp/out" 2>&1
check "expire with a negative count is a usage error" 2 $?
[ "$(count_snapshots --all)" = 10 ] && echo "ok: usage errors deleted nothing" || { echo "FAIL: usage errors deleted snapshots"; failures=$((failures + 1)); }

must "pin a3" "$coffer" snapshot pin "${id[a3]}"
contains "pin says pinned" "$tmp/out" "pinned"

policy=(--keep-latest 1 --keep-daily 2 --keep-weekly 3)
must "expire --dry-run" "$coffer" snapshot expire --all "${policy[@]}" --dry-run
contains "dry run counts" "$tmp/out" "would expire 4 of 10 snapshots, keeping 6 (dry run: nothing deleted)"
contains "table shows KEEP with reasons" "$tmp/out" "KEEP .*${id[a5]}  daily 2027-01-03, weekly 2026-W53"
contains "table shows EXPIRE with the reason" "$tmp/out" "EXPIRE .*${id[a7]}  no rule keeps it"
[ "$(count_snapshots --all)" = 10 ] && echo "ok: dry run deleted nothing" || { echo "FAIL: dry run deleted"; failures=$((failures + 1)); }

must "expire --dry-run --json" "$coffer" snapshot expire --all "${policy[@]}" --dry-run --json
ids="a1=${id[a1]} a2=${id[a2]} a3=${id[a3]} a4=${id[a4]} a5=${id[a5]} a6=${id[a6]} a7=${id[a7]} a8=${id[a8]} b1=${id[b1]} b2=${id[b2]}"
python3 - "$tmp/out" $ids <<'PY' && echo "ok: --json lists every snapshot with its reasons" || failures=$((failures + 1))
import json, sys
doc = json.load(open(sys.argv[1]))
name = dict(kv.split("=")[::-1] for kv in sys.argv[2:])
want = {
    "a8": ("keep", ["latest #1", "daily 2027-01-04", "weekly 2027-W01", "newest complete snapshot"]),
    "a7": ("expire", ["no rule keeps it"]),
    "a6": ("expire", ["no rule keeps it"]),
    "a5": ("keep", ["daily 2027-01-03", "weekly 2026-W53"]),
    "a4": ("expire", ["no rule keeps it"]),
    "a3": ("keep", ["pinned"]),
    "a2": ("expire", ["no rule keeps it"]),
    "a1": ("keep", ["weekly 2026-W52"]),
    "b2": ("keep", ["latest #1", "daily 2027-01-02", "weekly 2026-W53", "newest complete snapshot"]),
    "b1": ("keep", ["daily 2027-01-01"]),
}
ok = doc["dryRun"] is True and doc["expired"] == 4 and doc["kept"] == 6 and len(doc["snapshots"]) == 10
for s in doc["snapshots"]:
    n = name[s["id"]]
    got = (s["action"], s["reasons"])
    if got != want[n] or s["deleted"] or s["pinned"] != (n == "a3") or not s["startTime"].endswith("Z") \
            or s["source"] != ("db@host:/db" if n[0] == "b" else "app@host:/data"):
        print("FAIL: %s: %s" % (n, s))
        ok = False
sys.exit(0 if ok else 1)
PY

must "expire" "$coffer" snapshot expire --all "${policy[@]}"
contains "expire counts" "$tmp/out" "expired 4 of 10 snapshots, kept 6"
[ "$(count_snapshots --all)" = 6 ] && echo "ok: four snapshots deleted" || { echo "FAIL: expire did not leave six"; failures=$((failures + 1)); }
"$coffer" snapshot list --all >"$tmp/list" 2>&1
for n in a2 a4 a6 a7; do
	if grep -q "${id[$n]}" "$tmp/list"; then echo "FAIL: $n still listed"; failures=$((failures + 1)); else echo "ok: $n gone"; fi
done

must "expire again" "$coffer" snapshot expire --all "${policy[@]}"
contains "a second expire removes nothing" "$tmp/out" "expired 0 of 6 snapshots, kept 6"

# one source only, and the unpinned snapshot goes on the next run
must "expire one source" "$coffer" snapshot expire "$B" --keep-latest 1 --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["expired"] == 1 and len(d["snapshots"]) == 2 and all(s["source"] == "db@host:/db" for s in d["snapshots"]) else 1)' "$tmp/out" \
	&& echo "ok: a SOURCE limits expire to it" || { echo "FAIL: expire of one source"; cat "$tmp/out"; failures=$((failures + 1)); }
must "unpin a3" "$coffer" snapshot unpin "${id[a3]}"
must "expire after unpin" "$coffer" snapshot expire "$A" "${policy[@]}"
contains "the unpinned snapshot is expired" "$tmp/out" "EXPIRE .*${id[a3]}  no rule keeps it"
contains "and only it" "$tmp/out" "expired 1 of 4 snapshots, kept 3"

# what is left restores, each snapshot its own content
for n in a1 a5 a8 b2; do
	rm -rf "$tmp/restore"
	must "restore $n" "$coffer" restore "${id[$n]}" "$tmp/restore"
	if [ "$(cat "$tmp/restore/file.txt" 2>/dev/null)" = "content of $n" ]; then echo "ok: $n restores its content"; else echo "FAIL: $n restored the wrong content"; failures=$((failures + 1)); fi
done
[ "$(count_snapshots --all)" = 4 ] && echo "ok: four snapshots left" || { echo "FAIL: not four left"; failures=$((failures + 1)); }
must "verify --read-data after expire" "$coffer" snapshot verify --read-data

echo "$failures failures"
[ $failures -eq 0 ]
