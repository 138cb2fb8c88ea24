#!/usr/bin/env bash
# Agent CPU under steady file activity: a real collector and a real enrolled agent (fanotify when
# run as root, else inotify) watching an empty directory; after an idle period a writer process
# creates RATE one-byte files per second (create + close-write = 2 file events each) for SECS
# seconds. Prints the agent's CPU (utime+stime from /proc/PID/stat, all threads) as % of a core
# while idle and while under activity, its RSS, and checks that every file's events were stored.
# Usage: tests/bench/agent_activity_bench.sh [rate=500] [secs=30] [idle_secs=10]
#   CUSTOS_BIN=dir        binaries to measure (default build/ci/bin)
#   CUSTOS_PERF=out.data  also record `perf record -g` of the agent during the activity
#   CUSTOS_STRACE=out.txt also count the agent's system calls (`strace -c -f`; other strace
#                         options in CUSTOS_STRACE_ARGS, e.g. '-tt' for a full trace)
#   CUSTOS_AGENT_YAML='spool: {ack_persist_interval: 0ms}'  extra top-level agent configuration
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${CUSTOS_BIN:-$PWD/build/ci/bin}
rate=${1:-500}; secs=${2:-30}; idle=${3:-10}
work=$(mktemp -d /tmp/custos-activity-bench-XXXXXX)
trap 'kill $apid $cpid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin/custos-collector" init --data-dir "$work/c" >/dev/null
token=$("$bin/custos-collector" token create --data-dir "$work/c" --uses 1 2>/dev/null)
"$bin/custos-collector" run --data-dir "$work/c" --api 127.0.0.1:0 --listen 127.0.0.1:0 \
  --metrics off --ready-file "$work/ready" --log-level warn 2>"$work/collector.log" &
cpid=$!
for _ in $(seq 200); do [ -f "$work/ready" ] && break; sleep 0.05; done
port=$(python3 -c "import json;print(json.load(open('$work/ready'))['ingest_port'])")
mkdir -p "$work/watch" "$work/a"
cat >"$work/agent.yaml" <<EOF
collector: {address: "127.0.0.1:$port", server_name: localhost}
state_dir: $work/a
sources:
  file: {roots: ["$work/watch"]}
  usb: {enabled: false}
  settings: {enabled: false}
${CUSTOS_AGENT_YAML:-}
EOF
"$bin/custos-agent" enroll --config "$work/agent.yaml" --token "$token" --ca "$work/c/pki/ca.crt" >/dev/null
"$bin/custos-agent" run --config "$work/agent.yaml" --log-level warn 2>"$work/agent.log" &
apid=$!
cpu() { awk '{print $14 + $15}' "/proc/$apid/stat"; }
tck=$(getconf CLK_TCK)
for _ in $(seq 100); do grep -q '"connected": *true' "$work/a/status.json" 2>/dev/null && break; sleep 0.1; done
sleep 2  # startup scan, first status
c0=$(cpu); sleep "$idle"; c1=$(cpu)
mech=$(python3 -c "import json;s=json.load(open('$work/a/status.json'));print(','.join(x.get('mechanism','?') for x in s.get('sources',[])))" 2>/dev/null || echo '?')
if [ -n "${CUSTOS_PERF:-}" ]; then
  perf record -g -F 999 -o "$CUSTOS_PERF" -p "$apid" -- sleep "$secs" >/dev/null 2>&1 &
  perfpid=$!
fi
if [ -n "${CUSTOS_STRACE:-}" ]; then
  timeout -s INT "$secs" strace ${CUSTOS_STRACE_ARGS:--c} -f -o "$CUSTOS_STRACE" -p "$apid" 2>/dev/null &
  perfpid=$!
fi
threads() { for t in /proc/$apid/task/*; do echo "$(cat "$t/comm" 2>/dev/null | tr ' ' _) $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null)"; done; }
threads >"$work/threads0"
c2=$(cpu)
python3 - "$work/watch" "$rate" "$secs" <<'PY'
import os, sys, time
root, rate, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
t0 = time.monotonic(); n = 0
while True:
    now = time.monotonic() - t0
    if now >= secs: break
    due = int(now * rate)
    while n < due:
        d = os.path.join(root, f"d{n // 1000:04d}")
        if n % 1000 == 0: os.mkdir(d)
        with open(os.path.join(d, f"f{n:07d}.txt"), "w") as f: f.write("x")
        n += 1
    time.sleep(0.002)
print(n, file=open(os.path.join(root, "..", "files"), "w"))
PY
c3=$(cpu)
threads >"$work/threads1"
[ -n "${CUSTOS_PERF:-}${CUSTOS_STRACE:-}" ] && wait "$perfpid" || true
files=$(cat "$work/files")
rss=$(awk '/VmRSS/{print $2}' "/proc/$apid/status")
# Every file: a create and a close-write in the store (the directories add one create each).
want=$((2 * files))
q="select count(*) from events"
for _ in $(seq 300); do
  got=$(python3 -c "import sqlite3;print(sqlite3.connect('file:$work/c/custos.db?mode=ro',uri=True).execute('$q').fetchone()[0])")
  [ "$got" -ge "$want" ] && break; sleep 0.1
done
python3 - "$c0" "$c1" "$c2" "$c3" "$tck" "$idle" "$secs" "$files" "$got" "$want" "$rss" "$mech" <<'PY'
import sys
c0, c1, c2, c3, tck, idle, secs = map(float, sys.argv[1:8])
files, got, want, rss, mech = int(sys.argv[8]), int(sys.argv[9]), int(sys.argv[10]), int(sys.argv[11]), sys.argv[12]
print(f"mechanism: {mech}")
print(f"idle:     {100 * (c1 - c0) / tck / idle:.2f}% of a core over {idle:.0f} s")
print(f"activity: {100 * (c3 - c2) / tck / secs:.2f}% of a core over {secs:.0f} s, "
      f"{files} files = {2 * files / secs:.0f} file events/s; RSS {rss / 1024:.1f} MB")
print(f"stored:   {got} events (want >= {want}: every create and close-write) "
      + ("ok" if got >= want else "MISSING"))
sys.exit(0 if got >= want else 1)
PY
# Per thread (names set with pthread_setname_np): % of a core during the activity.
awk -v tck="$tck" -v secs="$secs" 'NR==FNR{a[$1]+=$2; next}{b[$1]+=$2}
  END{printf "threads: "; for (k in b) { d=b[k]-a[k]; if (d>0) printf "%s %.2f%%  ", k, 100*d/tck/secs }; print ""}' \
  "$work/threads0" "$work/threads1"
