#!/bin/bash
# Maintenance through the cloud backends, against the real servers (tests/servers/):
# Swift's s3api (S3), firebase-tools' storage emulator (GCS) and Azurite (Azure), the
# three started at once and tested at once, each in its own repository. For each backend:
#  1. two backups of a tree with changes between them, the first snapshot expired;
#  2. `maintenance run --full --safety none` twice (every pack with garbage repacked in
#     the first, deleted in the second): bytes reclaimed > 0; on S3 and GCS
#     (no atomic create) each run waits 2 x --lease-settle before it works, on Azure not;
#  3. `maintenance info --json`: owner, last full run, lease expiry, not running, and the
#     last run's bytes reclaimed and reclaimable;
#  4. `verify --read-data` passes, the remaining snapshot restores bit for bit;
#  5. `--lease-settle 0`: on S3 and GCS taking the lease is always too slow (exit 6,
#     "retry") and leaves nothing that blocks the next run; on Azure it does not apply.
# On S3 also (docs/FORMAT.md, "Taking the lease without atomic create"):
#  6. two full runs started at the same moment: exactly one succeeds, the other exits 1
#     with a lease error; the repository verifies;
#  7. a lost race made certain: while a run waits for its lease to settle, the test
#     overwrites that lease generation (with the aws CLI) with another run's lease blob,
#     as a racing run's later put would; the run stops with "took the lease at the same
#     moment", and the next run succeeds (not with COFFER_SERVER_TESTS=quick).
set -u
# The sanitizer pass of tests/run-all.sh skips the long end-to-end tests (CI time); the
# core's maintenance code runs under the sanitizers in tests/test_maintenance.
if [ "${COFFER_SKIP_LONG:-0}" = 1 ]; then
	echo "SKIP: COFFER_SKIP_LONG=1"
	exit 77
fi
top_build=${COFFER_TOP_BUILDDIR:-$(pwd)}
top_src=${COFFER_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
servers="$top_src/tests/servers"
# shellcheck source=tests/servers/lib.sh
. "$servers/lib.sh"
srv_enabled
coffer="$top_build/core/bin/coffer"
aws=${COFFER_AWS_CLI:-/usr/bin/aws}
srv_require python3 curl

export COFFER_PLUGIN_PATH="$top_build/plugins/backend-s3:$top_build/plugins/backend-gcs:$top_build/plugins/backend-azure:$top_build/plugins/codec:$top_build/plugins/frontend-cli"
export COFFER_TEST_SCRYPT_N=1024
export KOPIA_PASSWORD=maintenance-remote-password
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_REGION KOPIA_S3_ENDPOINT AWS_S3_DISABLE_TLS KOPIA_S3_DISABLE_TLS
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=""
# The settle bound of the runs that must succeed: generous for a loaded machine, small
# for the clock (each run on S3 and GCS waits twice this).
SETTLE=2

tmp=$(srv_tmpdir)
cleanup() {
	"$servers/swift.sh" stop "$tmp/swift" >/dev/null 2>&1
	"$servers/gcs.sh" stop "$tmp/gcs" >/dev/null 2>&1
	"$servers/azurite.sh" stop "$tmp/azurite" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
ok() { echo "ok: $*"; }
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}
check() { # DESCRIPTION EXPECTED-STATUS ACTUAL-STATUS
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1 (expected exit $2, got $3)"; fi
}
must() { # DESCRIPTION COMMAND...: exit 0 expected; output in $w/out, messages in $w/err
	local d=$1
	shift
	"$@" >"$w/out" 2>"$w/err"
	local rc=$?
	check "$d" 0 $rc
	[ $rc -eq 0 ] || tail -20 "$w/out" "$w/err"
	return $rc
}
contains() { # DESCRIPTION FILE TEXT
	if grep -qF -- "$3" "$2"; then ok "$1"; else
		fail "$1: '$3' not in:"
		tail -20 "$2"
	fi
}
json() { # FILE EXPRESSION: prints the expression over the JSON document `j` in FILE
	python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

# ------------------------------------------------------------------ servers, in parallel
plugin_built() { [ -f "$top_build/plugins/backend-$1/backend-$1.la" ]; }
server_dir() { # BACKEND: the state folder of its server
	case $1 in
	s3) echo "$tmp/swift" ;;
	gcs) echo "$tmp/gcs" ;;
	azure) echo "$tmp/azurite" ;;
	esac
}
server_script() { # BACKEND
	case $1 in
	s3) echo swift.sh ;;
	gcs) echo gcs.sh ;;
	azure) echo azurite.sh ;;
	esac
}
if plugin_built s3 && [ ! -x "$aws" ]; then
	# the forced lost race needs the aws CLI
	[ "${COFFER_REQUIRE_SERVERS:-0}" = 1 ] && { echo "FAIL: $aws is not installed (COFFER_REQUIRE_SERVERS=1)"; exit 1; }
	no_aws=1
