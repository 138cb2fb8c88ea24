#!/usr/bin/env bash
# The whole durable pipeline for one agent, measured by ../shared/bench/bench_pipeline.sh the way
# rsyslog and syslog-ng are: a replay agent (the gen_events.py corpus) -> spool with fdatasync ->
# mutual TLS -> collector -> SQLite (synchronous=FULL) -> ack, timed until every event is stored.
# Prints per run and the median: seconds, events/s, CPU seconds per 1M events of each side.
# Usage: tests/bench/pipeline_bench.sh [corpus=/tmp/perfbench/rsyslog/in_1000000.ndjson] [runs=3]
#   The corpus is what `bash ../shared/bench/bench_rsyslog.sh /tmp/perfbench/rsyslog ...` leaves,
#   or: python3 ../shared/bench/gen_events.py -n 1000000 -o FILE
#   CUSTOS_BIN=dir                 binaries to measure (default build/ci/bin)
#   CUSTOS_AGENT_YAML='uplink: {max_batch_events: 20000}'  extra top-level agent configuration
#   CUSTOS_COLLECTOR_CONFIG=file   collector configuration
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=${CUSTOS_BIN:-$root/build/ci/bin}
corpus=${1:-/tmp/perfbench/rsyslog/in_1000000.ndjson}; runs=${2:-3}
[ -f "$corpus" ] || { echo "no corpus at $corpus (see the usage above)" >&2; exit 2; }
n=$(wc -l <"$corpus")
work=$(mktemp -d /tmp/custos-pipeline-bench-XXXXXX)
trap 'kill $cpid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$bin/custos-collector" init --data-dir "$work/C" >/dev/null
token=$("$bin/custos-collector" token create --data-dir "$work/C" --uses 1 2>/dev/null)
ccfg=${CUSTOS_COLLECTOR_CONFIG:+--config $CUSTOS_COLLECTOR_CONFIG}
# Enroll once (not measured) with a collector started only for that.
"$bin/custos-collector" run --data-dir "$work/C" --api 127.0.0.1:0 --listen "127.0.0.1:$port" \
  --metrics off --log-level warn $ccfg 2>"$work/enroll-collector.log" &
cpid=$!
for _ in $(seq 200); do ss -ltn | grep -q "127.0.0.1:$port " && break; sleep 0.05; done
mkdir -p "$work/A"
cat >"$work/agent.yaml" <<EOF
collector: {address: "127.0.0.1:$port", server_name: localhost}
state_dir: $work/A
${CUSTOS_AGENT_YAML:-}
EOF
"$bin/custos-agent" enroll --config "$work/agent.yaml" --token "$token" --ca "$work/C/pki/ca.crt" >/dev/null
kill $cpid; wait $cpid 2>/dev/null || true
# Every run starts from a copy of the just-enrolled collector and an empty spool.
# Polled every 0.2 s while the run is timed, so it must be cheap to start: the sqlite3 CLI (a
# python3 behind a pyenv shim costs ~0.4 CPU s per call and slowed the measured processes).
count="sqlite3 -readonly $work/R/custos.db 'select count(*) from events'"
bash "$root/../shared/bench/bench_pipeline.sh" -n "$n" -p "$port" -r "$runs" \
  -P "rm -rf $work/A/spool $work/A/status.json $work/R; cp -a $work/C $work/R" \
  -R "$bin/custos-collector run --data-dir $work/R --api 127.0.0.1:0 --listen 127.0.0.1:$port --metrics off --log-level warn $ccfg" \
  -S "$bin/custos-agent run --config $work/agent.yaml --replay $corpus --replay-format bench-ndjson --no-file-source --no-settings-source --no-usb-source --log-level warn" \
  -c "$count"
