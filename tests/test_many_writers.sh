#!/bin/bash
# Many writers beside repeated full maintenance (docs/FORMAT.md, Maintenance), through the
# coffer executable on one filesystem repository.
# Phase 1: writers (three sources, two more processes on one shared source) back up trees
# that change every round, each with its own cache (as separate hosts), while
# `maintenance run --full` with margins of seconds runs again and again and old snapshots
# are deleted. Afterwards every snapshot left restores bit for bit (against a copy of the
# tree saved per round) and `snapshot verify --read-data` passes.
# Phase 2: writers and maintenance are killed with SIGKILL at seeded random moments;
# afterwards the repository verifies, the phase-1 snapshots restore, and each writer's
# next run succeeds with no unlock or repair step.
set -u
# The sanitizer pass of tests/run-all.sh skips the long end-to-end tests (CI time).
if [ "${COFFER_SKIP_LONG:-0}" = 1 ]; then
	echo "SKIP: COFFER_SKIP_LONG=1"
	exit 77
fi
top_build=${COFFER_TOP_BUILDDIR:-$(pwd)}
coffer="$top_build/core/bin/coffer"
export COFFER_PLUGIN_PATH="$top_build/plugins/backend-fs:$top_build/plugins/codec:$top_build/plugins/frontend-cli"
export COFFER_TEST_SCRYPT_N=1024
export KOPIA_PASSWORD=many-writers
tmp=$(mktemp -d /tmp/coffer-many-XXXXXX)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
export KOPIA_REPOSITORY="filesystem://$tmp/repo"
SEED=${COFFER_TEST_SEED:-20240517}
RANDOM=$SEED
PHASE1_SECONDS=${COFFER_MANY_WRITERS_SECONDS:-30}
KILL_ROUNDS=${COFFER_MANY_WRITERS_KILLS:-8}
# test-sized margins (seconds): min-age, between runs, session expiry, lease
MARGINS="--min-age 1 --run-margin 2 --session-expiry 10 --lease 20"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# writer NAME SOURCE: directories and the shared list of recorded snapshots
writers="w1:u@a:/data w2:u@b:/data w3:u@c:/home shared1:u@s:/vol shared2:u@s:/vol"
mkdir -p "$tmp/copies" "$tmp/log"
: >"$tmp/snapshots"   # "id copy-dir writer round" per line
: >"$tmp/deleted"

cache_of() { echo "$tmp/cache-$1"; }

# Changes the tree of writer $1 for round $2 (deterministic from the seed).
mutate() {
	local dir=$tmp/tree-$1 round=$2 r=$3
	mkdir -p "$dir/sub"
	head -c $((20000 + r % 200000)) /dev/urandom >"$dir/new-$round.bin"
	[ -f "$dir/big.bin" ] || head -c 700000 /dev/urandom >"$dir/big.bin"
	# an edit inside the big file: most chunks stay, one changes
	printf 'round %s %s' "$round" "$r" | dd of="$dir/big.bin" bs=1 seek=$((r % 600000)) conv=notrunc 2>/dev/null
	seq "$round" $((round + r % 5000)) >"$dir/sub/numbers.txt"
	# drop an older file now and then: its chunks become garbage once old snapshots go
	local old=$((round - 3))
	[ $((r % 2)) -eq 0 ] && rm -f "$dir/new-$old.bin"
	return 0
}

# One backup by writer $1 (source $2), round $3: saves a copy of the tree first.
backup_round() {
	local name=$1 source=$2 round=$3 r=$4
	mutate "$name" "$round" "$r"
	local copy=$tmp/copies/$name-$round
	cp -a "$tmp/tree-$name" "$copy"
	local out
	if out=$(KOPIA_CACHE_DIR=$(cache_of "$name") "$coffer" snapshot create "$tmp/tree-$name" --source "$source" \
		--json 2>"$tmp/log/$name-$round.err"); then
		local id
		id=$(printf '%s' "$out" | sed -n 's/.*"id": *"\([0-9a-f]\{32\}\)".*/\1/p' | head -1)
		[ -n "$id" ] && echo "$id $copy $name $round" >>"$tmp/snapshots"
		return 0
	fi
	return 1
}

