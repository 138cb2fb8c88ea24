#!/usr/bin/env bash
# Installs everything Custos needs to build and test on Debian 12, from Debian's packages only.
# Run as root (or with sudo). Safe to re-run.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (apt-get needs it), e.g. sudo $0" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build ccache pkg-config git ca-certificates \
  libboost-dev libboost-system-dev \
  protobuf-compiler libprotobuf-dev \
  libssl-dev openssl \
  libzstd-dev zstd \
  libsqlite3-dev sqlite3 \
  libgtest-dev libgmock-dev libbenchmark-dev \
  libspdlog-dev libfmt-dev nlohmann-json3-dev libyaml-cpp-dev \
  clang clang-format clang-tidy libclang-rt-14-dev \
  python3 procps time curl nftables dosfstools e2fsprogs \
  sslscan libargon2-dev libldap-dev slapd ldap-utils libcli11-dev >/dev/null
echo "install-deps: Debian packages for Custos are installed"
