#!/usr/bin/env python3
"""Background exec load: spawns /bin/true RATE times per second for SECS seconds (posix_spawn and
waitpid, paced with 2 ms sleeps), to measure what process tracking costs the agent per exec.
Usage: tests/bench/exec_load.py [rate=200] [secs=20]   (prints the count of execs to stderr)
Example, next to an idle agent (its proc-events thread's CPU is in the "threads:" line):
  (sleep 9; /usr/bin/python3 tests/bench/exec_load.py 200 22) & tests/bench/agent_activity_bench.sh 1 20 3
"""
import os
import sys
import time

rate = int(sys.argv[1]) if len(sys.argv) > 1 else 200
secs = float(sys.argv[2]) if len(sys.argv) > 2 else 20
t0 = time.monotonic()
n = 0
while time.monotonic() - t0 < secs:
    due = int((time.monotonic() - t0) * rate)
    while n < due:
        pid = os.posix_spawn("/bin/true", ["true"], os.environ)
        os.waitpid(pid, 0)
        n += 1
    time.sleep(0.002)
print("execs", n, file=sys.stderr)
