#!/bin/sh
# Builds the benchmark corpus: about 1 GiB of real files from /usr/share and /usr/lib
# (the first files in sorted path order, so the same machine gives the same tree) plus
# 200 MiB of random data (AES-CTR keystream with a fixed key: reproducible).
# usage: make-corpus.sh DEST [REAL_MIB] [RANDOM_MIB]
set -eu
dest=$1
real_mib=${2:-1024}
random_mib=${3:-200}
if [ -f "$dest/.complete" ]; then
	echo "corpus exists: $dest"
	exit 0
fi
rm -rf "$dest"
mkdir -p "$dest/real" "$dest/random"
share_limit=$((real_mib * 1024 * 1024 * 3 / 10))
limit=$((real_mib * 1024 * 1024))
# Regular readable files up to 64 MiB, in sorted path order: 30 % from /usr/share (many
# small text files), the rest from /usr/lib (libraries, binaries, some compressed data).
pick() { # DIR LIMIT
	find "$1" -xdev -type f -size -65536k -readable -printf '%s\t%p\n' 2>/dev/null | LC_ALL=C sort -t "$(printf '\t')" -k2 |
		awk -F '\t' -v limit="$2" '{ if (total + $1 > limit) exit; total += $1; print $2 }'
}
pick /usr/share "$share_limit" >"$dest/.files"
pick /usr/lib "$((limit - share_limit))" >>"$dest/.files"
# Copy with cp --parents to keep the tree shape (and mtimes).
tr '\n' '\0' <"$dest/.files" | xargs -0 cp -a --parents -t "$dest/real" 2>/dev/null || true
i=0
while [ $i -lt $((random_mib / 10)) ]; do
	head -c $((10 * 1024 * 1024)) /dev/zero |
		openssl enc -aes-256-ctr -nosalt -K "$(printf '%064x' $i)" -iv 00000000000000000000000000000000 \
			>"$dest/random/random-$i.bin"
	i=$((i + 1))
done
echo "$(find "$dest" -type f | wc -l) files, $(du -sm "$dest" | cut -f1) MiB" >"$dest/.complete"
cat "$dest/.complete"
