#!/bin/bash
# tests/test_controller.sh on S3 (Swift's s3api, tests/servers/swift.sh), plus TLS with a custom CA.
here=$(cd "$(dirname "$0")" && pwd)
COFFER_CTL_BACKEND=s3 exec bash "$here/test_controller.sh" "$@"
