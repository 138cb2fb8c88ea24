#!/usr/bin/env bash
# The test command: install dependencies (when root), build once, run the whole ctest suite in
# parallel. This is what .ci/run runs on a clean clone.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then scripts/install-deps.sh; fi
scripts/build.sh ci
ctest --preset ci --timeout 900 "$@"
