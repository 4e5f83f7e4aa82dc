#!/bin/bash
# Codec benchmark: builds a mixed corpus from this machine's files, runs every codec
# plugin at every level through bench/codec-bench in 1 MiB chunks (as the repository
# stores them), and measures Debian's `zstd -b` and `gzip` on the same corpus in the same
# run, so the numbers sit side by side.
#
#   bench/codecs.sh [--quick] [--json] [--size MIB] [--builddir DIR] [--keep DIR]
#
#   --quick      default and named levels only (zstd-fastest, gzip-best-speed, ...)
#   --json       one JSON document on stdout instead of tables
#   --size MIB   corpus size (default 32): 3/8 text, 3/8 binaries, 1/8 already
#                compressed (.gz), 1/8 random
#   --builddir   where bench/codec-bench was built (default: the source tree)
#   --keep DIR   write the corpus files to DIR and leave them there
set -eu

here=$(cd "$(dirname "$0")" && pwd)
builddir=$(dirname "$here")
quick=0
json=0
size_mib=32
keep=""
chunk=$((1024 * 1024))

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--json) json=1 ;;
	--size) size_mib=$2; shift ;;
	--builddir) builddir=$2; shift ;;
	--keep) keep=$2; shift ;;
	-h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "codecs.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done
case "$size_mib" in
''|*[!0-9]*) echo "codecs.sh: --size wants a whole number of MiB" >&2; exit 2 ;;
esac
[ "$size_mib" -ge 8 ] || { echo "codecs.sh: --size must be at least 8 MiB" >&2; exit 2; }

bench="$builddir/bench/codec-bench"
if [ ! -x "$bench" ]; then
	echo "codecs.sh: $bench is missing; run make first (or pass --builddir)" >&2
	exit 1
fi

if [ -n "$keep" ]; then
	mkdir -p "$keep"
	work=$(cd "$keep" && pwd)
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-codecs.XXXXXX")
	trap 'rm -rf "$work"' EXIT
fi

log() { if [ "$json" = 0 ]; then echo "$@"; fi; }

# Concatenates the files named on stdin (NUL-separated, in sorted order so the corpus is
# the same on the same machine) up to $1 bytes into $2.
take() {
	local bytes=$1 out=$2
	sort -z | xargs -0 cat 2>/dev/null | head -c "$bytes" > "$out" || true
	local got
	got=$(stat -c %s "$out")
	if [ "$got" -lt "$bytes" ]; then
		echo "codecs.sh: only $got of $bytes bytes found for $(basename "$out")" >&2
	fi
}

unit=$((size_mib * 1024 * 1024 / 8))
log "Building a ${size_mib} MiB corpus in $work ..."
find /usr/share/doc /usr/share/common-licenses -type f -size +1k \
	! -name '*.gz' ! -name '*.xz' ! -name '*.bz2' ! -name '*.zst' ! -name '*.lz' \
	! -name '*.png' ! -name '*.jpg' ! -name '*.gif' ! -name '*.pdf' -print0 2>/dev/null |
	take $((unit * 3)) "$work/text"
find /usr/lib -type f \( -name '*.so' -o -name '*.so.*' \) -size +64k -print0 2>/dev/null |
	take $((unit * 3)) "$work/binaries"
find /usr/share/doc -type f -name '*.gz' -print0 2>/dev/null | take "$unit" "$work/compressed"
head -c "$unit" /dev/urandom > "$work/random"
# Chunks are 1 MiB, so each chunk of the mix holds mostly one kind of data, as a backup
# of a real tree does.
cat "$work/text" "$work/binaries" "$work/compressed" "$work/random" > "$work/mixed"
mixed_bytes=$(stat -c %s "$work/mixed")

# Figures from the command-line tools, one TSV line each:
# codec level file tool ratio compress-MB/s decompress-MB/s
references="$work/references.tsv"
: > "$references"
have_zstd=0
have_gzip=0
command -v zstd > /dev/null && have_zstd=1
command -v gzip > /dev/null && have_gzip=1
[ "$have_zstd" = 1 ] || log "zstd is not installed: no zstd -b figures (apt-get install zstd)"

