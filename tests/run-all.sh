#!/bin/sh
# The whole test suite: installs dependencies, builds from scratch with warnings as
# errors, runs `make check`, runs it again under ASan+UBSan, runs every fuzz target for
# a bounded time, and checks `make distcheck`. Ends with one line "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/install-deps.sh" --servers || { echo "dependency installation failed"; exit 1; }
# The backend tests start real servers (tests/servers/); here a missing one is a failure.
export COFFER_REQUIRE_SERVERS=${COFFER_REQUIRE_SERVERS:-1}
jobs=$(nproc 2>/dev/null || echo 2)
passed=0
failed=0
status=0

count_suite() { # build dir
	log="$1/test-suite.log"
	if [ -f "$log" ]; then
		p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
		f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
		e=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
		passed=$((passed + ${p:-0}))
		failed=$((failed + ${f:-0} + ${e:-0}))
	fi
}

step() { echo; echo "=== $*"; }

step "autogen"
./autogen.sh >/dev/null 2>&1 || { ./autogen.sh; exit 1; }

step "build and test (gcc, -Werror)"
rm -rf build/plain && mkdir -p build/plain
(cd build/plain && ../../configure --enable-werror >configure.out 2>&1 && tail -n 20 configure.out &&
	make -j"$jobs" >make.out 2>&1 || { cat make.out | tail -50; exit 1; }) || { echo "build failed"; exit 1; }
(cd build/plain && make -j"$jobs" check) || status=1
count_suite build/plain

if [ "${COFFER_SKIP_SANITIZERS:-0}" != 1 ]; then
	step "build and test under AddressSanitizer + UndefinedBehaviorSanitizer"
	rm -rf build/asan && mkdir -p build/asan
	(cd build/asan && ../../configure --enable-werror --enable-sanitizers --disable-static >configure.out 2>&1 &&
		make -j"$jobs" >make.out 2>&1 || { tail -50 make.out; exit 1; }) || { echo "sanitizer build failed"; exit 1; }
	# the backend tests' fault, interop and credential parts ran in the plain pass; here
	# each runs its conformance suite and one backup round trip under the sanitizers
	# test_many_writers.sh and test_mover.sh (minutes each) run only in the plain pass
	(cd build/asan && COFFER_SERVER_TESTS=quick COFFER_SKIP_LONG=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 make -j"$jobs" check) || status=1
	count_suite build/asan
fi

if [ "${COFFER_SKIP_FUZZ:-0}" != 1 ]; then
	step "fuzz targets (${FUZZ_SECONDS:-5}s each)"
	if (cd build/plain && make fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-5}") >build/fuzz.out 2>&1; then :; else status=1; fi
	grep '^fuzz:' build/fuzz.out
	fp=$(grep -c '^fuzz: PASS' build/fuzz.out)
	ff=$(grep -c '^fuzz: FAIL' build/fuzz.out)
	[ "$ff" -gt 0 ] && tail -60 build/fuzz.out
	passed=$((passed + fp))
	failed=$((failed + ff))
fi

if [ "${COFFER_SKIP_DISTCHECK:-0}" != 1 ]; then
	step "make distcheck"
	if (cd build/plain && COFFER_SERVER_TESTS=0 make -j"$jobs" distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror \
		TESTS="tests/test_core_registry tests/test_store tests/test_cli.sh" >distcheck.out 2>&1); then
		echo "distcheck: PASS"
		passed=$((passed + 1))
	else
		tail -40 build/plain/distcheck.out
		echo "distcheck: FAIL"
		failed=$((failed + 1))
		status=1
	fi
fi

echo
[ "$failed" -gt 0 ] && status=1
echo "$passed passed, $failed failed"
exit $status
