#!/bin/bash
# OpenStack Swift with the s3api middleware on 127.0.0.1: a one-node cluster (memcached,
# account, container, object and proxy servers) with its state in DIR.
#
#   swift.sh start DIR     start (DIR is created), create the bucket, write DIR/env
#   swift.sh stop DIR      stop every process start recorded
#   swift.sh restart DIR   stop, then start again on the same ports with the same data
#   swift.sh stop-proxy DIR / start-proxy DIR   only the proxy (fault tests)
#
# DIR/env exports AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_S3_ENDPOINT,
# COFFER_TEST_BUCKET, COFFER_TEST_URL (s3://bucket), SWIFT_PROXY_PID and SRV_PIDS.
# Exit 0 when ready, 77 when Swift is not installed (1 with COFFER_REQUIRE_SERVERS=1).
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/servers/lib.sh
. "$here/lib.sh"

aws_cli=${COFFER_AWS_CLI:-/usr/bin/aws}
bucket=coffer-test
access_key=test:tester
secret_key=testing

usage() {
	echo "usage: swift.sh start|stop|restart|stop-proxy|start-proxy DIR" >&2
	exit 2
}

write_configs() { # DIR: configuration and rings, once per DIR
	local dir=$1
	local etc=$dir/etc
	mkdir -p "$etc" "$dir/srv/d1" "$dir/log" "$dir/run"
	. "$dir/ports"
	cat >"$etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = coffer-test-suffix
swift_hash_path_prefix = coffer-test-prefix

[storage-policy:0]
name = one
default = yes
EOF
	local kind port
	for kind in account container object; do
		case $kind in
		account) port=$ACCOUNT_PORT ;;
		container) port=$CONTAINER_PORT ;;
		object) port=$OBJECT_PORT ;;
		esac
		cat >"$etc/$kind-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
devices = $dir/srv
mount_check = false
user = root
workers = 0
swift_dir = $etc
log_name = $kind-server
log_level = WARNING

[pipeline:main]
pipeline = $kind-server

[app:$kind-server]
use = egg:swift#$kind

[$kind-replicator]
[$kind-updater]
[$kind-auditor]
EOF
	done
	# One Python process builds the three rings (swift-ring-builder takes seconds each).
	/usr/bin/python3 - "$etc" "$ACCOUNT_PORT" "$CONTAINER_PORT" "$OBJECT_PORT" >"$dir/log/rings.log" 2>&1 <<'PY' || {
import sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for kind, port in zip(("account", "container", "object"), sys.argv[2:5]):
    b = RingBuilder(6, 1, 1)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
               "device": "d1", "weight": 1})
    b.rebalance()
    b.save("%s/%s.builder" % (etc, kind))
    b.get_ring().save("%s/%s.ring.gz" % (etc, kind))
PY
		echo "swift.sh: building the rings failed:" >&2
		cat "$dir/log/rings.log" >&2
		return 1
	}
	cat >"$etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PROXY_PORT
user = root
workers = 0
swift_dir = $etc
log_name = proxy-server
log_level = WARNING

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MEMCACHED_PORT

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
min_segment_size = 5242880

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = $secret_key .admin

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
EOF
}

start_one() { # DIR NAME COMMAND...: runs COMMAND in the background, records its PID
	local dir=$1 name=$2
	shift 2
	"$@" >>"$dir/log/$name.log" 2>&1 &
	echo $! >"$dir/run/$name.pid"
}

pids_of() { # DIR NAME...
	local dir=$1 name out=""
	shift
	for name in "$@"; do
		[ -f "$dir/run/$name.pid" ] && out="$out $(cat "$dir/run/$name.pid")"
	done
	echo "${out# }"
}

write_env() { # DIR
	local dir=$1
	. "$dir/ports"
	cat >"$dir/env" <<EOF
export AWS_ACCESS_KEY_ID='$access_key'
export AWS_SECRET_ACCESS_KEY='$secret_key'
export AWS_REGION=us-east-1
export AWS_S3_ENDPOINT=http://127.0.0.1:$PROXY_PORT
export COFFER_TEST_BUCKET=$bucket
export COFFER_TEST_URL=s3://$bucket
export SWIFT_PROXY_PID=$(pids_of "$dir" proxy)
SRV_PIDS="$(pids_of "$dir" memcached account container object proxy)"
EOF
}

start_proxy() { # DIR
	local dir=$1
	. "$dir/ports"
	srv_wait_port_free "$PROXY_PORT" 30 || { echo "swift.sh: port $PROXY_PORT stays busy" >&2; return 1; }
	start_one "$dir" proxy swift-proxy-server "$dir/etc/proxy-server.conf"
	write_env "$dir"
	srv_wait_http "http://127.0.0.1:$PROXY_PORT/healthcheck" 60
}

create_bucket() { # DIR
	local dir=$1 n
	. "$dir/env"
	# The first requests may meet servers still binding; try a few times.
	for n in 1 2 3 4 5 6 7 8 9 10; do
		if AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
			"$aws_cli" --endpoint-url "$AWS_S3_ENDPOINT" s3api create-bucket --bucket "$bucket" \
			>>"$dir/log/create-bucket.log" 2>&1; then
			return 0
		fi
		sleep 0.5
	done
	echo "swift.sh: creating bucket $bucket failed:" >&2
	cat "$dir/log/create-bucket.log" >&2
	return 1
}

start() { # DIR
	local dir=$1
	srv_enabled
	srv_require swift-proxy-server swift-account-server swift-container-server \
		swift-object-server swift-ring-builder memcached "$aws_cli"
	mkdir -p "$dir" || return 1
	dir=$(cd "$dir" && pwd)
	local fresh=0
	if [ ! -f "$dir/ports" ]; then
		fresh=1
		{
			echo "PROXY_PORT=$(srv_free_port)"
			echo "ACCOUNT_PORT=$(srv_free_port)"
			echo "CONTAINER_PORT=$(srv_free_port)"
			echo "OBJECT_PORT=$(srv_free_port)"
			echo "MEMCACHED_PORT=$(srv_free_port)"
		} >"$dir/ports.tmp" && mv "$dir/ports.tmp" "$dir/ports"
		write_configs "$dir" || return 1
	fi
	. "$dir/ports"
	start_one "$dir" memcached memcached -l 127.0.0.1 -p "$MEMCACHED_PORT" -U 0 -u root -m 32
	local kind
	for kind in account container object; do
		start_one "$dir" "$kind" "swift-$kind-server" "$dir/etc/$kind-server.conf"
	done
	write_env "$dir"
	if ! start_proxy "$dir"; then
		echo "swift.sh: the proxy did not start; its log:" >&2
		tail -30 "$dir/log/proxy.log" >&2
		stop "$dir"
		return 1
	fi
	if [ $fresh = 1 ] && ! create_bucket "$dir"; then
		stop "$dir"
		return 1
	fi
	return 0
}

stop() { # DIR
	srv_stop "$1"
	return 0
}

[ $# -eq 2 ] || usage
dir=$2
case $1 in
start) start "$dir" ;;
stop) stop "$dir" ;;
restart) stop "$dir" && start "$dir" ;;
stop-proxy)
	# shellcheck disable=SC2046
	srv_stop_pids $(pids_of "$dir" proxy)
	;;
start-proxy) start_proxy "$dir" ;;
*) usage ;;
esac
