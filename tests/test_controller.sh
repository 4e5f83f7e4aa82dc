#!/bin/bash
# The controller end to end (docs/controller.md): VolSync's e2e scenarios driven by
# manifests as users write them, with `coffer controller run --once`, one continuous `run`
# with SIGHUP and SIGTERM, `status` and `validate`. On a filesystem repository, or with
# COFFER_CTL_BACKEND=s3 (tests/test_controller_swift.sh) on S3 served by Swift.
set -u
backend=${COFFER_CTL_BACKEND:-fs}
if [ "${COFFER_SKIP_LONG:-0}" = 1 ]; then
	echo "SKIP: COFFER_SKIP_LONG=1"
	exit 77
fi
top_src=${COFFER_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
top_build=${COFFER_TOP_BUILDDIR:-$(pwd)}
coffer="$top_build/core/bin/coffer"
[ -e "$top_build/plugins/frontend-controller/frontend-controller.la" ] || { echo "SKIP: frontend-controller not built"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is needed to read the JSON status"; exit 77; }
export COFFER_PLUGIN_PATH="$top_build/plugins/backend-fs:$top_build/plugins/codec:$top_build/plugins/frontend-cli:$top_build/plugins/frontend-mover:$top_build/plugins/frontend-controller:$top_build/plugins/hook-shell"
export COFFER_TEST_SCRYPT_N=1024
for v in $(env | sed -n 's/^\(KOPIA_[A-Z_]*\|DATA_DIR\|CUSTOM_CA\|COFFER_CONFIG\)=.*/\1/p'); do unset "$v"; done
tmp=$(mktemp -d /tmp/coffer-controller-XXXXXX)
ctl_pid=
trap 'kill $ctl_pid 2>/dev/null; [ "$backend" = s3 ] && "$top_src/tests/servers/swift.sh" stop "$tmp/swift"; rm -rf "$tmp"' EXIT
secret_extra=
if [ "$backend" = s3 ]; then
	[ -e "$top_build/plugins/backend-s3/backend-s3.la" ] || { echo "SKIP: backend-s3 not built"; exit 77; }
	# shellcheck source=tests/servers/lib.sh
	. "$top_src/tests/servers/lib.sh"
	srv_enabled
	export COFFER_PLUGIN_PATH="$COFFER_PLUGIN_PATH:$top_build/plugins/backend-s3"
	"$top_src/tests/servers/swift.sh" start "$tmp/swift"
	rc=$?
	[ $rc -eq 0 ] || exit $rc
	# shellcheck disable=SC1091
	. "$tmp/swift/env"
	# The test's own CLI calls use these; the movers get them only from the Secrets.
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_S3_ENDPOINT AWS_REGION
	repo_url="s3://$COFFER_TEST_BUCKET/controller"
	secret_extra="AWS_ACCESS_KEY_ID: $AWS_ACCESS_KEY_ID
  AWS_SECRET_ACCESS_KEY: $AWS_SECRET_ACCESS_KEY
  AWS_S3_ENDPOINT: $AWS_S3_ENDPOINT
  AWS_REGION: us-east-1"
	srv_require "${COFFER_AWS_CLI:-/usr/bin/aws}"
	count_objects() {
		AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER="" "${COFFER_AWS_CLI:-/usr/bin/aws}" \
			--endpoint-url "$AWS_S3_ENDPOINT" s3 ls --recursive "s3://$COFFER_TEST_BUCKET/controller/" 2>/dev/null | wc -l
	}
else
	repo_url="filesystem://$tmp/repo"
	count_objects() { find "$tmp/repo" -type f 2>/dev/null | wc -l; }
fi
failures=0
ok() { echo "ok: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }

mkdir -p "$tmp/vol/mydata/sub" "$tmp/vol/datavol" "$tmp/vol/other" "$tmp/manifests" "$tmp/state"
seq 1 30000 >"$tmp/vol/mydata/numbers.txt"
head -c 300000 /dev/urandom >"$tmp/vol/mydata/sub/random.bin"
ln -s numbers.txt "$tmp/vol/mydata/link"
echo other >"$tmp/vol/other/file"
cat >"$tmp/coffer.conf" <<EOF
state_dir = "$tmp/state";
manifests_dir = "$tmp/manifests";
volumes = { mydata = "$tmp/vol/mydata"; datavol = "$tmp/vol/datavol"; other = "$tmp/vol/other";
            team-b = { mydata = "$tmp/vol/other"; }; };
concurrency = 2;
log_level = "debug";
retry_initial_seconds = 1;
continuous_interval_seconds = 1;
poll_seconds = 1;
stop_timeout_seconds = 20;
EOF
cat >"$tmp/manifests/secret.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: kopia-config
type: Opaque
stringData:
  KOPIA_REPOSITORY: $repo_url
  KOPIA_PASSWORD: my-secure-kopia-password
  $secret_extra
EOF

once() { # runs `controller run --once`; log in $tmp/ctl.log, exit status in $rc
	"$coffer" controller run --config "$tmp/coffer.conf" --once >"$tmp/ctl.out" 2>"$tmp/ctl.log"
	rc=$?
}
expect_rc() { # DESCRIPTION EXPECTED
	if [ "$rc" = "$2" ]; then ok "$1 (exit $rc)"; else fail "$1: expected exit $2, got $rc"; tail -30 "$tmp/ctl.log"; fi
}
# field KIND/NAME PYTHON-EXPRESSION-ON-d: prints the value from `controller status -o json`.
field() {
	"$coffer" controller status --config "$tmp/coffer.conf" "$1" -o json >"$tmp/status.json" 2>"$tmp/status.err" || {
		echo "STATUS-FAILED"
		return
	}
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$tmp/status.json" "$2" 2>&1
}
expect_field() { # DESCRIPTION KIND/NAME EXPR EXPECTED
	local got
	got=$(field "$2" "$3")
	if [ "$got" = "$4" ]; then ok "$1: $3 = $4"; else fail "$1: $3 is '$got', expected '$4'"; cat "$tmp/status.json" "$tmp/status.err" 2>/dev/null | tail -40; fi
}
snapshots() { # SOURCE: number of snapshots of that identity
	KOPIA_PASSWORD=my-secure-kopia-password "$coffer" snapshot list "$1" --repository "$repo_url" --json 2>/dev/null |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo 0
}
same_tree() { # DESCRIPTION A B
	if diff -r "$2" "$3" >/dev/null 2>&1; then ok "$1"; else fail "$1"; diff -r "$2" "$3" | head -5; fi
}
source_manifest() { # NAME TRIGGER-YAML [EXTRA-KOPIA-YAML]
	cat >"$tmp/manifests/$1.yaml" <<EOF
---
apiVersion: volsync.backube/v1alpha1
kind: ReplicationSource
metadata:
  name: $1
spec:
  sourcePVC: mydata
  trigger:
    $2
  kopia:
    repository: kopia-config
    compression: zstd
    parallelism: 2
    copyMethod: Direct
${3:-}
EOF
}
dest_manifest() { # NAME MANUAL [EXTRA-KOPIA-YAML]
	cat >"$tmp/manifests/$1.yaml" <<EOF
apiVersion: volsync.backube/v1alpha1
kind: ReplicationDestination
metadata:
  name: $1
spec:
  trigger:
    manual: $2
  kopia:
    repository: kopia-config
    destinationPVC: datavol
    copyMethod: Direct
${3:-}
EOF
}

# --- the repository is created by the first backup; manual trigger once per value
source_manifest mydata-backup "manual: first"
"$coffer" controller validate "$tmp/manifests" >"$tmp/validate.out" 2>&1
rc=$?
expect_rc "validate accepts the manifests" 0
grep -q "ok: ReplicationSource default/mydata-backup" "$tmp/validate.out" && ok "validate lists the source" || { fail "validate output"; cat "$tmp/validate.out"; }
once
expect_rc "first --once" 0
[ "$(count_objects)" -gt 0 ] && ok "the repository was created by the first backup" || fail "no repository at $repo_url"
grep -q "creating it" "$tmp/state/logs/source/default/mydata-backup.log" && ok "the mover log says it created the repository" || fail "no creation message"
expect_field "manual sync recorded" rs/mydata-backup "d['status']['lastManualSync']" first
expect_field "mover result" rs/mydata-backup "d['status']['latestMoverStatus']['result']" Successful
expect_field "condition" rs/mydata-backup "d['status']['conditions'][0]['reason']" WaitingForManual
expect_field "the first backup ran maintenance: kopia.lastMaintenance" rs/mydata-backup "len(d['status']['kopia']['lastMaintenance']) == 20" True
expect_field "the snapshot id is in the status" rs/mydata-backup "len(d['status']['coffer']['lastSnapshot']) > 8" True
grep -q "mydata-backup@default:/data" "$tmp/state/logs/source/default/mydata-backup.log" && ok "identity name@namespace:/data" || fail "identity not in the mover log"
[ "$(snapshots mydata-backup@default:/data)" = 1 ] && ok "one snapshot of mydata-backup@default:/data" || fail "snapshots of mydata-backup@default:/data: $(snapshots mydata-backup@default:/data)"
t1=$(field rs/mydata-backup "d['status']['lastSyncTime']")
once
expect_rc "second --once with the same manual value" 0
expect_field "no new sync for the same manual value" rs/mydata-backup "d['status']['lastSyncTime']" "$t1"
[ "$(snapshots mydata-backup@default:/data)" = 1 ] && ok "still one snapshot" || fail "a second snapshot appeared"
sleep 1.1
echo changed >"$tmp/vol/mydata/changed.txt"
source_manifest mydata-backup "manual: second"
once
expect_rc "--once with a new manual value" 0
expect_field "the new value is recorded" rs/mydata-backup "d['status']['lastManualSync']" second
[ "$(snapshots mydata-backup@default:/data)" = 2 ] && ok "a second snapshot" || fail "snapshots: $(snapshots mydata-backup@default:/data)"
grep -q "creating it" "$tmp/state/logs/source/default/mydata-backup.log" && fail "the repository was created again" || ok "the repository was not re-created"
between=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cp -a "$tmp/vol/mydata" "$tmp/at-second"
sleep 1.1
echo third >"$tmp/vol/mydata/third.txt"
source_manifest mydata-backup "manual: third"
once
expect_rc "third backup" 0

# --- restore: latest, previous beyond the count, restoreAsOf
dest_manifest datavol-dest restore-once "    sourceIdentity:
      sourceName: mydata-backup"
once
expect_rc "restore --once" 0
same_tree "the restore matches the source" "$tmp/vol/mydata" "$tmp/vol/datavol"
expect_field "latestImage is the destination" rd/datavol-dest "d['status']['coffer']['latestImage']" "$tmp/vol/datavol"
rm -rf "$tmp/vol/datavol" && mkdir "$tmp/vol/datavol"
dest_manifest datavol-dest previous-5 "    sourceIdentity:
      sourceName: mydata-backup
    previous: 5"
once
expect_rc "previous beyond the number of snapshots" 0
[ -z "$(ls -A "$tmp/vol/datavol")" ] && ok "previous 5: nothing restored" || fail "previous 5 restored something"
grep -q "No eligible snapshots found" "$tmp/state/logs/destination/default/datavol-dest.log" && ok "the log says no eligible snapshots" || fail "no 'No eligible snapshots' in the log"
dest_manifest datavol-dest asof-1980 "    sourceIdentity:
      sourceName: mydata-backup
    restoreAsOf: \"1980-01-01T00:00:00Z\""
once
expect_rc "restoreAsOf 1980" 0
[ -z "$(ls -A "$tmp/vol/datavol")" ] && ok "restoreAsOf 1980: nothing restored" || fail "restoreAsOf 1980 restored something"
dest_manifest datavol-dest asof-between "    sourceIdentity:
      sourceName: mydata-backup
    restoreAsOf: \"$between\""
once
expect_rc "restoreAsOf between the second and third backups" 0
same_tree "restoreAsOf picks the earlier snapshot" "$tmp/at-second" "$tmp/vol/datavol"
dest_manifest datavol-dest asof-now "    sourceIdentity:
      sourceName: mydata-backup
    restoreAsOf: \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\""
once
expect_rc "restoreAsOf now" 0
[ -f "$tmp/vol/datavol/third.txt" ] && ok "restoreAsOf now restores the latest" || fail "restoreAsOf now did not restore the latest"
echo extra >"$tmp/vol/datavol/extra.txt"
dest_manifest datavol-dest deletion "    sourceIdentity:
      sourceName: mydata-backup
    enableFileDeletion: true"
once
expect_rc "enableFileDeletion" 0
[ ! -e "$tmp/vol/datavol/extra.txt" ] && ok "enableFileDeletion removed the extra file" || fail "extra file still there"
same_tree "after enableFileDeletion the destination equals the source" "$tmp/vol/mydata" "$tmp/vol/datavol"

# --- a destination without sourceIdentity uses the repository's only source
rm -f "$tmp/manifests/datavol-dest.yaml"
cat >"$tmp/manifests/guide-dest.yaml" <<EOF
---
apiVersion: volsync.backube/v1alpha1
kind: ReplicationDestination
metadata:
  name: guide-dest
spec:
  trigger:
    manual: restore-once
  kopia:
    repository: kopia-config
    copyMethod: Direct
    cleanupCachePVC: true
EOF
once
expect_rc "the guide's destination (no sourceIdentity, new directory)" 0
same_tree "restored from the only source into the state folder" "$tmp/vol/mydata" "$tmp/state/destinations/default/volsync-guide-dest-dest"
[ ! -e "$tmp/state/cache/destination/default/guide-dest" ] && ok "cleanupCachePVC removed the cache" || fail "cache still there"

# --- actions, retention, Clone, a second namespace
source_manifest mydata-backup "manual: fourth" "    actions:
      beforeSnapshot: \"echo quiesced > hook-marker\"
      afterSnapshot: \"rm -f hook-marker; echo after >> $tmp/after.log\"
    retain:
      latest: 2
    maintenanceIntervalDays: 0"
once
expect_rc "backup with actions and retention" 0
[ ! -e "$tmp/vol/mydata/hook-marker" ] && [ -s "$tmp/after.log" ] && ok "afterSnapshot ran" || fail "afterSnapshot did not run"
KOPIA_PASSWORD=my-secure-kopia-password "$coffer" restore latest "$tmp/r4" --repository "$repo_url" --source mydata-backup@default:/data >/dev/null 2>&1
[ "$(cat "$tmp/r4/hook-marker" 2>/dev/null)" = quiesced ] && ok "beforeSnapshot ran before the snapshot" || fail "the snapshot lacks the hook's file"
[ "$(snapshots mydata-backup@default:/data)" = 2 ] && ok "retention latest 2 leaves 2 snapshots" || fail "retention left $(snapshots mydata-backup@default:/data)"
cat >"$tmp/manifests/team-b.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: kopia-config
  namespace: team-b
data:
  KOPIA_REPOSITORY: $(printf '%s' "$repo_url" | base64 -w0)
  KOPIA_PASSWORD: $(printf 'my-secure-kopia-password' | base64 -w0)
$([ -n "$secret_extra" ] && printf 'stringData:\n  %s\n' "$secret_extra")
---
apiVersion: volsync.backube/v1alpha1
kind: ReplicationSource
metadata:
  name: cloned
  namespace: team-b
spec:
  sourcePVC: mydata
  trigger:
    manual: once
  kopia:
    repository: kopia-config
    copyMethod: Clone
    username: app
    hostname: prod
    sourcePathOverride: /srv/app
EOF
once
expect_rc "Clone in another namespace" 0
[ "$(snapshots app@prod:/srv/app)" = 1 ] && ok "identity from username/hostname/sourcePathOverride" || fail "no snapshot of app@prod:/srv/app"
[ -z "$(ls -A "$tmp/state/copies/team-b" 2>/dev/null)" ] && ok "the clone was removed" || fail "clone left behind: $(ls "$tmp/state/copies/team-b")"
grep -q "copyMethod Clone" "$tmp/state/logs/source/team-b/cloned.log" && ok "the log shows the clone" || fail "no clone in the log"
KOPIA_PASSWORD=my-secure-kopia-password "$coffer" restore latest "$tmp/r5" --repository "$repo_url" --source app@prod:/srv/app >/dev/null 2>&1
same_tree "the clone's snapshot holds the namespaced volume" "$tmp/vol/other" "$tmp/r5"

# --- a guide destination with several sources fails naming them
cat >"$tmp/manifests/guide-dest.yaml" <<EOF
apiVersion: volsync.backube/v1alpha1
kind: ReplicationDestination
metadata:
  name: guide-dest
spec:
  trigger:
    manual: restore-twice
  kopia:
    repository: kopia-config
EOF
once
expect_rc "a destination without sourceIdentity and several sources fails" 1
msg=$(field rd/guide-dest "d['status']['conditions'][0]['message']")
case "$msg" in *app@prod:/srv/app*mydata-backup@default:/data*|*mydata-backup@default:/data*app@prod:/srv/app*) ok "the error names the sources";; *) fail "error does not name the sources: $msg";; esac
expect_field "condition Error" rd/guide-dest "d['status']['conditions'][0]['reason']" Error
rm -f "$tmp/manifests/guide-dest.yaml" "$tmp/manifests/team-b.yaml"

# --- a wrong password fails without creating anything; Snapshot without btrfs
cat >"$tmp/manifests/wrong.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata: {name: wrong-password}
stringData:
  KOPIA_REPOSITORY: "$repo_url"
  KOPIA_PASSWORD: not-the-password
  $secret_extra
---
apiVersion: volsync.backube/v1alpha1
kind: ReplicationSource
metadata: {name: wrong}
spec:
  sourcePVC: other
  trigger: {manual: go}
  kopia: {repository: wrong-password}
---
apiVersion: volsync.backube/v1alpha1
kind: ReplicationSource
metadata: {name: snap}
spec:
  sourcePVC: other
  trigger: {manual: go}
  kopia: {repository: kopia-config, copyMethod: Snapshot}
EOF
before=$(count_objects)
once
expect_rc "a wrong password fails the run" 1
expect_field "wrong password: Failed" rs/wrong "d['status']['latestMoverStatus']['result']" Failed
msg=$(field rs/wrong "d['status']['conditions'][0]['message']")
case "$msg" in *assword*) ok "the error is about the password: $msg";; *) fail "error: $msg";; esac
[ "$(snapshots wrong@default:/data)" = 0 ] && [ "$(count_objects)" = "$before" ] && ok "nothing was created" || fail "the wrong password wrote to the repository"
msg=$(field rs/snap "d['status']['conditions'][0]['message']")
case "$msg" in *Snapshot*btrfs*) ok "copyMethod Snapshot without btrfs: $msg";; *) fail "Snapshot message: $msg";; esac
rm -f "$tmp/manifests/wrong.yaml"

