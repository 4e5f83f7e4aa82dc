#!/bin/sh
# Builds every tests/fuzz/fuzz-*.c with clang's libFuzzer, ASan and UBSan, and runs each
# for a bounded time (FUZZ_SECONDS, default 20). Header lines in each target name the
# sources it needs (FUZZ_SOURCES), extra libraries (FUZZ_LIBS) and a seed corpus (FUZZ_CORPUS).
# usage: run-fuzz.sh SRCDIR BUILDDIR [TARGET...]
set -eu
srcdir=$(cd "${1:-.}" && pwd)
builddir=$(cd "${2:-.}" && pwd)
shift 2 2>/dev/null || true
seconds=${FUZZ_SECONDS:-20}
cc=${FUZZ_CC:-clang}
out="$builddir/tests/fuzz/out"
bin="$builddir/tests/fuzz/bin"
mkdir -p "$out" "$bin"
if ! command -v "$cc" >/dev/null 2>&1; then
	echo "fuzz: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2
	exit 1
fi
targets="$*"
[ -n "$targets" ] || targets=$(cd "$srcdir/tests/fuzz" && ls fuzz-*.c | sed 's/\.c$//')
failed=0
passed=0
for t in $targets; do
	file="$srcdir/tests/fuzz/$t.c"
	sources=$(sed -n 's|^// FUZZ_SOURCES:||p' "$file")
	libs=$(sed -n 's|^// FUZZ_LIBS:||p' "$file")
	corpus=$(sed -n 's|^// FUZZ_CORPUS:||p' "$file" | tr -d ' ')
	srcs=""
	for s in $sources; do srcs="$srcs $srcdir/$s"; done
	echo "fuzz: building $t"
	# shellcheck disable=SC2086
	if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I"$builddir" -I"$srcdir/core/include" -I"$srcdir/http/include" -I"$srcdir/core/src" -pthread \
		"$file" $srcs -o "$bin/$t" $libs; then
		echo "fuzz: FAIL $t (build)"
		failed=$((failed + 1))
		continue
	fi
	work="$out/$t"
	rm -rf "$work"
	mkdir -p "$work/corpus"
	if [ -n "$corpus" ] && [ -d "$srcdir/$corpus" ]; then
		find "$srcdir/$corpus" -maxdepth 1 -type f -size -2M -exec cp {} "$work/corpus/" \;
	fi
	echo "fuzz: running $t for ${seconds}s"
	if (cd "$work" && "$bin/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
		-print_final_stats=1 corpus >"$work/log" 2>&1); then
		echo "fuzz: PASS $t ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$') runs)"
		passed=$((passed + 1))
	else
		echo "fuzz: FAIL $t, see $work/log; crash input:"
		ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null || true
		tail -30 "$work/log"
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
