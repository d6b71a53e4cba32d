#!/usr/bin/env bash
# bench/latency.sh — how long does a repeat offender stay unblocked after the
# Ban line that makes it one? From the write of the deciding (third) Ban line
# to the address being in force in the kernel, per offender, one at a time.
#
#   bench/latency.sh [OFFENDERS] [FAIL2BAN_OFFENDERS]   (default 1000 and 100)
#   RECIDIVIST=/tmp/recidivist bench/latency.sh 1000 0  (a given build; 0: no fail2ban)
#
# 1. `recidivist run` (threshold 3) in a fresh network namespace; the time
#    ends when the address is in its ipset (netlink ipset test every 100µs).
# 2. fail2ban's own stock [recidive] jail (maxretry 3, banaction
#    iptables-allports, backend auto) in a fresh fail2ban-server in another
#    namespace, own config, socket, database and log; the time ends when its
#    f2b-recidive chain holds the address (iptables -S in a loop, a few ms
#    per poll). Skipped, and said so, when fail2ban is not installed.
# Prints p50, p99 and max of each and their ratio. Goal: recidivist p99 < 10 ms.
# Needs root; never touches the host's firewall (both namespaces are deleted
# at exit, whatever happens).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
nf2b=${2:-100}
[ "$(id -u)" = 0 ] || { echo "bench/latency.sh: needs root (network namespaces, ipsets)" >&2; exit 1; }

work=$(mktemp -d /tmp/rcdv-lat.XXXXXX)
ns=rcdv-lat-$$
nsf=rcdv-latf2b-$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  ip netns del "$nsf" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# RECIDIVIST=/path/to/binary measures that build instead of ./cmd/recidivist.
if [ -n "${RECIDIVIST:-}" ]; then
  cp "$RECIDIVIST" "$work/recidivist"
else
  go build -o "$work/recidivist" ./cmd/recidivist
fi
go build -o "$work/latency" ./bench/latency

# --- recidivist -------------------------------------------------------------
ip netns add "$ns"
ip -n "$ns" link set lo up
: >"$work/fail2ban.log"
: >"$work/recidivist.toml"; chmod 600 "$work/recidivist.toml"
ip netns exec "$ns" "$work/recidivist" run --config "$work/recidivist.toml" \
  --log "$work/fail2ban.log" --state-dir "$work/state" --set-name rcdvlat \
  --threshold 3 --window 1w --log-level warn 2>"$work/recidivist.err" &
pids+=($!)
ip netns exec "$ns" "$work/latency" -mode recidivist -log "$work/fail2ban.log" \
  -set rcdvlat -n "$n" -out "$work/recidivist.result"
# The set comes first; the mirror records the same offenders a moment later
# (batched writes with fsyncs): give it a few seconds.
for _ in $(seq 100); do
  got=$(ip netns exec "$ns" "$work/recidivist" list --json --config "$work/recidivist.toml" --state-dir "$work/state" | grep -c '"address"' || true)
  [ "$got" = "$n" ] && break
  sleep 0.1
done
[ "$got" = "$n" ] || { echo "bench/latency.sh: the mirror holds $got entries, want $n" >&2; exit 1; }

# --- fail2ban's recidive jail -------------------------------------------------
if [ "$nf2b" = 0 ]; then
  echo "fail2ban   not measured: FAIL2BAN_OFFENDERS is 0"
  exit 0
fi
if ! command -v fail2ban-server >/dev/null; then
  echo "fail2ban   not measured: fail2ban-server is not installed (apt-get install fail2ban)"
  exit 0
fi
ip netns add "$nsf"
ip -n "$nsf" link set lo up
etc=$work/f2b-etc
mkdir -p "$etc/jail.d" "$etc/fail2ban.d"
cp -r /etc/fail2ban/filter.d /etc/fail2ban/action.d /etc/fail2ban/*.conf "$etc/"
cat >"$etc/fail2ban.local" <<CONF
[Definition]
loglevel = INFO
logtarget = $work/f2b-own.log
socket = $work/f2b.sock
pidfile = $work/f2b.pid
dbfile = $work/f2b.sqlite3
CONF
cat >"$etc/jail.local" <<CONF
[DEFAULT]
banaction = iptables-allports
banaction_allports = iptables-allports
backend = auto

[recidive]
enabled = true
logpath = $work/f2b-bans.log
maxretry = 3
CONF
: >"$work/f2b-bans.log"
ip netns exec "$nsf" fail2ban-server -c "$etc" -s "$work/f2b.sock" -p "$work/f2b.pid" -x -f start \
  >"$work/f2b.out" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
  grep -q "Jail 'recidive' started" "$work/f2b-own.log" 2>/dev/null && break
  sleep 0.1
done
grep -q "Jail 'recidive' started" "$work/f2b-own.log" 2>/dev/null || {
  echo "bench/latency.sh: fail2ban's recidive jail did not start in 30s:" >&2
  cat "$work/f2b.out" "$work/f2b-own.log" >&2 2>/dev/null; exit 1; }
backend=$(grep -o "Initiated '[a-z]*' backend" "$work/f2b-own.log" | head -1)
ip netns exec "$nsf" "$work/latency" -mode fail2ban -log "$work/f2b-bans.log" \
  -chain f2b-recidive -n "$nf2b" -first 198.19.0.1 -settle 5s -out "$work/fail2ban.result"
echo "fail2ban   $backend, $(grep -c 'NOTICE  \[recidive\] Ban ' "$work/f2b-own.log") recidive bans in its log"

read -r _ _ r50 r99 rmax <"$work/recidivist.result"
read -r _ _ f50 f99 fmax <"$work/fail2ban.result"
awk -v r50="$r50" -v r99="$r99" -v rmax="$rmax" -v f50="$f50" -v f99="$f99" -v fmax="$fmax" 'BEGIN {
  printf "ratio fail2ban/recidivist: p50 %.0fx, p99 %.0fx, max %.0fx\n", f50/r50, f99/r99, fmax/rmax
  printf "goal recidivist p99 < 10 ms: %s (%.3f ms)\n", (r99 < 10 ? "met" : "NOT met"), r99
}'
