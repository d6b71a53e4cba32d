# recidivist: build, the generated docs and the Debian package.
#
#   make            build ./recidivist
#   make man        regenerate docs/man and docs/completion from the command
#                   definitions and the key table (CI checks they match)
#   make deb        dist/recidivist_<version>_<arch>.deb for amd64 and arm64
#   make test-deb   build the amd64 package, lint it, install, check and purge
#                   it on this machine (root; what CI runs)
#
# The version comes from git: a tag v1.2.3 gives 1.2.3, a later commit
# 1.2.3+git20261202.e003118, and a tree without tags 0.0~git20261202.e003118.

GO       ?= go
ARCHES   ?= amd64 arm64
COMMIT   := $(shell git rev-parse HEAD 2>/dev/null)
VERSION  ?= $(shell packaging/version.sh)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all recidivist man deb test-deb clean

all: recidivist

recidivist:
	$(GO) build -buildvcs=true -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/recidivist

man:
	cd cmd/recidivist && $(GO) test -run '^TestDocs_committed_files_match_a_fresh_generation$$' -update .

deb: $(foreach a,$(ARCHES),dist/recidivist_$(VERSION)_$(a).deb)

dist/recidivist_$(VERSION)_%.deb: FORCE
	packaging/build-deb.sh '$(VERSION)' '$*' '$(LDFLAGS)'

test-deb:
	packaging/test-deb.sh

clean:
	rm -rf dist recidivist

# build-deb.sh stages each architecture in the same directory.
.NOTPARALLEL:

.PHONY: FORCE
FORCE:
