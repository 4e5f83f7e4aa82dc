#!/bin/sh
# A third-party backend, built as an outsider would: install coffer's development files
# (library, headers, coffer.pc) into a temporary prefix, build examples/backend-example
# in a folder outside the tree against that prefix with its own Makefile and pkg-config,
# install it into the plugindir pkg-config reports, then run the backend conformance
# suite on it with plugins loaded from files ($COFFER_PLUGIN_PATH, nothing preloaded).
#
# Only the SDK part is installed: a full `make install` relinks every in-tree plugin in
# place (libtool moves .libs/x.so aside meanwhile), which would race with tests running
# in parallel.
set -eu

top_build=${COFFER_TOP_BUILDDIR:-}
top_src=${COFFER_TOP_SRCDIR:-$top_build}
if [ -z "$top_build" ] || [ ! -f "$top_build/Makefile" ]; then
	echo "SKIP: COFFER_TOP_BUILDDIR is not a configured build tree"
	exit 77
fi
for tool in make pkg-config cc nm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool is not installed"
		exit 77
	fi
done
runner=$top_build/tests/conformance_runner
if [ ! -x "$runner" ]; then
	echo "SKIP: $runner was not built (Check missing?)"
	exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-third-party-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
stage=$work/stage

# A make of our own, not a job of the `make check` that runs this script.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES 2>/dev/null || true

echo "== installing coffer's library, headers and coffer.pc under $stage"
if ! make -C "$top_build" install-libLTLIBRARIES install-cofferincludeHEADERS \
	install-coffersysincludeHEADERS install-pkgconfigDATA DESTDIR="$stage" >"$work/install.log" 2>&1; then
	cat "$work/install.log"
	echo "FAIL: installing coffer into $stage"
	exit 1
fi
pc=$(find "$stage" -name coffer.pc | head -n 1)
if [ -z "$pc" ]; then
	echo "FAIL: no coffer.pc was installed"
	exit 1
fi
prefix=$(sed -n 's/^prefix=//p' "$pc")
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
# The staged files keep the configured prefix; point pkg-config at the stage instead.
pkg_config="pkg-config --define-variable=prefix=$stage$prefix"
plugindir=$($pkg_config --variable=plugindir coffer)
echo "   pkg-config: $($pkg_config --cflags --libs coffer), plugindir $plugindir"
case $plugindir in
"$stage"/*) ;;
*) echo "FAIL: plugindir $plugindir is not inside the stage"; exit 1 ;;
esac

echo "== building examples/backend-example outside the tree"
cp -R "$top_src/examples/backend-example" "$work/src"
chmod -R u+w "$work/src" # the source tree is read-only under `make distcheck`
rm -f "$work/src/backend-flatdir.so"
make -C "$work/src" PKG_CONFIG="$pkg_config"
make -C "$work/src" PKG_CONFIG="$pkg_config" install
module=$plugindir/backend-flatdir.so
test -f "$module" || { echo "FAIL: $module was not installed"; exit 1; }
exported=$(nm -D --defined-only "$module" | awk '{print $3}')
if [ "$exported" != backend_flatdir_LTX_coffer_plugin ]; then
	echo "FAIL: $module exports more or other than its descriptor:"
	echo "$exported"
	exit 1
fi
make -C "$work/src" PKG_CONFIG="$pkg_config" install plugindir="$work/elsewhere" >/dev/null
test -f "$work/elsewhere/backend-flatdir.so" || { echo "FAIL: install plugindir=DIR"; exit 1; }

echo "== conformance suite on flatdir:// with plugins from $plugindir"
# Names are hex-encoded into one file name each, so this backend takes names up to 120 bytes.
COFFER_PLUGIN_PATH=$plugindir "$runner" --expect-plugin-file "$module" \
	--max-name-length 120 "flatdir://$work/repo"
