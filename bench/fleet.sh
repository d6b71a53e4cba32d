#!/usr/bin/env bash
# bench/fleet.sh — the fleet's meeting point in figures, in one run, on a
# private redis-server (unix socket in a temp dir, --save '', stopped by PID
# at exit whatever happens; never port 6379 or a system service):
#
#   - ban_event (fleet-wide counting) and bl_put (last-writer-wins record):
#     ops/s, p50, p99 with 1 and 8 clients;
#   - delivery of a change from bl_put to 3 and 50 readers blocked in
#     Changes (p50/p99), and the publisher's latency meanwhile;
#   - catch-up from a cursor (entries/s) and snapshots of 100k and 1M records;
#   - redis-benchmark ZADD and XADD (1 and 50 clients) on the same server;
#   - the cron+rsync baseline: a block written on A reaches B's copy after
#     the cron interval (run at RSYNC_INTERVAL, scaled to 15 min for the ratio).
#
#   bench/fleet.sh                      # default: 20k ops per client, 1M-record snapshot
#   N=5000 BIG=200000 bench/fleet.sh    # quicker
#   RSYNC_INTERVAL=5s bench/fleet.sh
#
# Needs redis-server and redis-benchmark (apt-get install redis-server
# redis-tools); rsync for the baseline (skipped, and said so, without it).
# Reference on the 2-vCPU VM: see issue 11 and the report of branch fleet-ops.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-20000}
big=${BIG:-1000000}
every=${RSYNC_INTERVAL:-2s}

for b in redis-server redis-benchmark; do
  command -v "$b" >/dev/null || { echo "bench/fleet.sh: $b is not installed (apt-get install redis-server redis-tools)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/rcv-fleetbench.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

sock=$work/redis.sock
redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --dir "$work" --save '' \
  --appendonly no --daemonize no --loglevel warning --logfile "$work/redis.log" &
pid=$!
for _ in $(seq 300); do
  [ -S "$sock" ] && redis-cli -s "$sock" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -s "$sock" ping >/dev/null || { echo "bench/fleet.sh: redis-server did not start:" >&2; cat "$work/redis.log" >&2; exit 1; }

go build -o "$work/fleetbench" ./bench/fleetbench
echo "# $(redis-server --version | cut -d' ' -f1-3), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); unix socket, --save ''"
"$work/fleetbench" -redis "unix://$sock" -n "$n" -big "$big" -rsync-interval "$every"
echo "# used_memory after the run: $(redis-cli -s "$sock" info memory | grep '^used_memory_human' | cut -d: -f2 | tr -d '\r')"

echo "# redis-benchmark on the same server, 100k requests, random keys"
redis-cli -s "$sock" flushall >/dev/null
for c in 1 50; do
  redis-benchmark -s "$sock" -n 100000 -c "$c" -r 100000 -q ZADD rbz __rand_int__ m__rand_int__ | tr '\r' '\n' | grep 'requests per second' | sed "s/^/$c clients: /"
  redis-benchmark -s "$sock" -n 100000 -c "$c" -r 100000 -q XADD rbx '*' f __rand_int__ | tr '\r' '\n' | grep 'requests per second' | sed "s/^/$c clients: /"
done
