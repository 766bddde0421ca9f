# objstore: build, install, demo and test entry points.
#
#   make            build the library (release) and the uninstalled pkg-config file
#   make demo       build and run the multi-process demo on a default store
#   make test       run every test in every language
#   make test-go    vet and test the Go binding (cgocheck, -race)
#   make examples-go  run the Go examples against an installed copy of the library
#   make install    install to $(PREFIX) (default /usr/local; DESTDIR honoured)

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
CARGO   ?= cargo
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
RELEASE := target/release
PCDIR   := $(RELEASE)/pkgconfig
GO      ?= go
# The Go binding finds the library through pkg-config and links it
# dynamically. test-go uses the in-tree build (objstore.pc in $(PCDIR)
# points into this tree); examples-go uses a copy installed under
# GO_PREFIX, as a user's project would. LD_LIBRARY_PATH lets the programs
# load libobjstore.so.$(MAJOR) at run time.
GO_TREE_ENV := PKG_CONFIG_PATH=$(CURDIR)/$(PCDIR) LD_LIBRARY_PATH=$(CURDIR)/$(RELEASE)
GO_PREFIX   := $(CURDIR)/target/go-prefix
GO_INST_ENV := PKG_CONFIG_PATH=$(GO_PREFIX)/lib/pkgconfig LD_LIBRARY_PATH=$(GO_PREFIX)/lib

.PHONY: all build demo test test-rust test-c test-go examples-go install uninstall clean

all: build

build:
	$(CARGO) build --release --lib
	@ln -sf libobjstore.so $(RELEASE)/libobjstore.so.$(MAJOR)
	@mkdir -p $(PCDIR)
	@sed -e 's|@PREFIX@|$(CURDIR)|' -e 's|@LIBDIR@|$(CURDIR)/$(RELEASE)|' \
	     -e 's|@INCLUDEDIR@|$(CURDIR)/include|' -e 's|@VERSION@|$(VERSION)|' \
	     pkg/objstore.pc.in > $(PCDIR)/objstore-uninstalled.pc
	@cp $(PCDIR)/objstore-uninstalled.pc $(PCDIR)/objstore.pc

demo: build
	$(CARGO) run --release --example pipeline

test: test-rust test-c test-go examples-go

test-rust:
	$(CARGO) test

test-c: build
	bash tests/c/run.sh

# GODEBUG=cgocheck=1 checks every pointer passed to C; the cgocheck2
# experiment also checks every pointer store into C memory (it rebuilds the
# standard library once, then is cached).
test-go: build
	cd bindings/go && $(GO_TREE_ENV) $(GO) vet ./...
	cd bindings/go && $(GO_TREE_ENV) GODEBUG=cgocheck=1 $(GO) test -count=1 ./...
	cd bindings/go && $(GO_TREE_ENV) $(GO) test -race -count=1 ./...
	cd bindings/go && $(GO_TREE_ENV) GOEXPERIMENT=cgocheck2 $(GO) test -count=1 ./...

# Each example checks its own result and exits non-zero on any mismatch.
examples-go: build
	$(MAKE) --no-print-directory install PREFIX=$(GO_PREFIX) LIBDIR=$(GO_PREFIX)/lib INCDIR=$(GO_PREFIX)/include DESTDIR= >/dev/null
	cd examples/go && $(GO_INST_ENV) $(GO) vet ./...
	cd examples/go && $(GO_INST_ENV) $(GO) run -buildvcs=false .
	cd examples/go && $(GO_INST_ENV) $(GO) run -buildvcs=false ./crashdemo

install: build
	install -d $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(LIBDIR)/cmake/objstore
	install -m 644 include/objstore.h $(DESTDIR)$(INCDIR)/objstore.h
	install -m 755 $(RELEASE)/libobjstore.so $(DESTDIR)$(LIBDIR)/libobjstore.so.$(VERSION)
	ln -sf libobjstore.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libobjstore.so.$(MAJOR)
	ln -sf libobjstore.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libobjstore.so
	install -m 644 $(RELEASE)/libobjstore.a $(DESTDIR)$(LIBDIR)/libobjstore.a
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' pkg/objstore.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/objstore.pc
	sed -e 's|@VERSION@|$(VERSION)|' -e 's|@MAJOR@|$(MAJOR)|' pkg/objstoreConfig.cmake.in \
	    > $(DESTDIR)$(LIBDIR)/cmake/objstore/objstoreConfig.cmake
	sed -e 's|@VERSION@|$(VERSION)|' -e 's|@MAJOR@|$(MAJOR)|' pkg/objstoreConfigVersion.cmake.in \
	    > $(DESTDIR)$(LIBDIR)/cmake/objstore/objstoreConfigVersion.cmake

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/objstore.h $(DESTDIR)$(LIBDIR)/libobjstore.so* $(DESTDIR)$(LIBDIR)/libobjstore.a
	rm -f $(DESTDIR)$(LIBDIR)/pkgconfig/objstore.pc
	rm -rf $(DESTDIR)$(LIBDIR)/cmake/objstore

clean:
	$(CARGO) clean