writer_loop() { # NAME SOURCE END-TIME SEED
	local name=$1 source=$2 end=$3 round=0
	RANDOM=$4
	while [ "$(date +%s)" -lt "$end" ]; do
		round=$((round + 1))
		backup_round "$name" "$source" "$round" "$RANDOM" || { echo "writer $name round $round failed" >>"$tmp/errors"; cat "$tmp/log/$name-$round.err" >>"$tmp/errors"; }
	done
	echo "$round" >"$tmp/rounds-$name"
}

maintenance_json() { # extra args...; appends the run's numbers to maint.log
	local out
	out=$(KOPIA_CACHE_DIR=$tmp/cache-maint "$coffer" maintenance run --full --json $MARGINS "$@" 2>>"$tmp/log/maint.err")
	local rc=$?
	if [ $rc -eq 0 ]; then
		printf '%s\n' "$out" | tr -d ' \n' | sed 's/$/\n/' >>"$tmp/maint.log"
	fi
	return $rc
}

# Deletes recorded snapshots at least 3 rounds older than their writer's newest.
delete_old() {
	local line id copy name round newest
	while read -r id copy name round; do
		grep -q "^$id$" "$tmp/deleted" && continue
		newest=$(awk -v n="$name" '$3 == n { r = $4 } END { print r + 0 }' "$tmp/snapshots")
		if [ $((newest - round)) -ge 3 ] && [ $((RANDOM % 3)) -eq 0 ]; then
			if "$coffer" snapshot delete "$id" >/dev/null 2>&1 --cache-dir "$tmp/cache-maint"; then
				echo "$id" >>"$tmp/deleted"
			fi
		fi
	done <"$tmp/snapshots"
}

"$coffer" repository create >/dev/null || { echo "FAIL: repository create"; exit 1; }

