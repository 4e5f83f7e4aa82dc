# Shared shell functions for tests that start real servers on 127.0.0.1 (sourced).
#
# COFFER_SERVER_TESTS=0      every server test skips (exit 77)
# COFFER_SERVER_TESTS=quick  backend tests stop after conformance and one backup round trip
# COFFER_REQUIRE_SERVERS=1   a missing server program fails the test instead of skipping
#                            (CI sets it, so a broken install cannot pass as a skip)
# COFFER_NODE_MODULES=DIR    where the npm servers (azurite, firebase-tools) are installed;
#                            default /var/tmp/coffer-test-servers

srv_skip() { # MESSAGE: skip, or fail when servers are required
	if [ "${COFFER_REQUIRE_SERVERS:-0}" = 1 ]; then
		echo "FAIL: $* (COFFER_REQUIRE_SERVERS=1)" >&2
		exit 1
	fi
	echo "SKIP: $*" >&2
	exit 77
}

srv_enabled() { # skips the calling test when COFFER_SERVER_TESTS=0
	if [ "${COFFER_SERVER_TESTS:-1}" = 0 ]; then
		echo "SKIP: COFFER_SERVER_TESTS=0" >&2
		exit 77
	fi
	if [ "${COFFER_SERVER_TESTS:-1}" = quick ]; then
		# The sanitizer pass: ASan and UBSan stay on, LeakSanitizer is off here because its
		# tracer has crashed (signal 11, in the tracer itself) at exit of processes that
		# unloaded the libcurl-based plugins while the machine was loaded. Leaks of the
		# HTTP layer are still checked by tests/test_http under LeakSanitizer.
		export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	fi
}

srv_require() { # CMD...: each must be runnable (a name on PATH or a path)
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || srv_skip "$c is not installed (scripts/install-deps.sh --servers)"
	done
}

srv_tmpdir() { # prints a fresh folder under ${TMPDIR:-/tmp}
	mktemp -d "${TMPDIR:-/tmp}/coffer-srv-XXXXXX"
}

srv_free_port() { # prints a TCP port on 127.0.0.1 that nothing listens on now
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

srv_wait_http() { # URL [SECONDS]: waits until URL answers with any HTTP status
	local url=$1 limit=${2:-60} waited=0
	while [ "$waited" -lt $((limit * 10)) ]; do
		if curl -s -k -o /dev/null --max-time 2 "$url" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
		waited=$((waited + 1))
	done
	echo "server at $url did not answer within ${limit}s" >&2
	return 1
}

srv_wait_port_free() { # PORT [SECONDS]: waits until nothing listens on 127.0.0.1:PORT
	local port=$1 limit=${2:-30} waited=0
	while [ "$waited" -lt $((limit * 10)) ]; do
		python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$port" && return 0
		sleep 0.1
		waited=$((waited + 1))
	done
	return 1
}

srv_stop_pids() { # PID...: TERM, then KILL after 5 s; waits until they are gone
	local pid n
	for pid in "$@"; do kill "$pid" 2>/dev/null; done
	for n in $(seq 50); do
		local alive=""
		for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
		[ -z "$alive" ] && return 0
		sleep 0.1
	done
	for pid in "$@"; do kill -9 "$pid" 2>/dev/null; done
	return 0
}

srv_stop() { # DIR: stops what `start DIR` recorded in DIR/env (SRV_PIDS)
	local dir=$1
	[ -f "$dir/env" ] || return 0
	local pids
	pids=$(. "$dir/env" && echo "${SRV_PIDS:-}")
	# shellcheck disable=SC2086
	[ -n "$pids" ] && srv_stop_pids $pids
	return 0
}

srv_node_modules() { # prints the folder whose node_modules holds azurite and firebase-tools
	local dir=${COFFER_NODE_MODULES:-/var/tmp/coffer-test-servers}
	if [ ! -f "$dir/node_modules/azurite/package.json" ] ||
		[ ! -f "$dir/node_modules/firebase-tools/package.json" ]; then
		command -v npm >/dev/null 2>&1 || return 1
		mkdir -p "$dir" || return 1
		(cd "$dir" && npm install --no-audit --no-fund --loglevel=error \
			azurite@3.35.0 firebase-tools@15.34.2 >"$dir/npm-install.log" 2>&1) || return 1
	fi
	echo "$dir"
}
