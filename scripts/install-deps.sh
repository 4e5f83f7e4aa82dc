#!/bin/sh
# Installs what coffer needs to build and test on Debian 12 (run as root, or via sudo).
# Skips apt entirely when everything is already installed.
set -eu
packages="build-essential pkg-config autoconf automake libtool libltdl-dev libcurl4-openssl-dev
libssl-dev libzstd-dev zlib1g-dev libconfig-dev check libyaml-dev clang libclang-rt-14-dev
zstd gzip attr acl rsync"
if [ "${1:-}" = "--bench" ]; then
	packages="$packages restic borgbackup time"
fi
missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo_cmd apt-get update -qq
# shellcheck disable=SC2086
$sudo_cmd apt-get install -y -qq --no-install-recommends $missing >/dev/null
