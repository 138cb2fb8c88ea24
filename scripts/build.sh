#!/usr/bin/env bash
# Configures and builds one preset (default: ci). Uses ccache when present.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-ci}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