# zstd -b on the corpus in 1 MiB blocks, the fastest of its passes over 1 s, like ours.
zstd_reference() {
	local level=$1 args
	if [ "$level" -lt 0 ]; then
		args=(--fast=$((-level)) -b)
	else
		args=(-b"$level")
	fi
	# -q prints: "-1   583925 (4.172) 411.69 MB/s 1764.4 MB/s  file"
	zstd -q "${args[@]}" -B1MiB -i1 "$work/mixed" 2>&1 |
		awk -v level="$level" '$3 ~ /^\(/ && $5 == "MB/s" {
			ratio = $3; gsub(/[()]/, "", ratio)
			printf "zstd\t%d\tmixed\tzstd -b\t%s\t%s\t%s\n", level, ratio, $4, $6 }' >> "$references"
}

# gzip on the whole corpus file: deflate's 32 KiB window makes 1 MiB chunking moot.
now() { date +%s.%N; }
gzip_reference() {
	local level=$1 start middle end packed
	start=$(now)
	gzip -"$level" -c "$work/mixed" > "$work/mixed.gz"
	middle=$(now)
	gzip -d -c "$work/mixed.gz" > /dev/null
	end=$(now)
	packed=$(stat -c %s "$work/mixed.gz")
	rm -f "$work/mixed.gz"
	awk -v level="$level" -v bytes="$mixed_bytes" -v packed="$packed" \
		-v s="$start" -v m="$middle" -v e="$end" 'BEGIN {
		printf "gzip\t%d\tmixed\tgzip\t%.4f\t%.1f\t%.1f\n", level, bytes / packed,
			bytes / (m - s) / 1e6, bytes / (e - m) / 1e6 }' >> "$references"
}

level_args=()
[ "$quick" = 1 ] || level_args=(--all-levels)
pairs=$("$bench" --list "${level_args[@]}")
# zstd's own default, level 3, always gets a row beside zstd -b3.
if [ "$quick" = 1 ] && echo "$pairs" | grep -q '^zstd ' && ! echo "$pairs" | grep -q '^zstd 3$'; then
	pairs=$(echo "$pairs" | awk '$1 == "zstd" && $2 > 3 && !done { print "zstd 3"; done = 1 }
		{ print } END { if (!done) print "zstd 3" }')
fi

# Each codec and level is measured right after the tool at the same level, so both see
# the same load on the machine.
mixed_rows="$work/mixed.rows"
: > "$mixed_rows"
if [ "$json" = 0 ]; then
	echo
	echo "Mixed corpus, $mixed_bytes bytes in 1 MiB chunks (MB = 10^6 bytes of input):"
	"$bench" --header
fi
while read -r codec level; do
	[ -n "$codec" ] || continue
	case "$codec" in
	zstd) [ "$have_zstd" = 1 ] && zstd_reference "$level" ;;
	gzip) [ "$have_gzip" = 1 ] && gzip_reference "$level" ;;
	esac
	row_args=(--no-header --codecs "$codec" --levels "$level" --chunk-size "$chunk"
		--reference "$references" "$work/mixed")
	if [ "$json" = 1 ]; then
		"$bench" --json "${row_args[@]}" >> "$mixed_rows"
	else
		"$bench" "${row_args[@]}"
	fi
done <<< "$pairs"

kinds=("$work/text" "$work/binaries" "$work/compressed" "$work/random")
if [ "$json" = 1 ]; then
	printf '{"chunk_size": %s,\n "corpus": {"text": %s, "binaries": %s, "compressed": %s, "random": %s, "mixed": %s},\n' \
		"$chunk" "$(stat -c %s "$work/text")" "$(stat -c %s "$work/binaries")" \
		"$(stat -c %s "$work/compressed")" "$(stat -c %s "$work/random")" "$mixed_bytes"
	printf ' "mixed": [\n'
	sed '$!s/$/,/' "$mixed_rows"
	printf ' ],\n "by_kind": [\n'
	"$bench" --json --no-header --chunk-size "$chunk" "${kinds[@]}" | sed '$!s/$/,/'
	printf ' ]}\n'
else
	echo
	echo "By kind of data, default and named levels:"
	"$bench" --chunk-size "$chunk" "${kinds[@]}"
fi