# --- a bad manifest is reported with file, document and field; the others still run
cat >"$tmp/manifests/bad.yaml" <<EOF
apiVersion: volsync.backube/v1alpha1
kind: ReplicationSource
metadata: {name: bad}
spec:
  sourcePVC: mydata
  trigger: {manual: x}
  kopia:
    repository: kopia-config
    retain: {daily: lots}
    unknownThing: 1
EOF
source_manifest mydata-backup "manual: fifth"
once
expect_rc "--once with a bad manifest" 1
grep "bad.yaml" "$tmp/ctl.log" | grep -q "spec.kopia.retain.daily" && ok "the error names file and field" || { fail "bad manifest message"; grep bad.yaml "$tmp/ctl.log"; }
grep -q "unknownThing" "$tmp/ctl.log" && ok "the unknown field is warned about" || fail "no warning for unknownThing"
expect_field "the good object still ran" rs/mydata-backup "d['status']['lastManualSync']" fifth
"$coffer" controller validate "$tmp/manifests/bad.yaml" >"$tmp/validate.out" 2>&1
rc=$?
expect_rc "validate rejects the bad manifest" 1
rm -f "$tmp/manifests/bad.yaml"

# --- schedule: nextSyncTime
source_manifest mydata-backup 'schedule: "*/30 * * * *"'
once
expect_rc "--once with a schedule (the first sync runs at creation of the schedule)" 0
python3 - "$(field rs/mydata-backup "d['status']['lastSyncTime']")" "$(field rs/mydata-backup "d['status']['nextSyncTime']")" <<'PY' && ok "nextSyncTime is the next half hour after lastSyncTime" || fail "nextSyncTime wrong"
import sys, datetime
last = datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ")
nxt = datetime.datetime.strptime(sys.argv[2], "%Y-%m-%dT%H:%M:%SZ")
want = last.replace(second=0) + datetime.timedelta(minutes=30 - last.minute % 30)
print("last", last, "next", nxt, "want", want)
assert nxt == want
PY
expect_field "waiting for the schedule" rs/mydata-backup "d['status']['conditions'][0]['reason']" WaitingForSchedule

