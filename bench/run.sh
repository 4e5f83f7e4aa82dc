#!/bin/bash
# coffer against restic and borg on the same corpus in the same run (see bench/README.md).
# usage: bench/run.sh [--work DIR] [--corpus DIR] [--coffer PATH] [--tools "coffer restic borg"]
#                     [--real-mib N] [--random-mib N]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work=$top/build/bench-work
corpus=""
coffer=""
tools="coffer restic borg"
real_mib=1024
random_mib=200
while [ $# -gt 0 ]; do
	case "$1" in
	--work) work=$2; shift 2 ;;
	--corpus) corpus=$2; shift 2 ;;
	--coffer) coffer=$2; shift 2 ;;
	--tools) tools=$2; shift 2 ;;
	--real-mib) real_mib=$2; shift 2 ;;
	--random-mib) random_mib=$2; shift 2 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (it drops the page cache before every step)" >&2; exit 2; }
"$top/scripts/install-deps.sh" --bench
mkdir -p "$work"
work=$(cd "$work" && pwd)
corpus=${corpus:-$work/corpus}
"$top/bench/make-corpus.sh" "$corpus" "$real_mib" "$random_mib"

if [ -z "$coffer" ]; then
	echo "bench: building coffer (optimised) in $work/build"
	(cd "$top" && ./autogen.sh >/dev/null 2>&1)
	mkdir -p "$work/build"
	(cd "$work/build" && { [ -f Makefile ] || "$top/configure" --prefix="$work/prefix" CFLAGS="-O2 -g" >/dev/null; } &&
		make -j"$(nproc)" >/dev/null && make install >/dev/null)
	coffer=$work/prefix/bin/coffer
fi

export KOPIA_PASSWORD=bench-password RESTIC_PASSWORD=bench-password BORG_PASSPHRASE=bench-password
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export KOPIA_CACHE_DIR=$work/coffer-cache RESTIC_CACHE_DIR=$work/restic-cache BORG_BASE_DIR=$work/borg-base
results=$work/results.tsv
: >"$results"

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# measure TOOL STEP CMD...: wall seconds and peak RSS (KiB) into results.tsv
measure() {
	local tool=$1 step=$2
	shift 2
	drop_caches
	local out
	out=$(mktemp)
	if ! /usr/bin/time -f '%e %M' -o "$out" "$@" >"$work/$tool-$step.log" 2>&1; then
		echo "bench: $tool $step failed, see $work/$tool-$step.log" >&2
		tail -5 "$work/$tool-$step.log" >&2
		printf '%s\t%s\tFAILED\t0\n' "$tool" "$step" >>"$results"
		rm -f "$out"
		return 0
	fi
	read -r secs rss <"$out"
	rm -f "$out"
	printf '%s\t%s\t%s\t%s\n' "$tool" "$step" "$secs" "$rss" >>"$results"
	echo "bench: $tool $step: ${secs}s, peak RSS $((rss / 1024)) MiB"
}

src=$work/src
rm -rf "$src" "$work"/repo-* "$work"/restore-* "$work/cp-copy" "$work"/*-cache "$work/borg-base"
cp -a "$corpus" "$src"
rm -f "$src/.files" "$src/.complete"
bytes=$(du -sb "$src" | cut -f1)
files=$(find "$src" -type f | wc -l)
echo "bench: corpus $src: $files files, $((bytes / 1048576)) MiB"

for t in $tools; do
	case $t in
	coffer) "$coffer" repository create --repository "filesystem://$work/repo-coffer" >/dev/null ;;
	restic) restic init --repository-version 2 -r "$work/repo-restic" >/dev/null ;;
	borg) borg init -e repokey "$work/repo-borg" >/dev/null ;;
	esac
done

backup() { # TOOL STEP
	case $1 in
	coffer) measure coffer "$2" "$coffer" snapshot create "$src" --repository "filesystem://$work/repo-coffer" --source bench@bench:/src ;;
	restic) measure restic "$2" restic -r "$work/repo-restic" backup --host bench "$src" ;;
	borg) measure borg "$2" borg create --compression zstd "$work/repo-borg::$2" "$src" ;;
	esac
}

for t in $tools; do backup "$t" first; done
# change 1 % of the files: every 100th in sorted order gets 4 KiB appended
find "$src" -type f | LC_ALL=C sort | awk 'NR % 100 == 0' | while IFS= read -r f; do
	head -c 4096 /dev/urandom >>"$f"
done
for t in $tools; do backup "$t" second; done

for t in $tools; do
	mkdir -p "$work/restore-$t"
	case $t in
	coffer) measure coffer restore "$coffer" restore latest "$work/restore-$t" --repository "filesystem://$work/repo-coffer" --source bench@bench:/src ;;
	restic) measure restic restore restic -r "$work/repo-restic" restore latest --target "$work/restore-$t" ;;
	borg) measure borg restore sh -c "cd '$work/restore-$t' && borg extract '$work/repo-borg::second'" ;;
	esac
done
measure cp restore cp -a "$src" "$work/cp-copy"

if echo "$tools" | grep -q coffer; then
	if diff -r --no-dereference "$src" "$work/restore-coffer" >/dev/null 2>&1; then
		echo "bench: coffer's restore is identical to the source"
	else
		echo "bench: WARNING: coffer's restore differs from the source" >&2
	fi
fi

for t in $tools; do
	printf '%s\tsize\t%s\t0\n' "$t" "$(du -sb "$work/repo-$t" | cut -f1)" >>"$results"
done

python3 - "$results" "$bytes" "$files" <<'PY'
import sys, collections
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1]) if l.strip()]
total = int(sys.argv[2]); files = int(sys.argv[3])
val = collections.defaultdict(dict); rss = collections.defaultdict(int)
for tool, step, v, r in rows:
    val[tool][step] = v
    rss[tool] = max(rss[tool], int(r))
def f(tool, step):
    v = val[tool].get(step)
    return None if v in (None, 'FAILED') else float(v)
tools = [t for t in ['coffer', 'restic', 'borg', 'cp'] if t in val]
print(f"\ncorpus: {files} files, {total/1e6:.0f} MB\n")
print("| tool | first backup | +1 % backup | restore | repo size | peak RSS |")
print("|---|---|---|---|---|---|")
for t in tools:
    cells = []
    for step in ('first', 'second', 'restore'):
        v = f(t, step)
        if v is None: cells.append('-' if step not in val[t] else 'FAILED'); continue
        base = f('restic', step)
        ratio = f" ({base / v:.2f}x restic)" if base and t != 'restic' else ''
        mbps = f", {total / v / 1e6:.0f} MB/s" if step != 'second' else ''
        cells.append(f"{v:.2f} s{mbps}{ratio}")
    size = f(t, 'size')
    rsize = f('restic', 'size')
    cells.append('-' if size is None else f"{size/1e6:.0f} MB" + (f" ({size / rsize:.3f}x restic)" if rsize and t != 'restic' else ''))
    r = rss[t] / 1024
    cells.append(f"{r:.0f} MiB" + (f" ({rss[t] / rss['restic']:.2f}x restic)" if rss.get('restic') and t not in ('restic',) else ''))
    print(f"| {t} | " + " | ".join(cells) + " |")
print("\nratios: for times, restic's time / the tool's time (above 1 = faster than restic); for size and RSS, the tool's / restic's (below 1 = smaller).")
PY
