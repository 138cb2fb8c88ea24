#!/usr/bin/env bash
# Quick start: install what is needed (when root), build, and run the main job on its embedded
# defaults — a collector on SQLite with its own CA, enrolled senders streaming events over mutual
# TLS, and the stored events shown with `custos events`.
#
# The endpoint agent (custos-agent: file activity, spool, uplink) is not built yet; until it
# lands, custos-loadgen stands in for it: five simulated agents, each enrolled with a real
# certificate, stream synthetic file/USB/setting events through the same protocol.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then scripts/install-deps.sh; fi
scripts/build.sh ci
bin="$PWD/build/ci/bin"
data="${CUSTOS_QUICKSTART_DIR:-/tmp/custos-quickstart}"
port="${CUSTOS_QUICKSTART_PORT:-7443}"
metrics_port="${CUSTOS_QUICKSTART_METRICS_PORT:-9464}"
mkdir -p "$data"

echo "== 1. collector: data directory, CA, server certificate, store ($data)"
"$bin/custos-collector" init --data-dir "$data/collector"

echo "== 2. collector: serving agents on 127.0.0.1:$port, metrics on 127.0.0.1:$metrics_port"
if [ -f "$data/collector.pid" ] && kill -0 "$(cat "$data/collector.pid")" 2>/dev/null; then
  kill "$(cat "$data/collector.pid")"; sleep 1
fi
rm -f "$data/ready"
"$bin/custos-collector" run --data-dir "$data/collector" --listen "127.0.0.1:$port" \
  --metrics "127.0.0.1:$metrics_port" --ready-file "$data/ready" >"$data/collector.log" 2>&1 &
echo $! >"$data/collector.pid"
for _ in $(seq 100); do [ -f "$data/ready" ] && break; sleep 0.1; done
if [ ! -f "$data/ready" ]; then
  echo "collector did not start; its log:" >&2; cat "$data/collector.log" >&2; exit 1
fi

echo "== 3. enrollment token for 5 agents"
token=$("$bin/custos-collector" token create --data-dir "$data/collector" --uses 5 --ttl 1h \
  --note quickstart)

echo "== 4. five simulated agents enroll and stream 2,000 events each (custos-loadgen)"
"$bin/custos-loadgen" --collector "127.0.0.1:$port" --server-name localhost \
  --ca "$data/collector/pki/ca.crt" --token "$token" --agents 5 --events 2000 --batch 200 \
  --verify-db "$data/collector/custos.db"

echo "== 5. the newest stored events"
"$bin/custos" events --data-dir "$data/collector" --limit 10

cat <<EOF

The collector is still running (pid $(cat "$data/collector.pid"), log $data/collector.log).
  events:   $bin/custos events --data-dir $data/collector --user alice --type file
            $bin/custos events --data-dir $data/collector --format json --limit 3
  agents:   $bin/custos-collector agent list --data-dir $data/collector
  metrics:  curl -s http://127.0.0.1:$metrics_port/metrics
  stop:     kill $(cat "$data/collector.pid")
EOF