# --- no trigger: syncs again and again; SIGHUP picks up a new object; SIGTERM stops cleanly
source_manifest mydata-backup "{}" "    retain:
      latest: 100"
cat >"$tmp/manifests/failing.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata: {name: failing}
stringData:
  KOPIA_REPOSITORY: "$repo_url"
  KOPIA_PASSWORD: not-the-password
  $secret_extra
---
apiVersion: volsync.backube/v1alpha1
kind: ReplicationSource
metadata: {name: failing}
spec:
  sourcePVC: other
  kopia: {repository: failing}
EOF
n0=$(snapshots mydata-backup@default:/data)
"$coffer" controller run --config "$tmp/coffer.conf" >"$tmp/run.out" 2>"$tmp/run.log" &
ctl_pid=$!
sleep 8
n1=$(snapshots mydata-backup@default:/data)
[ "$n1" -ge $((n0 + 2)) ] && ok "without a trigger it synced again and again ($n0 -> $n1)" || { fail "continuous: $n0 -> $n1"; tail -20 "$tmp/run.log"; }
expect_field "a failing object is retried with backoff while the others run" rs/failing "d['status']['coffer']['failures'] >= 2 and d['status']['conditions'][0]['reason'] == 'Error'" True
dest_manifest late-dest now "    sourceIdentity:
      sourceName: mydata-backup"
