#!/usr/bin/env bash
# Builds Makeroom and the load generator, installs the Socket.IO peer, and runs every scenario with
# the servers pinned to CPU 0 and the generator to CPU 1. Results: a table and one JSON line per run
# on stdout, and every JSON line appended to $OUT (default load-tests/results.jsonl).
#
#   load-tests/run.sh                 # everything (about 25 minutes on 2 cores)
#   load-tests/run.sh rooms storm     # only some: rooms storm connections event-day chaos compare
#
# Everything runs on 127.0.0.1; every run is bounded in connections and time.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-load-tests/results.jsonl}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
CONNECTIONS=${CONNECTIONS:-19000}   # idle connections; bounded by the open-file limit (see below)
STEPS=("$@")
[ ${#STEPS[@]} -eq 0 ] && STEPS=(rooms storm connections event-day chaos compare)

# Each process may hold this many sockets; 50,000 connections need ~50,100 on each side.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open-file limit: $(ulimit -n)"

cargo build --release -p makeroom-server -p makeroom-load
if [[ " ${STEPS[*]} " == *" compare "* || " ${STEPS[*]} " == *" chaos "* ]]; then
  command -v redis-server >/dev/null || { apt-get update && apt-get install -y redis-server; }
fi
if [[ " ${STEPS[*]} " == *" chaos "* ]]; then
  command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || { apt-get update && apt-get install -y haproxy; }
fi
if [[ " ${STEPS[*]} " == *" compare "* ]]; then
  (cd load-tests/peer && npm install --no-audit --no-fund)
fi

# A higher priority keeps other processes on a shared machine from taking the measured cores
# (children, the servers, inherit it). Without root, nice only warns and runs as usual.
LOAD=(nice -n -10 taskset -c "$LOAD_CPU" target/release/makeroom-load)
COMMON=(--server-cpus "$SERVER_CPU" --json-out "$OUT")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"

for step in "${STEPS[@]}"; do
  case "$step" in
    rooms)
      "${LOAD[@]}" rooms "${COMMON[@]}" --connections 2000 --rooms 100 --rate 2000 --duration 10 --warmup 2 ;;
    storm)
      "${LOAD[@]}" reconnect-storm "${COMMON[@]}" --clients 5000 --rooms 250 --rate 1000 --spread 3 --deadline 15 ;;
    connections)
      "${LOAD[@]}" connections "${COMMON[@]}" --connections "$CONNECTIONS" --hold 20 ;;
    event-day)
      "${LOAD[@]}" event-day "${COMMON[@]}" --teams 40 --team-size 6 --displays 4 --duration 60 --intensity 1 ;;
    chaos)
      # Exits 1 if anything acknowledged was lost or doubled; the other steps still run first.
      "${LOAD[@]}" chaos "${COMMON[@]}" || { echo "chaos: FAILED (see above)"; chaos_failed=1; } ;;
    compare)
      "${LOAD[@]}" compare "${COMMON[@]}" --connections 2000 --rooms 100 --start-rate 1000 --step-duration 8 --warmup 3 ;;
    *) echo "unknown step $step (rooms storm connections event-day chaos compare)" >&2; exit 2 ;;
  esac
done
[ -z "${chaos_failed:-}" ] || exit 1