else
	no_aws=0
fi
pids=""
for b in s3 gcs azure; do
	plugin_built $b || continue
	[ $b = s3 ] && [ $no_aws = 1 ] && continue
	("$servers/$(server_script $b)" start "$(server_dir $b)" >"$tmp/start-$b.log" 2>&1
		echo $? >"$tmp/start-$b.rc") &
	pids="$pids $!"
done
# shellcheck disable=SC2086
[ -n "$pids" ] && wait $pids
backends=""
for b in s3 gcs azure; do
	if ! plugin_built $b; then
		echo "skip: $b (plugin not built)"
		continue
	fi
	if [ $b = s3 ] && [ $no_aws = 1 ]; then
		echo "skip: s3 ($aws is not installed)"
		continue
	fi
	rc=$(cat "$tmp/start-$b.rc")
	case $rc in
	0) backends="$backends $b" ;;
	77) echo "skip: $b: $(tail -1 "$tmp/start-$b.log")" ;;
	*)
		fail "the $b server did not start (exit $rc)"
		tail -20 "$tmp/start-$b.log"
		;;
	esac
done
echo "--- servers up at ${SECONDS}s:${backends:- none}"
if [ -z "$backends" ]; then
	[ "$failures" -eq 0 ] || exit 1
	echo "SKIP: no server could be started"
	exit 77
fi

# ------------------------------------------------------------------ one backend
make_tree() { # DIR: 10 random files of 400 KiB (in one pack), text, a link
	local dir=$1 i
	mkdir -p "$dir/sub"
	for i in $(seq 1 10); do head -c 409600 /dev/urandom >"$dir/file-$i.bin"; done
	seq 1 30000 >"$dir/sub/numbers.txt"
	echo "maintenance remote" >"$dir/sub/hello.txt"
	ln -s sub/hello.txt "$dir/link"
}