sed -i -e "s|destinationPVC: datavol|destinationPVC: other|" -e "/repository: kopia-config/d" "$tmp/manifests/late-dest.yaml"  # the repository comes from the source
kill -HUP $ctl_pid
for _ in $(seq 1 30); do grep -q "late-dest: sync finished" "$tmp/run.log" && break; sleep 0.5; done
grep -q "SIGHUP" "$tmp/run.log" && grep -q "late-dest: sync finished" "$tmp/run.log" && ok "SIGHUP: the new destination ran" || { fail "SIGHUP"; tail -20 "$tmp/run.log"; }
# without a signal: a changed file is noticed within poll_seconds
sed -e "s/name: late-dest/name: polled-dest/" -e "s/manual: now/manual: polled/" "$tmp/manifests/late-dest.yaml" >"$tmp/manifests/polled-dest.yaml"
for _ in $(seq 1 30); do grep -q "polled-dest: sync finished" "$tmp/run.log" && break; sleep 0.5; done
grep -q "polled-dest: sync finished" "$tmp/run.log" && ok "a new manifest file is picked up without SIGHUP" || { fail "poll"; tail -20 "$tmp/run.log"; }
kill -TERM $ctl_pid
wait $ctl_pid
rc=$?
ctl_pid=
expect_rc "SIGTERM stops the controller cleanly" 0
grep -q "SIGTERM: stopping" "$tmp/run.log" && ok "SIGTERM logged" || fail "no SIGTERM line"
"$coffer" controller status --config "$tmp/coffer.conf" -o yaml >"$tmp/all.yaml" 2>&1
rc=$?
expect_rc "status of everything as YAML" 0
grep -q "^kind: List" "$tmp/all.yaml" && grep -q "kind: ReplicationSource" "$tmp/all.yaml" && ok "YAML list" || { fail "YAML list"; head -20 "$tmp/all.yaml"; }
KOPIA_PASSWORD=my-secure-kopia-password "$coffer" snapshot verify --repository "$repo_url" --read-data >"$tmp/verify.out" 2>&1 && ok "the repository verifies" || { fail "verify"; tail "$tmp/verify.out"; }

