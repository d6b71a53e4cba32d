#!/bin/sh
# Prints the Debian version of the checkout, from git:
#   tag v1.2.3 at HEAD          1.2.3
#   5 commits after v1.2.3      1.2.3+git20261202.e003118
#   no tag at all               0.0~git20261202.e003118
# (the date is the commit's, in UTC, so the same commit always gets the same
# version). With local changes, ".dirty" is appended.
set -eu
short=$(git rev-parse --short=7 HEAD)
date=$(TZ=UTC git log -1 --date=format-local:%Y%m%d --format=%cd HEAD)
if tag=$(git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null); then
	base=${tag#v}
	if [ "$(git rev-list -n1 "$tag")" = "$(git rev-parse HEAD)" ]; then
		v=$base
	else
		v="$base+git$date.$short"
	fi
else
	v="0.0~git$date.$short"
fi
# Debian versions take no "-" in a native version: v1.2.3-rc1 becomes 1.2.3~rc1.
v=$(printf '%s' "$v" | sed 's/-/~/g')
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	v="$v.dirty"
fi
printf '%s\n' "$v"
