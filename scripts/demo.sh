#!/bin/sh
# The main job on a fresh Debian 12 machine: install dependencies, build, install into
# ./build/demo/prefix, then back up a sample tree into a filesystem repository, list the
# snapshots, restore the latest into a new folder and compare it with the original.
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
demo="$top/build/demo/run"
rm -rf "$demo"
mkdir -p "$demo/sample"
# A sample tree: documentation, a few binaries, a symlink, an empty folder.
cp -a /usr/share/doc/libc6 /usr/share/doc/git "$demo/sample/" 2>/dev/null || cp -a /usr/share/doc/libc6 "$demo/sample/"
cp -a /usr/bin/ls /usr/bin/cp "$demo/sample/"
ln -s ls "$demo/sample/ls-link"
mkdir "$demo/sample/empty"
export KOPIA_REPOSITORY="filesystem://$demo/repo"
export KOPIA_PASSWORD=demo-password
export KOPIA_CACHE_DIR="$demo/cache"
set -x
"$coffer" --version
"$coffer" plugins
"$coffer" repository create
"$coffer" snapshot create "$demo/sample" --source demo@localhost:/sample
"$coffer" snapshot list --all
"$coffer" restore latest "$demo/restored" --source demo@localhost:/sample
diff -r --no-dereference "$demo/sample" "$demo/restored"
"$coffer" snapshot verify --read-data
"$coffer" repository status
set +x
echo "demo: backup and restore of $demo/sample succeeded; the restored tree is identical"
