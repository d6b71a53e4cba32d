#!/usr/bin/env bash
# test-deb.sh: builds the Debian packages (make deb), lints them, and installs,
# exercises, removes and purges the one of this machine's architecture, on
# this machine, as root (CI runs it from .ci/run). It never starts the daemon
# and touches no firewall rule: without systemd as PID 1, enabling the units
# only writes their symlinks, and `recidivist check` only reads. Whatever
# happens, the package is purged at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
say() { echo "test-deb: $*"; }

[ "$(id -u)" = 0 ] || fail "must run as root (it installs the package with dpkg)"
need=()
for pkg in lintian man-db dpkg-dev gzip iptables; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
	say "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Never clobber a real installation: the purge at the end would delete its
# configuration and its blocklist.
if dpkg-query -W -f='${Status}' recidivist 2>/dev/null | grep -q "ok installed\|config-files"; then
	fail "recidivist is already installed here; this test installs and purges it"
fi
for path in /etc/recidivist /var/lib/recidivist /usr/sbin/recidivist; do
	[ ! -e "$path" ] || fail "$path exists (an installation from source?); this test would remove it"
done

# installed_runs says whether a process runs the installed binary (other
# recidivist binaries, e.g. tests' own builds, may run beside this test).
installed_runs() {
	local exe
	for exe in /proc/[0-9]*/exe; do
		[ "$(readlink "$exe" 2>/dev/null)" != /usr/sbin/recidivist ] || return 0
	done
	return 1
}

cleanup() {
	if dpkg-query -W -f='${Status}' recidivist 2>/dev/null | grep -q "installed\|config-files\|half"; then
		say "cleanup: purging recidivist"
		dpkg -P recidivist >/dev/null 2>&1 || echo "test-deb: cleanup: dpkg -P recidivist failed" >&2
	fi
}
trap cleanup EXIT

version=$(packaging/version.sh)
commit=$(git rev-parse HEAD)
arch=$(dpkg --print-architecture)
say "building version $version"
make --no-print-directory deb VERSION="$version"
deb=dist/recidivist_${version}_${arch}.deb
for a in amd64 arm64; do
	[ -s "dist/recidivist_${version}_${a}.deb" ] || fail "make deb wrote no dist/recidivist_${version}_${a}.deb"
	dpkg-deb -f "dist/recidivist_${version}_${a}.deb" Architecture | grep -qx "$a" ||
		fail "dist/recidivist_${version}_${a}.deb is not for $a"
done

say "lintian $deb"
lint=$(lintian --allow-root "$deb" 2>&1) || true
[ -z "$lint" ] || echo "$lint"
if grep -q '^E: ' <<<"$lint"; then
	fail "lintian reports errors"
fi
say "lintian: $(grep -c '^E: ' <<<"$lint" || true) errors, $(grep -c '^W: ' <<<"$lint" || true) warnings"

say "dpkg -i"
dpkg -i "$deb"
bin=/usr/sbin/recidivist
[ -x "$bin" ] || fail "$bin is not installed"
out=$("$bin" --version)
say "--version: $out"
grep -qF "recidivist $version (commit $commit" <<<"$out" || fail "--version does not print version $version and commit $commit"

for f in /lib/systemd/system/recidivist.service /lib/systemd/system/recidivist-restore.service \
	/usr/share/bash-completion/completions/recidivist /usr/share/zsh/vendor-completions/_recidivist \
	/usr/share/doc/recidivist/README.md /usr/share/doc/recidivist/copyright \
	/usr/share/doc/recidivist/examples/recidivist.toml /usr/share/doc/recidivist/examples/grafana/recidivist.json.gz; do
	[ -f "$f" ] || fail "$f is not installed"
done
grep -q '^ExecStart=/usr/sbin/recidivist run$' /lib/systemd/system/recidivist.service || fail "recidivist.service does not run /usr/sbin/recidivist"
grep -q '^ExecStart=/usr/sbin/recidivist restore$' /lib/systemd/system/recidivist-restore.service || fail "recidivist-restore.service does not run /usr/sbin/recidivist"
[ "$(stat -c %a /etc/recidivist/recidivist.toml)" = 644 ] || fail "the config is not mode 0644"
dpkg-query -W -f='${Conffiles}' recidivist | grep -q '/etc/recidivist/recidivist.toml' || fail "the config is not a conffile"
[ "$(stat -c '%a %U' /var/lib/recidivist)" = "700 root" ] || fail "/var/lib/recidivist is not 0700 root: $(stat -c '%a %U' /var/lib/recidivist)"
for unit in recidivist.service recidivist-restore.service; do
	[ -L "/etc/systemd/system/multi-user.target.wants/$unit" ] || fail "$unit is not enabled"
done
if installed_runs; then
	fail "/usr/sbin/recidivist runs after the install: the package must not start the daemon"
fi

say "man -l"
for page in /usr/share/man/man8/recidivist.8.gz /usr/share/man/man5/recidivist.toml.5.gz; do
	rendered=$(MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null) || fail "man -l $page failed"
	[ -z "$rendered" ] || fail "man -l $page warns: $rendered"
	MANWIDTH=80 man -E UTF-8 -l "$page" 2>/dev/null | grep -q '^NAME' || fail "man -l $page shows no NAME section"
done

say "recidivist check (from the installed config; problems on this machine are expected)"
set +e
check_out=$("$bin" check 2>&1)
code=$?
set -e
echo "$check_out" | sed 's/^/  | /'
case $code in
0 | 1) ;;
*) fail "recidivist check exited $code (0: all good, 1: problems found; anything else is a failure)" ;;
esac
if grep -q '^panic:\|^goroutine ' <<<"$check_out"; then
	fail "recidivist check crashed"
fi
grep -q /etc/recidivist/recidivist.toml <<<"$check_out" || fail "recidivist check does not name the installed config"

say "dpkg -i again (an upgrade in place: postinst restarts, never starts)"
dpkg -i "$deb"
if installed_runs; then
	fail "/usr/sbin/recidivist runs after the upgrade"
fi

# A mirror line, as the daemon would have written: remove must keep it.
printf '203.0.113.7 # test-deb\n' >/var/lib/recidivist/blocklist
chmod 0600 /var/lib/recidivist/blocklist

say "dpkg -r"
remove_out=$(dpkg -r recidivist 2>&1)
echo "$remove_out"
grep -q "stay in force" <<<"$remove_out" || fail "dpkg -r does not say the blocks stay"
[ ! -e "$bin" ] || fail "$bin is still there after dpkg -r"
[ ! -e /lib/systemd/system/recidivist.service ] || fail "the unit is still there after dpkg -r"
[ -f /etc/recidivist/recidivist.toml ] || fail "dpkg -r removed the config (a conffile stays until purge)"
[ -f /var/lib/recidivist/blocklist ] || fail "dpkg -r removed the mirror (it stays until purge)"

say "dpkg -P"
dpkg -P recidivist
left=()
for path in /etc/recidivist /var/lib/recidivist; do
	[ ! -e "$path" ] || left+=("$path")
done
while IFS= read -r path; do
	left+=("$path")
done < <(find /etc/systemd /var/lib/systemd /usr/share /lib/systemd /usr/sbin -name '*recidivist*' 2>/dev/null)
if dpkg-query -W recidivist >/dev/null 2>&1; then
	left+=("dpkg's record of recidivist")
fi
((${#left[@]} == 0)) || fail "dpkg -P left behind: ${left[*]}"
say "all green"
