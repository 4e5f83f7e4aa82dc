#!/bin/sh
# Installs what coffer needs to build and test on Debian 12 (run as root, or via sudo).
# Skips apt entirely when everything is already installed.
set -eu
packages="build-essential pkg-config autoconf automake libtool libltdl-dev libcurl4-openssl-dev
libssl-dev libzstd-dev zlib1g-dev libconfig-dev check libyaml-dev clang libclang-rt-14-dev
zstd gzip attr acl rsync python3 curl"
servers=no
for arg in "$@"; do
	case "$arg" in
	--bench) packages="$packages restic borgbackup time" ;;
	# the real servers the backend tests start (tests/servers/): Swift with s3api for S3,
	# nginx for TLS, Debian's aws CLI to cross-check; Azurite and the GCS emulator from npm;
	# btrfs-progs for the controller's copyMethod Snapshot test on a loop-mounted btrfs
	--servers) packages="$packages swift swift-proxy swift-account swift-container swift-object
memcached nginx awscli openssl btrfs-progs"; servers=yes ;;
	*) echo "install-deps.sh: unknown option $arg (--bench, --servers)" >&2; exit 2 ;;
	esac
done
install_node_servers() {
	[ "$servers" = yes ] || return 0
	. "$(dirname "$0")/../tests/servers/lib.sh"
	if ! command -v npm >/dev/null 2>&1; then
		echo "install-deps.sh: npm is missing; Azurite and the GCS emulator need Node.js 20 and npm" >&2
		return 1
	fi
	dir=$(srv_node_modules) || { echo "install-deps.sh: npm install of azurite and firebase-tools failed" >&2; return 1; }
	echo "test servers from npm: $dir/node_modules"
}
missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	install_node_servers
	exit $?
fi
echo "installing:$missing"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo_cmd apt-get update -qq
# shellcheck disable=SC2086
$sudo_cmd apt-get install -y -qq --no-install-recommends $missing >/dev/null
install_node_servers
