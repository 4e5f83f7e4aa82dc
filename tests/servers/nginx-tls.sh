#!/bin/bash
# nginx (Debian) as a TLS reverse proxy on 127.0.0.1, with a CA and server certificate made
# here, in front of any plain-HTTP test server.
#
#   nginx-tls.sh start DIR UPSTREAM_PORT   writes DIR/ca.pem and DIR/env: TLS_ENDPOINT
#                                          (https://127.0.0.1:PORT), TLS_CA_FILE, SRV_PIDS
#   nginx-tls.sh stop DIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/servers/lib.sh
. "$here/lib.sh"

tls_make_certs() { # DIR: ca.pem/ca.key, and server.pem/server.key signed by it for 127.0.0.1
	local dir=$1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=coffer test CA' \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" \
		-addext 'basicConstraints=critical,CA:TRUE' \
		-addext 'keyUsage=critical,keyCertSign,cRLSign' >>"$dir/openssl.log" 2>&1 || return 1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=127.0.0.1' \
		-CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
		-keyout "$dir/server.key" -out "$dir/server.pem" \
		-addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
		-addext 'basicConstraints=CA:FALSE' \
		-addext 'extendedKeyUsage=serverAuth' >>"$dir/openssl.log" 2>&1 || return 1
}

tls_start() { # DIR UPSTREAM_PORT
	local dir=$1 upstream=$2 nginx port pid
	nginx=$(command -v nginx || echo /usr/sbin/nginx)
	[ -x "$nginx" ] || srv_skip "nginx is not installed (apt-get install nginx-light)"
	srv_require openssl curl
	mkdir -p "$dir/logs" "$dir/tmp" || return 1
	tls_make_certs "$dir" || { cat "$dir/openssl.log" >&2; return 1; }
	port=$(srv_free_port)
	# One process (master_process off): no user switch, one PID to stop. Bodies are streamed
	# both ways and unlimited in size, as a cloud endpoint would take them.
	cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 256; }
http {
	access_log $dir/logs/access.log;
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	server {
		listen 127.0.0.1:$port ssl;
		ssl_certificate $dir/server.pem;
		ssl_certificate_key $dir/server.key;
		client_max_body_size 0;
		location / {
			proxy_pass http://127.0.0.1:$upstream;
			proxy_http_version 1.1;
			proxy_set_header Host \$http_host;
			proxy_set_header Connection "";
			proxy_request_buffering off;
			proxy_buffering off;
			proxy_read_timeout 300s;
		}
	}
}
EOF
	"$nginx" -p "$dir" -c "$dir/nginx.conf" >>"$dir/logs/stderr.log" 2>&1 </dev/null &
	pid=$!
	cat >"$dir/env" <<EOF
export TLS_ENDPOINT='https://127.0.0.1:$port'
export TLS_CA_FILE='$dir/ca.pem'
SRV_PORT='$port'
SRV_PIDS='$pid'
EOF
	if ! srv_wait_http "https://127.0.0.1:$port/" 30; then
		cat "$dir/logs/stderr.log" "$dir/logs/error.log" >&2 2>/dev/null
		srv_stop "$dir"
		return 1
	fi
}

cmd=${1:-}
dir=${2:-}
[ -n "$dir" ] || { echo "usage: $0 start DIR UPSTREAM_PORT | stop DIR" >&2; exit 2; }
case $cmd in
start) srv_enabled; tls_start "$dir" "${3:?upstream port}" ;;
stop) srv_stop "$dir" ;;
*) echo "usage: $0 start DIR UPSTREAM_PORT | stop DIR" >&2; exit 2 ;;
esac