maintenance_round_trip() { # NAME URL ATOMIC(0|1)
	local name=$1 repo=$2 atomic=$3 src=$w/src-$1 t secs reclaimed=0 r
	echo "--- $name: $repo (at ${SECONDS}s)"
	export KOPIA_CACHE_DIR=$w/cache-$name KOPIA_REPOSITORY=$repo
	must "$name: repository create" "$coffer" repository create || return
	make_tree "$src"
	must "$name: first backup" "$coffer" snapshot create "$src" --source "test@host:/$name" || return
	local id1
	id1=$(tail -1 "$w/out")
	# most of the first snapshot's data goes; a changed file, a new one
	rm "$src"/file-[3-9].bin "$src/file-10.bin"
	echo "changed" >>"$src/sub/hello.txt"
	head -c 300000 /dev/urandom >"$src/new.bin"
	must "$name: second backup" "$coffer" snapshot create "$src" --source "test@host:/$name" || return
	local id2
	id2=$(tail -1 "$w/out")
	must "$name: expire all but the latest snapshot" "$coffer" snapshot expire "test@host:/$name" --keep-latest 1
	must "$name: snapshot list" "$coffer" snapshot list --all
	if grep -q "${id1:0:8}" "$w/out" || ! grep -q "${id2:0:8}" "$w/out"; then
		fail "$name: the first snapshot should be gone and the second kept"
		cat "$w/out"
	else
		ok "$name: the first snapshot is expired, the second kept"
	fi

	# two full runs: the first tombstones and repacks, the second deletes
	for r in 1 2; do
		t=$(now)
		must "$name: maintenance run --full --safety none ($r)" "$coffer" maintenance run --full \
			--safety none --repack-percent 1 --lease-settle $SETTLE --json || return
		secs=$(elapsed "$t")
		cp "$w/out" "$w/run-$name-$r.json"
		reclaimed=$((reclaimed + $(json "$w/out" 'j["bytesReclaimed"]')))
		if [ "$atomic" = 1 ]; then
			# no settle wait; a loaded machine may still be slow, so only a note
			if at_least "$secs" $((2 * SETTLE)); then
				echo "note: $name: run $r took ${secs}s without a settle wait"
			else
				ok "$name: run $r took ${secs}s: no settle wait on a backend with atomic create"
			fi
		elif at_least "$secs" $((2 * SETTLE)); then
			ok "$name: run $r took ${secs}s: it waited 2 x ${SETTLE} s for the lease to settle"
		else
			fail "$name: run $r took ${secs}s, less than the settle wait of $((2 * SETTLE)) s"
		fi
	done
	if [ "$reclaimed" -gt 0 ]; then ok "$name: $reclaimed bytes reclaimed"; else
		fail "$name: nothing reclaimed"
		cat "$w/run-$name-1.json" "$w/run-$name-2.json"
	fi

	must "$name: maintenance info --json" "$coffer" maintenance info --json
	local owner
	owner=$(json "$w/out" 'j["owner"]')
	[ -n "$owner" ] && [ "$owner" != None ] && ok "$name: info names the owner $owner" || fail "$name: info has no owner"
	[ "$(json "$w/out" 'j["running"]')" = False ] && ok "$name: info: no run in progress" || fail "$name: info says running"
	[ "$(json "$w/out" 'j["lastFull"] is not None and j["leaseExpiry"] is not None')" = True ] &&
		ok "$name: info has the last full run and the lease expiry" || {
		fail "$name: info lacks lastFull or leaseExpiry"
		cat "$w/out"
	}
	local run2 info
	run2=$(json "$w/run-$name-2.json" '(j["bytesReclaimed"], j["bytesReclaimable"])')
	info=$(json "$w/out" '(j["lastBytesReclaimed"], j["bytesReclaimable"])')
	if [ -n "$run2" ] && [ "$run2" = "$info" ]; then
		ok "$name: info reports the last run's bytes reclaimed and reclaimable $info"
	else
		fail "$name: info says (reclaimed, reclaimable) $info, the last run $run2"
	fi

	must "$name: verify --read-data after maintenance" "$coffer" snapshot verify --read-data
	must "$name: restore the remaining snapshot" "$coffer" restore "$id2" "$w/restore-$name"
	if diff -r --no-dereference "$src" "$w/restore-$name" >"$w/diff" 2>&1; then
		ok "$name: the restored tree equals the source bit for bit"
	else
		fail "$name: the restored tree differs"
		head "$w/diff"
	fi

	# --lease-settle 0: always too slow where the settle step applies
	"$coffer" maintenance run --lease-settle 0 >"$w/out" 2>"$w/err"
	r=$?
	if [ "$atomic" = 1 ]; then
		check "$name: --lease-settle 0 does not apply with atomic create" 0 $r
	else
		check "$name: --lease-settle 0: taking the lease is too slow, transient" 6 $r
		contains "$name: the message says the bound and retry" "$w/err" "longer than the 0.0 s bound"
		must "$name: the lease given up does not block the next run" "$coffer" maintenance run \
			--lease-settle $SETTLE
	fi
}

