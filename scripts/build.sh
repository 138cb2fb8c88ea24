#!/usr/bin/env bash
# Configures and builds one preset (default: ci). Uses ccache when present.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-ci}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
# Hit the cache from any clone location (CI builds in a fresh clone).
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
export CCACHE_NOHASHDIR=1
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
