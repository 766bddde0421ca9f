# objstore: build, install, demo and test entry points.
#
#   make            build the library (release) and the uninstalled pkg-config file
#   make demo       build and run the multi-process demo on a default store
#   make test       run every test in every language
#   make test-python  build the Python package into a fresh venv (build/py-venv), run pytest and the example
#   make install    install to $(PREFIX) (default /usr/local; DESTDIR honoured)

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
CARGO   ?= cargo
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
RELEASE := target/release
PCDIR   := $(RELEASE)/pkgconfig
PYTHON  ?= python3
PYVENV  := build/py-venv

.PHONY: all build demo test test-rust test-c test-python install uninstall clean

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

test: test-rust test-c test-python

test-rust:
	$(CARGO) test

test-c: build
	bash tests/c/run.sh

# A throwaway virtualenv, so the run depends on nothing installed by hand:
# the package is built from this tree (cargo runs inside pip), as a user would.
test-python:
	rm -rf $(PYVENV)
	$(PYTHON) -m venv $(PYVENV)
	$(PYVENV)/bin/python -m pip install -q --disable-pip-version-check numpy pytest ./bindings/python
	cd bindings/python && ../../$(PYVENV)/bin/python -m pytest -q tests
	$(PYVENV)/bin/python examples/python/tensors.py --start-method spawn
	$(PYVENV)/bin/python examples/python/tensors.py --start-method fork

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
