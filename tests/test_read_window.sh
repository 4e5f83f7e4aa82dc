#!/bin/sh
# Restore and verify again with read windows forced on (remote backends get them by
# default; the filesystem backend does not): 64 KiB windows, so chunks are served from
# windows, windows are replaced, and reads near a pack's end take the shorter read.
top_build=${COFFER_TOP_BUILDDIR:-$(pwd)}
[ -x "$top_build/tests/test_restore" ] || { echo "SKIP: tests/test_restore not built"; exit 77; }
export COFFER_READ_WINDOW_KIB=64
"$top_build/tests/test_restore" || exit 1
"$top_build/tests/test_verify" || exit 1