# ------------------------------------------------------------------ S3: concurrent runs
s3_lease_races() { # URL; KOPIA_REPOSITORY and KOPIA_CACHE_DIR still set
	local repo=$1 a b ra rb
	echo "--- s3: two runs at the same moment (at ${SECONDS}s)"
	for a in 1 2; do
		KOPIA_CACHE_DIR=$w/cache-race-$a "$coffer" maintenance run --full --safety none \
			--lease-settle 3 >"$w/race-$a.out" 2>"$w/race-$a.err" &
		eval "pid$a=$!"
	done
	# shellcheck disable=SC2154
	wait "$pid1"
	ra=$?
	# shellcheck disable=SC2154
	wait "$pid2"
	rb=$?
	if [ "$ra" -eq 0 ] && [ "$rb" -eq 1 ]; then a=1 b=2; elif [ "$ra" -eq 1 ] && [ "$rb" -eq 0 ]; then a=2 b=1; else
		fail "s3: two runs at once: expected one success and one exit 1, got $ra and $rb"
		cat "$w/race-1.err" "$w/race-2.err"
		a=""
	fi
	if [ -n "$a" ]; then
		ok "s3: two runs at once: run $a succeeded, run $b failed"
		if grep -qF "took the lease at the same moment" "$w/race-$b.err"; then
			ok "s3: the loser lost the race for the same generation: $(cat "$w/race-$b.err")"
		elif grep -qF "(a run is in progress)" "$w/race-$b.err"; then
			ok "s3: the loser found the winner's lease already there: $(cat "$w/race-$b.err")"
		else
			fail "s3: the loser's message is not a lease error:"
			cat "$w/race-$b.err"
		fi
	fi
	must "s3: verify --read-data after the race" "$coffer" snapshot verify --read-data
	if [ "${COFFER_SERVER_TESTS:-1}" = quick ]; then
		echo "COFFER_SERVER_TESTS=quick: no forced lost race (about 25 s of aws CLI and waits)"
		return
	fi

	echo "--- s3: a lost race made certain (at ${SECONDS}s)"
	local bucket=$COFFER_TEST_BUCKET key=${repo#s3://*/} lease_dir g_name x_name
	lease_dir="s3://$bucket/$key/maintenance/lease"
	s3cli() { "$aws" --endpoint-url "$AWS_S3_ENDPOINT" "$@"; }
	g_name=$(s3cli s3 ls "$lease_dir/" | awk '{ print $4 }' | sort | tail -1)
	[ -n "$g_name" ] || {
		fail "s3: no lease blob listed under $lease_dir"
		return
	}
	must "s3: save lease generation $g_name" s3cli s3 cp --only-show-errors "$lease_dir/$g_name" "$w/lease-g"
	must "s3: another run X takes the next generation" "$coffer" maintenance run --lease-settle $SETTLE
	x_name=$(s3cli s3 ls "$lease_dir/" | awk '{ print $4 }' | sort | tail -1)
	[ "$x_name" != "$g_name" ] || {
		fail "s3: run X did not write a new lease generation"
		return
	}
	must "s3: save X's lease $x_name" s3cli s3 cp --only-show-errors "$lease_dir/$x_name" "$w/lease-x"
	must "s3: put generation $g_name back" s3cli s3 cp --only-show-errors "$w/lease-g" "$lease_dir/$g_name"
	must "s3: remove X's generation" s3cli s3 rm --only-show-errors "$lease_dir/$x_name"
	# run A takes $x_name again and waits 2 x 6 s; X's later put lands in that wait
	"$coffer" maintenance run --full --safety none --lease-settle 6 >"$w/lost.out" 2>"$w/lost.err" &
	local pid=$! i seen=0
	for i in $(seq 1 40); do
		if s3cli s3 ls "$lease_dir/$x_name" >/dev/null 2>&1; then
			seen=1
			break
		fi
		sleep 0.1
	done
	[ "$seen" = 1 ] && ok "s3: run A put generation $x_name" || fail "s3: run A did not put $x_name"
	must "s3: X's put of the same generation lands during A's wait" \
		s3cli s3 cp --only-show-errors "$w/lease-x" "$lease_dir/$x_name"
	wait "$pid"
	check "s3: run A lost the lease to the later put" 1 $?
	contains "s3: A says another run took the lease" "$w/lost.err" "took the lease at the same moment"
	must "s3: verify --read-data after the lost race" "$coffer" snapshot verify --read-data
	must "s3: the next run succeeds" "$coffer" maintenance run --full --safety none --lease-settle $SETTLE
}

# Each backend in its own subshell, all at once: most of the time is spent waiting for
# servers and settle steps. Each subshell's exit status is its failure count.
for b in $backends; do
	(
		w=$tmp/w-$b
		mkdir -p "$w"
		failures=0
		case $b in
		s3)
			# shellcheck disable=SC1091
			. "$tmp/swift/env"
			maintenance_round_trip s3 "s3://$COFFER_TEST_BUCKET/maint" 0
			s3_lease_races "s3://$COFFER_TEST_BUCKET/maint"
			;;
		gcs)
			# shellcheck disable=SC1091
			. "$tmp/gcs/env"
			unset GCS_ENDPOINT
			maintenance_round_trip gcs "gcs://$GCS_TEST_BUCKET/maint" 0
			;;
		azure)
			# shellcheck disable=SC1091
			. "$tmp/azurite/env"
			maintenance_round_trip azure "azure://$AZURE_TEST_CONTAINER/maint" 1
			;;
		esac
		echo "--- $b done at ${SECONDS}s: $failures failure(s)"
		exit $((failures > 100 ? 100 : failures))
	) >"$tmp/log-$b" 2>&1 &
	eval "pid_$b=$!"
done
for b in $backends; do
	eval "wait \$pid_$b"
	n=$?
	cat "$tmp/log-$b"
	failures=$((failures + n))
done

echo "--- done at ${SECONDS}s: $failures failure(s)"
[ "$failures" -eq 0 ]
