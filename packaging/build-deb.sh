#!/bin/sh
# build-deb.sh VERSION ARCH LDFLAGS: builds dist/recidivist_VERSION_ARCH.deb
# with nfpm (the version go.mod in this directory pins), from
# packaging/nfpm.yaml. Called by `make deb`; run from the repository's root.
set -eu
version=$1 arch=$2 ldflags=$3
root=$(pwd)
# nfpm.yaml names the staged files by this fixed path: one build at a time.
stage=$root/dist/stage
rm -rf "$stage"
mkdir -p "$stage"

# The binary: position-independent (hardening; lintian takes a Go binary
# without it for a stray static one), for the package's architecture, stamped with the
# version and the commit (recidivist --version prints both).
CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -buildvcs=true -trimpath -buildmode=pie \
	-ldflags "$ldflags" -o "$stage/recidivist" ./cmd/recidivist

# The units of examples/systemd, with the binary where the package puts it.
for unit in recidivist.service recidivist-restore.service; do
	sed 's|/usr/local/bin/recidivist|/usr/sbin/recidivist|g' "examples/systemd/$unit" >"$stage/$unit"
	if grep -q /usr/local/bin "$stage/$unit"; then
		echo "build-deb: $unit still names /usr/local/bin" >&2
		exit 1
	fi
done

# Man pages and the dashboard, compressed as Debian wants (-9, no name or
# time stamp, so the same tree gives the same package).
gzip -9n <docs/man/recidivist.8 >"$stage/recidivist.8.gz"
gzip -9n <docs/man/recidivist.toml.5 >"$stage/recidivist.toml.5.gz"
gzip -9n <examples/grafana/recidivist.json >"$stage/recidivist.json.gz"

# A one-entry changelog of this build (a native package's changelog.gz).
when=$(git log -1 --format=%cD HEAD 2>/dev/null || date -R)
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
cat >"$stage/changelog" <<EOT
recidivist ($version) unstable; urgency=medium

  * Built from commit $commit.

 -- recidivist developers <recidivist@users.noreply.github.com>  $when
EOT
gzip -9n <"$stage/changelog" >"$stage/changelog.gz"

mkdir -p dist
out=dist/recidivist_${version}_${arch}.deb
rm -f "$out"
# nfpm as packaging/go.mod pins it (its module stays out of recidivist's).
go -C packaging build -o "$root/dist/nfpm" github.com/goreleaser/nfpm/v2/cmd/nfpm
VERSION=$version ARCH=$arch dist/nfpm package --config packaging/nfpm.yaml --packager deb --target "$out"
echo "build-deb: wrote $out"