# --- a mover that crashes cannot take the controller down; the crash is the sync's failure
printf '#!/bin/sh\nkill -SEGV $$\n' >"$tmp/crashing-mover"
chmod +x "$tmp/crashing-mover"
sed "s|^state_dir = .*|&\ncoffer_binary = \"$tmp/crashing-mover\";|" "$tmp/coffer.conf" >"$tmp/crash.conf"
rm -f "$tmp/manifests/"*dest*.yaml "$tmp/manifests/failing.yaml"
source_manifest mydata-backup "manual: crash"
"$coffer" controller run --config "$tmp/crash.conf" --once >"$tmp/ctl.out" 2>"$tmp/ctl.log"
rc=$?
expect_rc "--once with a crashing mover ends normally, reporting the failure" 1
msg=$(field rs/mydata-backup "d['status']['conditions'][0]['message']")
case "$msg" in *"signal 11"*) ok "the crash is recorded: $msg";; *) fail "crash message: $msg";; esac
expect_field "the crash is a failed sync" rs/mydata-backup "d['status']['latestMoverStatus']['result']" Failed

# --- the guide's ReplicationSource and ReplicationDestination, unchanged (fixtures copied
# from ../shared/volsync-kopia-guide.rst), with a Secret for a filesystem repository
if [ "$backend" = fs ]; then
	g=$tmp/guide
	mkdir -p "$g/manifests" "$g/vol/mydata" "$g/vol/datavol"
	cp -a "$tmp/vol/mydata/." "$g/vol/mydata/"
	cp "$top_src/tests/data/manifests/guide-source.yaml" "$top_src/tests/data/manifests/guide-restore.yaml" "$g/"
	cp "$g/guide-source.yaml" "$g/manifests/"
	printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: kopia-config\nstringData:\n  KOPIA_REPOSITORY: filesystem://%s\n  KOPIA_PASSWORD: guide\n' "$g/repo" >"$g/manifests/secret.yaml"
	printf 'state_dir = "%s/state";\nmanifests_dir = "%s/manifests";\nvolumes = { mydata = "%s/vol/mydata"; datavol = "%s/vol/datavol"; };\n' "$g" "$g" "$g" "$g" >"$g/coffer.conf"
	"$coffer" controller run --config "$g/coffer.conf" --once >"$tmp/ctl.out" 2>"$tmp/ctl.log"
	rc=$?
	expect_rc "the guide's ReplicationSource as written (Clone, */30, retain, zstd)" 0
	cp "$g/guide-restore.yaml" "$g/manifests/"
	"$coffer" controller run --config "$g/coffer.conf" --once >"$tmp/ctl.out" 2>"$tmp/ctl.log"
	rc=$?
	expect_rc "the guide's ReplicationDestination as written" 0
	same_tree "the guide's restore into datavol matches the source" "$g/vol/mydata" "$g/vol/datavol"
