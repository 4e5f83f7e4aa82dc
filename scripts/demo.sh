#!/bin/sh
# The main job on a fresh Debian 12 machine: install dependencies, build, install into
# ./build/demo/prefix, and run coffer from there.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/install-deps.sh"
./autogen.sh >/dev/null 2>&1
mkdir -p build/demo
cd build/demo
[ -f Makefile ] || ../../configure --prefix="$top/build/demo/prefix" >configure.out
make -j"$(nproc)" >make.out 2>&1 || { tail -40 make.out; exit 1; }
make install >install.out 2>&1 || { tail -40 install.out; exit 1; }
coffer="$top/build/demo/prefix/bin/coffer"
echo "+ coffer --version"
"$coffer" --version
echo "+ coffer plugins"
"$coffer" plugins
