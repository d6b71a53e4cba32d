#!/usr/bin/env bash
# bench/scan.sh — how fast does `recidivist scan` read a big fail2ban.log,
# beside the tools admins use today, in one run on the same file?
#
#   bench/scan.sh [LINES]        (default 1000000 lines, ~116 MB; RUNS=7 repetitions)
#
# Prints, for each tool: wall time, lines/s, MB/s, peak RSS, and the ratio to
# recidivist. Needs: go, mawk, GNU time (/usr/bin/time), and fail2ban for
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

# Each fast tool runs $RUNS times (default 7) and the median wall time is
# reported: one run of a tenth of a second is at the mercy of a noisy
# machine. fail2ban-regex, minutes long, runs once.
runs=${RUNS:-7}
declare -A secs rss
measure() { # name, repetitions, command...
  local name=$1 reps=$2; shift 2
  local times=() peak=0 t0 t1 r
  for _ in $(seq "$reps"); do
    t0=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$work/time" "$@" >"$work/$name.out" 2>"$work/$name.err" || {
      echo "bench/scan.sh: $name failed:" >&2; tail -5 "$work/$name.err" >&2; return 1; }
    t1=$(date +%s%N)
    times+=("$(( (t1 - t0) / 1000 ))")
    r=$(tail -1 "$work/time"); [ "$r" -gt "$peak" ] && peak=$r
  done
  secs[$name]=$(printf '%s\n' "${times[@]}" | sort -n | awk '{v[NR]=$1} END{printf "%.4f", v[int((NR+1)/2)]/1e6}')
  rss[$name]=$peak
}

measure recidivist "$runs" "$work/recidivist" scan --window 1w --threshold 3 "$log"
measure grep "$runs" grep -c ' Ban ' "$log"
measure mawk "$runs" mawk '/\] Ban /{c[$NF]++} END{for(a in c) if(c[a]>=3) n++; print n+0}' "$log"
if command -v fail2ban-regex >/dev/null; then
  measure fail2ban-regex 1 fail2ban-regex "$log" /etc/fail2ban/filter.d/recidive.conf
else
  echo "(fail2ban-regex not installed: apt-get install fail2ban to compare with it)"
fi

printf '\n%d lines, %.1f MB; recidivist found %s offenders (mawk: %s addresses with >=3 Ban lines, no window/filtering)\n\n' \
  "$nlines" "$(echo "$bytes/1000000" | bc -l)" "$(grep -c . "$work/recidivist.out" | awk '{print $1-1}')" "$(cat "$work/mawk.out")"
printf '%-16s %9s %12s %9s %10s %12s\n' tool seconds lines/s MB/s "peak RSS" "vs recidivist"
for name in recidivist grep mawk fail2ban-regex; do
  [ -n "${secs[$name]:-}" ] || continue
  s=${secs[$name]}
  printf '%-16s %9.3f %12.0f %9.1f %8.1fMB %11.2fx\n' "$name" "$s" \
    "$(echo "$nlines/$s" | bc -l)" "$(echo "$bytes/1000000/$s" | bc -l)" \
    "$(echo "${rss[$name]}/1024" | bc -l)" "$(echo "$s/${secs[recidivist]}" | bc -l)"
done
echo
echo "(vs recidivist > 1 means that tool took longer than recidivist scan; median of $runs runs, fail2ban-regex 1)"