fi

# --- the installed example configuration loads; the systemd unit passes systemd-analyze
"$coffer" controller status --config "$top_src/dist/coffer.conf.example" -o json >"$tmp/example.json" 2>&1
rc=$?
expect_rc "dist/coffer.conf.example loads" 0
if command -v systemd-analyze >/dev/null && [ -f "$top_build/dist/coffer-controller.service" ]; then
	sed "s|^ExecStart=[^ ]*|ExecStart=$coffer|" "$top_build/dist/coffer-controller.service" >"$tmp/coffer-controller.service"
	systemd-analyze verify "$tmp/coffer-controller.service" >"$tmp/unit.out" 2>&1 && ok "systemd-analyze verify accepts the unit" || { fail "systemd unit"; cat "$tmp/unit.out"; }
fi

# --- S3 behind TLS: the CA from a Secret (backup) and from a ConfigMap (restore); without it
# the handshake fails and the failed manual value is not recorded.
tls_source() { # MANUAL [CUSTOM-CA-YAML]
	cat >"$tmp/manifests/tls-source.yaml" <<EOF
apiVersion: volsync.backube/v1alpha1
kind: ReplicationSource
metadata:
  name: mydata-backup-with-customca
spec:
  sourcePVC: mydata
  trigger:
    manual: $1
  kopia:
    repository: kopia-tls
${2:-}
EOF
}
if [ "$backend" = s3 ]; then
	rm -f "$tmp/manifests/"*.yaml
	"$top_src/tests/servers/nginx-tls.sh" start "$tmp/nginx" "${AWS_S3_ENDPOINT##*:}"
	rc=$?
	[ $rc -eq 0 ] || { fail "nginx did not start"; echo "$failures failures"; exit 1; }
	# shellcheck disable=SC1091
	. "$tmp/nginx/env"
	trap 'kill $ctl_pid 2>/dev/null; "$top_src/tests/servers/nginx-tls.sh" stop "$tmp/nginx"; "$top_src/tests/servers/swift.sh" stop "$tmp/swift"; rm -rf "$tmp"' EXIT
	rm -rf "$tmp/vol/datavol" && mkdir "$tmp/vol/datavol"
	cat >"$tmp/manifests/tls.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: kopia-tls
