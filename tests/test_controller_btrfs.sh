#!/bin/bash
# copyMethod Snapshot on a real btrfs (a 256 MiB image, loop-mounted; needs root,
# mkfs.btrfs and loop devices, else SKIP, also under COFFER_REQUIRE_SERVERS=1, since a
# container may have no loop devices): a source
# backed up from a writable snapshot next to its subvolume, removed afterwards; a
# destination restored into a subvolume and imaged as a read-only snapshot, the previous
# image removed at the next restore (docs/controller.md, copyMethod).
set -u
if [ "${COFFER_SKIP_LONG:-0}" = 1 ]; then
	echo "SKIP: COFFER_SKIP_LONG=1"
	exit 77
fi
top_build=${COFFER_TOP_BUILDDIR:-$(pwd)}
coffer="$top_build/core/bin/coffer"
skip() { echo "SKIP: $*"; exit 77; }
[ -e "$top_build/plugins/frontend-controller/frontend-controller.la" ] || { echo "SKIP: frontend-controller not built"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is needed to read the JSON status"; exit 77; }
[ "$(id -u)" = 0 ] || skip "mounting a btrfs image needs root"
command -v mkfs.btrfs >/dev/null && command -v btrfs >/dev/null || skip "btrfs-progs is not installed (apt-get install btrfs-progs)"
grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null || skip "the kernel has no btrfs"
export COFFER_PLUGIN_PATH="$top_build/plugins/backend-fs:$top_build/plugins/codec:$top_build/plugins/frontend-cli:$top_build/plugins/frontend-mover:$top_build/plugins/frontend-controller:$top_build/plugins/hook-shell"
export COFFER_TEST_SCRYPT_N=1024
for v in $(env | sed -n 's/^\(KOPIA_[A-Z_]*\|DATA_DIR\|CUSTOM_CA\|COFFER_CONFIG\)=.*/\1/p'); do unset "$v"; done
tmp=$(mktemp -d /tmp/coffer-btrfs-XXXXXX)
mnt=$tmp/mnt
trap 'umount "$mnt" 2>/dev/null; rm -rf "$tmp"' EXIT
failures=0
ok() { echo "ok: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }

truncate -s 256M "$tmp/btrfs.img"
mkfs.btrfs -q "$tmp/btrfs.img" >"$tmp/mkfs.log" 2>&1 || skip "mkfs.btrfs failed: $(tail -1 "$tmp/mkfs.log")"
mkdir -p "$mnt"
mount -o loop "$tmp/btrfs.img" "$mnt" 2>"$tmp/mount.log" || skip "cannot loop-mount the btrfs image: $(tail -1 "$tmp/mount.log")"
mkdir -p "$mnt/vols" "$tmp/manifests" "$tmp/state"
btrfs -q subvolume create "$mnt/vols/mydata" >/dev/null
btrfs -q subvolume create "$mnt/vols/datavol" >/dev/null
mkdir "$mnt/vols/plain"
seq 1 20000 >"$mnt/vols/mydata/numbers.txt"
mkdir "$mnt/vols/mydata/d" && head -c 200000 /dev/urandom >"$mnt/vols/mydata/d/random.bin"
cat >"$tmp/coffer.conf" <<EOF
state_dir = "$tmp/state";
manifests_dir = "$tmp/manifests";
volumes = { mydata = "$mnt/vols/mydata"; datavol = "$mnt/vols/datavol"; plain = "$mnt/vols/plain"; };
EOF
cat >"$tmp/manifests/all.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata: {name: kopia-config}
stringData: {KOPIA_REPOSITORY: "filesystem://$tmp/repo", KOPIA_PASSWORD: pw}
---
apiVersion: volsync.backube/v1alpha1
kind: ReplicationSource
metadata: {name: snap}
spec:
  sourcePVC: mydata
  trigger: {manual: one}
  kopia:
    repository: kopia-config
    copyMethod: Snapshot
    actions: {beforeSnapshot: "echo from-the-snapshot > hook.txt"}
EOF
once() {
	"$coffer" controller run --config "$tmp/coffer.conf" --once >"$tmp/ctl.out" 2>"$tmp/ctl.log"
	rc=$?
}
field() { # KIND/NAME PYTHON-EXPRESSION-ON-d
	"$coffer" controller status --config "$tmp/coffer.conf" "$1" -o json >"$tmp/status.json" 2>&1 || { echo STATUS-FAILED; return; }
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$tmp/status.json" "$2" 2>&1
}
check() { # DESCRIPTION CONDITION...
	local d=$1
	shift
	if "$@"; then ok "$d"; else fail "$d"; tail -n 20 "$tmp/ctl.log" "$tmp"/state/logs/*/default/*.log; fi
}

once
check "backup from a btrfs snapshot (exit $rc)" [ "$rc" = 0 ]
check "the snapshot next to the volume is gone" [ ! -e "$mnt/vols/.volsync-default-snap-src" ]
check "the hook wrote into the snapshot, not the volume" [ ! -e "$mnt/vols/mydata/hook.txt" ]
grep -q "btrfs snapshot of" "$tmp/state/logs/source/default/snap.log" && ok "the log shows the snapshot" || fail "no snapshot in the log"
KOPIA_PASSWORD=pw "$coffer" restore latest "$tmp/r1" --repository "filesystem://$tmp/repo" --source snap@default:/data >/dev/null 2>&1
check "the snapshot's backup holds the hook's file" [ "$(cat "$tmp/r1/hook.txt" 2>/dev/null)" = from-the-snapshot ]
rm -f "$tmp/r1/hook.txt"
if diff -r "$mnt/vols/mydata" "$tmp/r1" >/dev/null; then ok "and the volume's data"; else fail "restored data differs"; fi

cat >>"$tmp/manifests/all.yaml" <<EOF
---
apiVersion: volsync.backube/v1alpha1
kind: ReplicationDestination
metadata: {name: dest}
spec:
  trigger: {manual: first}
  kopia: {repository: kopia-config, destinationPVC: datavol, copyMethod: Snapshot, sourceIdentity: {sourceName: snap}}
---
apiVersion: volsync.backube/v1alpha1
kind: ReplicationSource
metadata: {name: not-a-subvolume}
spec:
  sourcePVC: plain
  trigger: {manual: one}
  kopia: {repository: kopia-config, copyMethod: Snapshot}
EOF
once
check "restore, then image (exit 1 only for the plain folder: $rc)" [ "$rc" = 1 ]
image1=$(field rd/dest "d['status']['coffer']['latestImage']")
case "$image1" in "$mnt/vols/.volsync-default-dest-"*) ok "latestImage is a snapshot next to the volume: $image1";; *) fail "latestImage: $image1";; esac
check "the image holds the restored data" diff -r -x hook.txt "$mnt/vols/mydata" "$image1"
check "the image is read-only" [ "$(btrfs property get -ts "$image1" ro 2>/dev/null)" = "ro=true" ]
msg=$(field rs/not-a-subvolume "d['status']['conditions'][0]['message']")
case "$msg" in *"not the root of a subvolume"*) ok "a plain folder on btrfs is refused: $msg";; *) fail "message: $msg";; esac
sleep 1.1
sed -i 's/trigger: {manual: first}/trigger: {manual: second}/' "$tmp/manifests/all.yaml"
once
image2=$(field rd/dest "d['status']['coffer']['latestImage']")
check "a second restore makes a new image" [ -n "$image2" ] && [ "$image2" != "$image1" ] && [ -d "$image2" ]
check "and removes the previous one" [ ! -e "$image1" ]

echo "$failures failures"
[ $failures -eq 0 ]
