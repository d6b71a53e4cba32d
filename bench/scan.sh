#!/usr/bin/env bash
# bench/scan.sh — how fast does `recidivist scan` read a big fail2ban.log,
# beside the tools admins use today, in one run on the same file?
#
#   bench/scan.sh [LINES]        (default 1000000 lines, ~116 MB; RUNS=7 repetitions)
#   BEFORE=/tmp/old-recidivist bench/scan.sh   also times that binary on one core
#                                              (before-1core), in the same rounds
#
# Prints, for each tool: wall time, CPU time, lines/s, MB/s, peak RSS, the
# ratio to recidivist and the CPU ratio to grep -c, on all cores and on one
# (taskset -c 0; GOMAXPROCS=1 for recidivist). Needs: taskset (util-linux), go, mawk, GNU time (/usr/bin/time), and fail2ban for
# fail2ban-regex (apt-get install fail2ban mawk time). Touches no firewall.
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for tool in mawk /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench/scan.sh: $tool is missing: apt-get install mawk time" >&2; exit 1; }
done

go build -o "$work/recidivist" ./cmd/recidivist
go run ./bench/genlog -lines "$lines" -o "$work/fail2ban.log"
log="$work/fail2ban.log"
bytes=$(stat -c %s "$log")
nlines=$(wc -l <"$log")
cat "$log" >/dev/null # warm the page cache so every tool reads from memory

# Each fast tool runs $RUNS times (default 7), the tools taking turns in
# each round so that a busy machine slows them alike, and the median is
# reported: wall time, and CPU time (user+sys), which a machine loaded by
# others disturbs less. fail2ban-regex, minutes long, runs once.
# The "1core" runs are pinned to one CPU (taskset -c 0) and, for
# recidivist, GOMAXPROCS=1: the goal is recidivist within 1.5x of grep -c
# there.
runs=${RUNS:-7}
declare -A walls cpus peak secs cpu rss
measure() { # name, command...
  local name=$1 r; shift
  /usr/bin/time -f '%M %U %S' -o "$work/time" "$@" >"$work/$name.out" 2>"$work/$name.err" || {
    echo "bench/scan.sh: $name failed:" >&2; tail -5 "$work/$name.err" >&2; return 1; }
  read -r r u s < <(tail -1 "$work/time")
  [ "$r" -gt "${peak[$name]:-0}" ] && peak[$name]=$r
  cpus[$name]+="$(echo "$u + $s" | bc) "
}
timed() { # name, command...: wall time around measure
  local name=$1 t0 t1; t0=$(date +%s%N)
  measure "$@"
  t1=$(date +%s%N)
  walls[$name]+="$(( (t1 - t0) / 1000 )) "
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END{printf "%.4f", v[int((NR+1)/2)]}'; }
one=(taskset -c 0)
awkprog='/\] Ban /{c[$NF]++} END{for(a in c) if(c[a]>=3) n++; print n+0}'
for _ in $(seq "$runs"); do
  timed recidivist "$work/recidivist" scan --window 1w --threshold 3 "$log"
  timed grep grep -c ' Ban ' "$log"
  timed mawk mawk "$awkprog" "$log"
  timed recidivist-1core env GOMAXPROCS=1 "${one[@]}" "$work/recidivist" scan --window 1w --threshold 3 "$log"
  timed grep-1core "${one[@]}" grep -c ' Ban ' "$log"
  timed mawk-1core "${one[@]}" mawk "$awkprog" "$log"
  if [ -n "${BEFORE:-}" ]; then
    timed before-1core env GOMAXPROCS=1 "${one[@]}" "$BEFORE" scan --window 1w --threshold 3 "$log"
  fi
done
if command -v fail2ban-regex >/dev/null; then
  timed fail2ban-regex fail2ban-regex "$log" /etc/fail2ban/filter.d/recidive.conf
else
  echo "(fail2ban-regex not installed: apt-get install fail2ban to compare with it)"
fi
for name in "${!walls[@]}"; do
  secs[$name]=$(echo "${walls[$name]}" | median | awk '{printf "%.4f", $1/1e6}')
  cpu[$name]=$(echo "${cpus[$name]}" | median)
  rss[$name]=${peak[$name]}
done

printf '\n%d lines, %.1f MB; recidivist found %s offenders (mawk: %s addresses with >=3 Ban lines, no window/filtering)\n\n' \
  "$nlines" "$(echo "$bytes/1000000" | bc -l)" "$(grep -c . "$work/recidivist.out" | awk '{print $1-1}')" "$(cat "$work/mawk.out")"
printf '%-17s %9s %9s %12s %9s %10s %10s %10s\n' tool seconds "cpu s" lines/s MB/s "peak RSS" "vs recid." "cpu vs grep"
for name in recidivist grep mawk recidivist-1core grep-1core mawk-1core before-1core fail2ban-regex; do
  [ -n "${secs[$name]:-}" ] || continue
  s=${secs[$name]}
  ref=recidivist; g=grep
  case $name in *-1core) ref=recidivist-1core; g=grep-1core;; esac
  printf '%-17s %9.3f %9.3f %12.0f %9.1f %8.1fMB %9.2fx %9.2fx\n' "$name" "$s" "${cpu[$name]}" \
    "$(echo "$nlines/$s" | bc -l)" "$(echo "$bytes/1000000/$s" | bc -l)" \
    "$(echo "${rss[$name]}/1024" | bc -l)" "$(echo "$s/${secs[$ref]}" | bc -l)" \
    "$(echo "${cpu[$name]}/${cpu[$g]}" | bc -l)"
done
echo
echo "(vs recid. > 1: that tool took longer than recidivist scan on as many cores; cpu vs grep: CPU time"
echo " over grep -c's on as many cores, the 1core goal is recidivist-1core <= 1.5x; medians of $runs runs, fail2ban-regex 1)"
