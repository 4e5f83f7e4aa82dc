#!/bin/bash
# Backup and restore throughput through each storage backend, against the filesystem
# backend, on the same corpus in the same run (bench/README.md). The S3, GCS and Azure
# servers are the test servers (tests/servers/): Swift's s3api, the firebase GCS emulator
# and Azurite on 127.0.0.1, so the numbers measure coffer's protocol path plus those
# servers, not a cloud.
# usage: bench/backends.sh --coffer PATH [--work DIR] [--backends "fs s3 gcs azure"]
#                          [--real-mib N] [--random-mib N] [--parallel N]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work=$top/build/bench-backends
coffer=""
backends="fs s3 gcs azure"
real_mib=256
random_mib=64
parallel=""
while [ $# -gt 0 ]; do
	case "$1" in
	--work) work=$2; shift 2 ;;
	--coffer) coffer=$2; shift 2 ;;
	--backends) backends=$2; shift 2 ;;
	--real-mib) real_mib=$2; shift 2 ;;
	--random-mib) random_mib=$2; shift 2 ;;
	--parallel) parallel="--parallel $2"; shift 2 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done
[ -n "$coffer" ] || { echo "bench/backends.sh: --coffer PATH (an installed coffer) is required" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "bench/backends.sh: run as root (it drops the page cache)" >&2; exit 2; }
mkdir -p "$work"
work=$(cd "$work" && pwd)
corpus=$work/corpus
"$top/bench/make-corpus.sh" "$corpus" "$real_mib" "$random_mib"
rm -f "$corpus/.files" "$corpus/.complete" 2>/dev/null || true
bytes=$(du -sb "$corpus" | cut -f1)
export KOPIA_PASSWORD=bench-password
results=$work/results.tsv
: >"$results"
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

measure() { # BACKEND STEP CMD...
	local b=$1 step=$2 out
	shift 2
	drop_caches
	out=$(mktemp)
	if /usr/bin/time -f '%e %M' -o "$out" "$@" >"$work/$b-$step.log" 2>&1; then
		read -r secs rss <"$out"
		printf '%s\t%s\t%s\t%s\n' "$b" "$step" "$secs" "$rss" >>"$results"
		echo "bench: $b $step: ${secs}s, peak RSS $((rss / 1024)) MiB"
	else
		echo "bench: $b $step FAILED, see $work/$b-$step.log" >&2
		tail -3 "$work/$b-$step.log" >&2
		printf '%s\t%s\tFAILED\t0\n' "$b" "$step" >>"$results"
	fi
	rm -f "$out"
}

for b in $backends; do
	srv=$work/srv-$b
	rm -rf "$srv" "$work/restore-$b" "$work/cache-$b"
	export KOPIA_CACHE_DIR=$work/cache-$b
	if [ "$b" = fs ]; then
		url=filesystem://$work/repo-fs
		rm -rf "$work/repo-fs"
	else
		case $b in s3) script=swift.sh ;; gcs) script=gcs.sh ;; azure) script=azurite.sh ;; esac
		"$top/tests/servers/$script" start "$srv" >/dev/null
		# shellcheck disable=SC1091
		. "$srv/env"
		url=$COFFER_TEST_URL/bench-$$
	fi
	"$coffer" repository create --repository "$url" >/dev/null
	# shellcheck disable=SC2086
	measure "$b" backup "$coffer" snapshot create "$corpus" --repository "$url" --source bench@bench:/c $parallel
	mkdir -p "$work/restore-$b"
	# shellcheck disable=SC2086
	measure "$b" restore "$coffer" restore latest "$work/restore-$b" --repository "$url" --source bench@bench:/c $parallel
	if diff -r --no-dereference "$corpus" "$work/restore-$b" >/dev/null 2>&1; then
		echo "bench: $b restore is identical to the corpus"
	else
		echo "bench: WARNING: $b restore differs from the corpus" >&2
	fi
	rm -rf "$work/restore-$b"
	[ "$b" = fs ] || "$top/tests/servers/$script" stop "$srv"
done

python3 - "$results" "$bytes" <<'PY'
import sys
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1]) if l.strip()]
total = int(sys.argv[2])
val = {}
for b, step, v, rss in rows:
    val.setdefault(b, {})[step] = None if v == 'FAILED' else float(v)
print(f"\ncorpus: {total/1e6:.0f} MB\n")
print("| backend | backup | restore |")
print("|---|---|---|")
for b, steps in val.items():
    cells = []
    for step in ('backup', 'restore'):
        v = steps.get(step)
        base = val.get('fs', {}).get(step)
        if v is None:
            cells.append('FAILED'); continue
        ratio = f" ({base / v:.2f}x fs)" if base and b != 'fs' else ''
        cells.append(f"{v:.2f} s, {total / v / 1e6:.0f} MB/s{ratio}")
    print(f"| {b} | " + " | ".join(cells) + " |")
print("\nratio: the filesystem backend's time / this backend's time (1 = as fast as fs).")
PY
