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
#   (d) recidivist's nftables backend (bench/restoretime -backend nftables:
#       the whole table in one transaction), verified through List up to
#       NFT_VERIFY_MAX entries (default 200000: the kernel's dump of an
#       interval set grows faster than linearly, for `nft list` too);
#   (e) `nft -f` of the same table (sets v4/v6 with the same elements and
#       comments, chain input with the two rules), checked by its exit
#       status only: nft 1.0.6 dumps every set even for `nft list tables`;
# and once, for CLASSIC_N entries (default 10000), (c) the classic
# iptables-repeater recipe: one `iptables -I INPUT 1 -s IP -j DROP` per line.
# It prints seconds, entries/s and the ratios recidivist / ipset restore and
# recidivist nftables / nft -f.
#
# Usage: sudo bench/restore.sh [SIZE...]      (env CLASSIC_N, NFT_VERIFY_MAX, KEEP=1)
set -euo pipefail

[[ $(id -u) == 0 ]] || { echo "restore.sh: needs root for network namespaces (sudo $0)" >&2; exit 1; }
for tool in ipset iptables ip6tables nft unshare python3 go; do
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
n, mirror, restore, nftfile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
r = random.Random(n)
n6 = n // 100
v4 = [a for a in r.sample(range(1 << 24, 224 << 24), n - n6 + n // 50) if a >> 24 != 127][:n - n6]  # 1.0.0.0 .. 223.255.255.255 without the loopback /8, no duplicates
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
with open(nftfile, "w") as f:
    f.write("table inet bench {\n")
    for name, typ, addrs in (("v4", "ipv4_addr", [f"{a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}" for a in v4]),
                             ("v6", "ipv6_addr", [f"2001:db8:{a >> 16:x}:{a & 0xffff:x}::1" for a in v6])):
        f.write(f"  set {name} {{\n    type {typ}\n    flags interval,timeout\n    counter\n    size {maxelem}\n")
        if addrs:
            f.write("    elements = {\n")
            f.write(",\n".join(f'      {ip} comment "recidivist"' for ip in addrs))
            f.write("\n    }\n")
        f.write("  }\n")
    f.write("  chain input {\n    type filter hook input priority filter - 10; policy accept;\n")
    f.write("    meta nfproto ipv4 ip saddr @v4 counter drop\n    meta nfproto ipv6 ip6 saddr @v6 counter drop\n  }\n}\n")
PY
	chmod 600 "$2"
}

now() { date +%s.%N; }
rate() { python3 -c "import sys; n,s=float(sys.argv[1]),float(sys.argv[2]); print(f'{n/s:.0f}')" "$1" "$2"; }

printf '%-10s %-26s %10s %14s\n' entries method seconds entries/s
for n in "${sizes[@]}"; do
	gen "$n" "$work/mirror.$n" "$work/ipset.$n" "$work/nft.$n"
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

	# (d) recidivist, nftables backend
	verify=true
	(( n <= ${NFT_VERIFY_MAX:-200000} )) || verify=false
	out=$(unshare -n "$work/restoretime" -backend nftables -verify="$verify" -mirror "$work/mirror.$n" -set bench -maxelem "$maxelem")
	nt=$(sed -E 's/.*total_s=([0-9.]+).*/\1/' <<<"$out")
	nverify=$(sed -E 's/.*verify_s=([0-9.a-z]+).*/\1/' <<<"$out")
	printf '%-10s %-26s %10.3f %14s   (%s; verify %s)\n' "$n" "recidivist nftables" "$nt" "$(rate "$n" "$nt")" "$(sed -E 's/ entries=.*//' <<<"$out")" "$nverify"

	# (e) nft -f of the same table
	ft=$(unshare -n bash -c '
		s=$(date +%s.%N)
		nft -f "$1" || { echo "nft -f failed" >&2; exit 1; }  # one transaction: exit 0 means all of it is in
		e=$(date +%s.%N)
		python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$s" "$e"' _ "$work/nft.$n")
	printf '%-10s %-26s %10.3f %14s\n' "$n" "nft -f (same table)" "$ft" "$(rate "$n" "$ft")"
	printf '%-10s %-26s %10.2f   (recidivist nftables time / nft -f time; below 1 = faster)\n' "$n" "ratio nftables" "$(python3 -c "import sys; print(float(sys.argv[1])/float(sys.argv[2]))" "$nt" "$ft")"
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