type: Opaque
stringData:
  KOPIA_REPOSITORY: s3://$COFFER_TEST_BUCKET/tls-backups
  KOPIA_PASSWORD: my-secure-kopia-password
  AWS_ACCESS_KEY_ID: $AWS_ACCESS_KEY_ID
  AWS_SECRET_ACCESS_KEY: $AWS_SECRET_ACCESS_KEY
  AWS_REGION: us-east-1
  AWS_S3_ENDPOINT: $TLS_ENDPOINT
---
apiVersion: v1
kind: Secret
metadata:
  name: tls-secret
data:
  ca.crt: $(base64 -w0 "$TLS_CA_FILE")
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: tls-configmap-name
data:
  ca.crt: |
$(sed 's/^/    /' "$TLS_CA_FILE")
EOF
	tls_source first "    customCA:
      secretName: tls-secret
      key: ca.crt"
	once
	expect_rc "backup over TLS with the CA from a Secret" 0
	expect_field "backup over TLS" rs/mydata-backup-with-customca "d['status']['latestMoverStatus']['result']" Successful
	cat >"$tmp/manifests/tls-dest.yaml" <<EOF
apiVersion: volsync.backube/v1alpha1
kind: ReplicationDestination
metadata:
  name: tls-dest
spec:
  trigger:
    manual: restore-once
  kopia:
    repository: kopia-tls
    destinationPVC: datavol
    customCA:
      configMapName: tls-configmap-name
      key: ca.crt
EOF
	once
	expect_rc "restore over TLS with the CA from a ConfigMap" 0
	same_tree "the restore over TLS matches the source" "$tmp/vol/mydata" "$tmp/vol/datavol"
	tls_source second
	once
	expect_rc "without the custom CA the backup fails" 1
	msg=$(field rs/mydata-backup-with-customca "d['status']['conditions'][0]['message']")
	case "$msg" in *ertificate*) ok "the error is about the certificate";; *) fail "error: $msg";; esac
	expect_field "the failed manual value is not recorded" rs/mydata-backup-with-customca "d['status']['lastManualSync']" first
fi

echo "$failures failures"
[ $failures -eq 0 ]