# ------------------------------------------------------------------ phase 1
start=$(date +%s)
end=$((start + PHASE1_SECONDS))
nwriters=0
for w in $writers; do
	name=${w%%:*}
	source=${w#*:}
	writer_loop "$name" "$source" "$end" $((SEED + nwriters)) &
	nwriters=$((nwriters + 1))
done
maint_runs=0
maint_failed=0
while [ "$(date +%s)" -lt "$end" ]; do
	sleep 2
	delete_old
	if maintenance_json; then maint_runs=$((maint_runs + 1)); else maint_failed=$((maint_failed + 1)); fi
done
wait
[ -s "$tmp/errors" ] && { fail "a writer failed during phase 1:"; cat "$tmp/errors"; }
[ "$maint_failed" -eq 0 ] || { fail "$maint_failed maintenance runs failed in phase 1:"; cat "$tmp/log/maint.err"; }
rounds=0
for w in $writers; do rounds=$((rounds + $(cat "$tmp/rounds-${w%%:*}"))); done
# two more runs after the writers stopped, margins apart: garbage goes
sleep 3
maintenance_json && maint_runs=$((maint_runs + 1))
sleep 3
maintenance_json && maint_runs=$((maint_runs + 1))
reclaimed=$(sed -n 's/.*"bytesReclaimed":\([0-9]*\).*/\1/p' "$tmp/maint.log" | awk '{ s += $1 } END { print s + 0 }')
deleted_packs=$(sed -n 's/.*"packsDeleted":\([0-9]*\).*/\1/p' "$tmp/maint.log" | awk '{ s += $1 } END { print s + 0 }')

# Restores every recorded snapshot that was not deleted and compares it with its copy.
check_restores() { # LABEL
	local id copy name round n=0 bad=0
	while read -r id copy name round; do
		grep -q "^$id$" "$tmp/deleted" && continue
		rm -rf "$tmp/restore"
		if ! "$coffer" restore "$id" "$tmp/restore" --cache-dir "$tmp/cache-check" >/dev/null 2>"$tmp/log/restore.err"; then
			fail "$1: restore of $id ($name round $round)"; cat "$tmp/log/restore.err"; bad=$((bad + 1))
		elif ! diff -r "$copy" "$tmp/restore" >/dev/null; then
			fail "$1: snapshot $id ($name round $round) differs from its copy"; bad=$((bad + 1))
		fi
		n=$((n + 1))
	done <"$tmp/snapshots"
	checked=$n
	[ $bad -eq 0 ] && echo "ok: $1: $n snapshots restore bit for bit"
}
check_restores "phase 1"
phase1_checked=$checked
if "$coffer" snapshot verify --read-data --cache-dir "$tmp/cache-check" >"$tmp/log/verify.out" 2>&1; then
	echo "ok: phase 1: verify --read-data"
else
	fail "phase 1: verify --read-data"; cat "$tmp/log/verify.out"
fi
echo "phase 1: $nwriters writers, $rounds rounds, $maint_runs full maintenance runs, $(wc -l <"$tmp/deleted") snapshots deleted, $deleted_packs packs deleted, $reclaimed bytes reclaimed"
[ "$deleted_packs" -gt 0 ] || fail "phase 1: maintenance never deleted a pack (no garbage collected)"

# ------------------------------------------------------------------ phase 2
kills=0
maint_refused=0
phase2_round=1000
for k in $(seq 1 "$KILL_ROUNDS"); do
	pids=""
	i=0
	for w in $writers; do
		name=${w%%:*}
		source=${w#*:}
		phase2_round=$((phase2_round + 1))
		mutate "$name" "$phase2_round" $RANDOM
		KOPIA_CACHE_DIR=$(cache_of "$name") "$coffer" snapshot create "$tmp/tree-$name" --source "$source" \
			>/dev/null 2>&1 &
		pids="$pids $!"
		i=$((i + 1))
	done
	KOPIA_CACHE_DIR=$tmp/cache-maint "$coffer" maintenance run --full $MARGINS --lease 3 >/dev/null 2>&1 &
	mpid=$!
	# seeded random moment: 0.02 .. 0.6 s
	sleep "$(printf '0.%02d' $((2 + RANDOM % 58)))"
	for p in $pids $mpid; do
		if [ $((RANDOM % 4)) -ne 0 ] && kill -9 "$p" 2>/dev/null; then kills=$((kills + 1)); fi
	done
	wait $mpid 2>/dev/null
	[ $? -eq 1 ] && maint_refused=$((maint_refused + 1))
	wait
done
echo "phase 2: $KILL_ROUNDS rounds, $kills processes killed with SIGKILL (seed $SEED), $maint_refused maintenance runs refused by a live lease"
if "$coffer" snapshot verify --read-data --cache-dir "$tmp/cache-check" >"$tmp/log/verify.out" 2>&1; then
	echo "ok: phase 2: verify --read-data after the kills"
else
	fail "phase 2: verify --read-data after the kills"; cat "$tmp/log/verify.out"
fi
check_restores "phase 2 (earlier snapshots)"
# every writer's next run succeeds, with no unlock or repair
for w in $writers; do
	name=${w%%:*}
	phase2_round=$((phase2_round + 1))
	backup_round "$name" "${w#*:}" "$phase2_round" $RANDOM || { fail "writer $name after the kills"; cat "$tmp/log/$name-$phase2_round.err"; }
done
# maintenance too, once the killed run's lease (3 s) has expired, and garbage of the dead
# sessions goes once their markers expire
sleep 4
maintenance_json || { fail "maintenance after the kills"; tail -3 "$tmp/log/maint.err"; }
sleep 11
maintenance_json || fail "maintenance after the kills (2)"
sleep 3
maintenance_json || fail "maintenance after the kills (3)"
if "$coffer" snapshot verify --read-data --cache-dir "$tmp/cache-check" >"$tmp/log/verify.out" 2>&1; then
	echo "ok: final verify --read-data"
else
	fail "final verify --read-data"; cat "$tmp/log/verify.out"
fi
check_restores "final"
left_sessions=$(find "$tmp/repo" -name 'sessions%2F*' | wc -l)
echo "summary: writers $nwriters, rounds $rounds (+$((KILL_ROUNDS * nwriters)) in phase 2), kills $kills, snapshots checked $phase1_checked then $checked, session markers left $left_sessions"
[ "$left_sessions" -eq 0 ] || fail "expired session markers of killed writers were not removed"
[ $failures -eq 0 ] && echo "PASS" || echo "$failures failures"
exit $((failures > 0))
