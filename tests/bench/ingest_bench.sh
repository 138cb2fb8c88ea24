#!/usr/bin/env bash
# End-to-end ingest benchmark: custos-loadgen (N enrolled agents, real mTLS) -> custos-collector
# (decode, SQLite WAL synchronous=FULL, ack). Prints the loadgen report plus the collector's CPU
# seconds per 1M events and peak RSS (/usr/bin/time -v), and loadgen's CPU. Loopback only.
# Usage: tests/bench/ingest_bench.sh [agents=100] [events_per_agent=20000] [batch=1000] [extra loadgen args...]
#   CUSTOS_COLLECTOR_CONFIG=file.yaml runs the collector with that configuration.
#   idle test: tests/bench/ingest_bench.sh 1000 0 1000 --hold 20s
#   CUSTOS_BENCH_POLICIES=1 creates one policy per template before the stream (scoring at work).
#   The collector's CPU is read once scoring has caught up with every acked event
#   (custos_scoring_events_total), so scoring's share is inside the figure; with
#   scoring.enabled: false in CUSTOS_COLLECTOR_CONFIG it is read when the stream ends.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${CUSTOS_BIN:-$PWD/build/ci/bin}
agents=${1:-100}; events=${2:-20000}; batch=${3:-1000}; shift $(( $# < 3 ? $# : 3 ))
work=$(mktemp -d /tmp/custos-ingest-bench-XXXXXX)
trap 'kill $cpid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin/custos-collector" init --data-dir "$work/c" >/dev/null
token=$("$bin/custos-collector" token create --data-dir "$work/c" --uses "$agents" 2>/dev/null)
# CPU and peak RSS of the collector come from /proc (utime+stime, VmHWM).
"$bin/custos-collector" run --data-dir "$work/c" --api 127.0.0.1:0 ${CUSTOS_COLLECTOR_CONFIG:+--config "$CUSTOS_COLLECTOR_CONFIG"} \
  --listen 127.0.0.1:0 --metrics 127.0.0.1:0 --ready-file "$work/ready" --log-level warn 2>"$work/collector.log" &
cpid=$!
for _ in $(seq 200); do [ -f "$work/ready" ] && break; sleep 0.05; done
port=$(python3 -c "import json;print(json.load(open('$work/ready'))['ingest_port'])")
mport=$(python3 -c "import json;print(json.load(open('$work/ready'))['metrics_port'])")
aport=$(python3 -c "import json;print(json.load(open('$work/ready'))['api_port'])")
if [ -n "${CUSTOS_BENCH_POLICIES:-}" ]; then
  for t in data_theft_departing data_leaks data_leaks_priority_users data_leaks_disgruntled \
           security_violations security_violations_departing security_violations_priority_users \
           security_violations_disgruntled patient_data_misuse; do
    curl -sf --cacert "$work/c/pki/ca.crt" -H "Authorization: Bearer $(cat "$work/c/admin.token")" \
      -d "{\"template\":\"$t\",\"name\":\"$t\"}" "https://127.0.0.1:$aport/api/v1/policies" >/dev/null
  done
fi
# Enroll first (not measured), then stream with the credentials kept in the state dir.
"$bin/custos-loadgen" --collector "127.0.0.1:$port" --server-name localhost --ca "$work/c/pki/ca.crt" \
  --token "$token" --agents "$agents" --events 0 --hold 0s --state-dir "$work/lg" --quiet >/dev/null
read -r c_ut c_st < <(awk '{print $14, $15}' "/proc/$cpid/stat")
/usr/bin/time -v -o "$work/loadgen.time" "$bin/custos-loadgen" --collector "127.0.0.1:$port" \
  --server-name localhost --ca "$work/c/pki/ca.crt" --agents "$agents" --events "$events" \
  --batch "$batch" --state-dir "$work/lg" --verify-db "$work/c/custos.db" --quiet "$@" | tee "$work/report.json"
acked=$(python3 -c "import json;print(json.load(open('$work/report.json'))['events_acked'])")
scored() { curl -s "http://127.0.0.1:$mport/metrics" | awk '/^custos_scoring_events_total/{print int($2)}'; }
lag_start=$(date +%s.%N)
if [ -n "$(scored)" ]; then
  for _ in $(seq 1200); do [ "$(scored)" -ge "$acked" ] && break; sleep 0.1; done
  echo "scoring caught up $(python3 -c "print(f'{$(date +%s.%N) - $lag_start:.2f}')") s after the last ack ($(scored) events scored)"
fi
read -r c_ut2 c_st2 < <(awk '{print $14, $15}' "/proc/$cpid/stat")
# The scorer's own thread (named custos-scorer): its CPU is scoring's whole cost, so the share it
# adds to ingest is exact within one run, whatever the machine's noise.
s_cpu=0
for t in /proc/$cpid/task/*; do
  if [ "$(cat "$t/comm" 2>/dev/null)" = custos-scorer ]; then
    s_cpu=$(awk '{print $14 + $15}' "$t/stat")
  fi
done
rss_now=$(awk '/VmRSS/{print $2}' "/proc/$cpid/status")
hwm=$(awk '/VmHWM/{print $2}' "/proc/$cpid/status")
kill -TERM $cpid; wait $cpid || true
tck=$(getconf CLK_TCK)
python3 - "$work" "$c_ut" "$c_st" "$c_ut2" "$c_st2" "$tck" "$rss_now" "$hwm" "$s_cpu" <<'PY'
import json, re, sys
w, ut, st, ut2, st2, tck, rss_now, hwm, s_cpu = sys.argv[1], *map(int, sys.argv[2:])
r = json.load(open(f"{w}/report.json"))
lg = open(f"{w}/loadgen.time").read()
lg_cpu = float(re.search(r"User time \(seconds\): ([\d.]+)", lg).group(1)) + float(re.search(r"System time \(seconds\): ([\d.]+)", lg).group(1))
c_cpu = ((ut2 + st2) - (ut + st)) / tck
ev = max(r["events_acked"], 1)
print(f"collector: {c_cpu:.2f} CPU s during the stream = {c_cpu / ev * 1e6:.2f} CPU s per 1M events; "
      f"RSS at end {rss_now / 1024:.0f} MB, peak {hwm / 1024:.0f} MB")
print(f"loadgen:   {lg_cpu:.2f} CPU s = {lg_cpu / ev * 1e6:.2f} CPU s per 1M events")
if s_cpu:
    sc = s_cpu / tck
    print(f"scorer thread: {sc:.2f} CPU s = {sc / ev * 1e6:.2f} CPU s per 1M events, "
          f"+{100 * sc / max(c_cpu - sc, 1e-9):.0f}% of the rest of the collector's CPU")
PY
