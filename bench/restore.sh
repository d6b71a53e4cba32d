#!/usr/bin/env bash
# bench/restore.sh — how fast a whole blocklist gets into the kernel at boot.
#
# For each size (default 100000 and 1000000 entries: random distinct IPv4
# addresses plus 1% IPv6) it times, in the same run and each in its own
# fresh network namespace (unshare -n; the host's firewall is never touched):
#   (a) recidivist's restore path: bench/restoretime loads the mirror and
#       calls ipsetstore Replace, then verifies every entry through List;
#   (b) `ipset restore -f` of the same entries plus one iptables and one
#       ip6tables rule matching the sets;
# and once, for CLASSIC_N entries (default 10000), (c) the classic
# iptables-repeater recipe: one `iptables -I INPUT 1 -s IP -j DROP` per line.
# It prints seconds, entries/s and the ratio recidivist / ipset restore.
#
# Usage: sudo bench/restore.sh [SIZE...]      (env CLASSIC_N, KEEP=1)
set -euo pipefail

[[ $(id -u) == 0 ]] || { echo "restore.sh: needs root for network namespaces (sudo $0)" >&2; exit 1; }
for tool in ipset iptables ip6tables unshare python3 go; do
	command -v "$tool" >/dev/null || { echo "restore.sh: $tool not found — apt-get install -y iptables ipset iproute2 python3" >&2; exit 1; }
done

sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(100000 1000000)
classic_n=${CLASSIC_N:-10000}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/recidivist-bench.XXXXXX)
[[ ${KEEP:-} == 1 ]] || trap 'rm -rf "$work"' EXIT

(cd "$here/.." && go build -o "$work/restoretime" ./bench/restoretime)

# gen N MIRROR IPSETFILE: N distinct random entries, 1% IPv6, written as a
# recidivist mirror and as an `ipset restore` file with the same sets.
gen() {
	python3 - "$@" <<'PY'
import random, sys
n, mirror, restore = int(sys.argv[1]), sys.argv[2], sys.argv[3]
r = random.Random(n)
n6 = n // 100
v4 = r.sample(range(1 << 24, 224 << 24), n - n6)      # 1.0.0.0 .. 223.255.255.255, no duplicates
v6 = r.sample(range(1 << 32), n6)
maxelem = max(1 << 20, n)
c = "recidivist 2026-11-24T13:55:51Z jails=sshd,postfix bans=3"
with open(mirror, "w") as m, open(restore, "w") as s:
    s.write(f"create bench hash:net family inet timeout 0 counters comment maxelem {maxelem}\n")
    s.write(f"create bench6 hash:net family inet6 timeout 0 counters comment maxelem {maxelem}\n")
    for a in v4:
        ip = f"{a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}"
        m.write(f"{ip} # {c}\n")
        s.write(f'add bench {ip} comment "recidivist"\n')
    for a in v6:
        ip = f"2001:db8:{a >> 16:x}:{a & 0xffff:x}::1"
        m.write(f"{ip} # {c}\n")
        s.write(f'add bench6 {ip} comment "recidivist"\n')
PY
	chmod 600 "$2"
}

now() { date +%s.%N; }
rate() { python3 -c "import sys; n,s=float(sys.argv[1]),float(sys.argv[2]); print(f'{n/s:.0f}')" "$1" "$2"; }

printf '%-10s %-26s %10s %14s\n' entries method seconds entries/s
for n in "${sizes[@]}"; do
	gen "$n" "$work/mirror.$n" "$work/ipset.$n"
	maxelem=$(( n > 1048576 ? n : 1048576 ))

	# (a) recidivist
	out=$(unshare -n "$work/restoretime" -mirror "$work/mirror.$n" -set bench -maxelem "$maxelem")
	rt=$(sed -E 's/.*total_s=([0-9.]+).*/\1/' <<<"$out")
	verify=$(sed -E 's/.*verify_s=([0-9.]+).*/\1/' <<<"$out")
	printf '%-10s %-26s %10.3f %14s   (%s; verify %ss)\n' "$n" "recidivist Replace" "$rt" "$(rate "$n" "$rt")" "$(sed -E 's/ entries=.*//' <<<"$out")" "$verify"

	# (b) ipset restore + the two rules
	it=$(unshare -n bash -c '
		s=$(date +%s.%N)
		ipset restore -f "$1"
		iptables -I INPUT 1 -m set --match-set bench src -j DROP
		ip6tables -I INPUT 1 -m set --match-set bench6 src -j DROP
		e=$(date +%s.%N)
		[[ $(ipset list -t bench | sed -n "s/^Number of entries: //p") -gt 0 ]] || { echo "ipset restore loaded nothing" >&2; exit 1; }
		python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$s" "$e"' _ "$work/ipset.$n")
	printf '%-10s %-26s %10.3f %14s\n' "$n" "ipset restore + 2 rules" "$it" "$(rate "$n" "$it")"
	printf '%-10s %-26s %10.2f   (recidivist time / ipset restore time; below 1 = faster)\n' "$n" "ratio" "$(python3 -c "import sys; print(float(sys.argv[1])/float(sys.argv[2]))" "$rt" "$it")"
done

# (c) the classic recipe, one rule per address, on the first CLASSIC_N IPv4 lines
head -n "$classic_n" "$work/mirror.${sizes[0]}" | awk '$1 !~ /:/ {print $1}' >"$work/classic"
cn=$(wc -l <"$work/classic")
ct=$(unshare -n bash -c '
	s=$(date +%s.%N)
	while read -r ip; do iptables -I INPUT 1 -s "$ip" -j DROP; done <"$1"
	e=$(date +%s.%N)
	python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$s" "$e"' _ "$work/classic")
printf '%-10s %-26s %10.3f %14s\n' "$cn" "classic iptables -I loop" "$ct" "$(rate "$cn" "$ct")"
