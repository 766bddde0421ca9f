# objstore: build, install, demo and test entry points.
#
#   make                build the library and the objstore command (release), and the uninstalled pkg-config file
#   make demo           build and run the C tensor walk-through (examples/c)
#   make test           run every test in every language
#   make test-cpp       build the C++ wrapper's tests against a scratch install, run them with ctest
#   make examples       build the C and C++ walk-throughs against a scratch install
#   make test-examples  run them (and across languages) and check their results, and example-two-machines
#   make test-go        vet and test the Go binding (cgocheck, -race)
#   make examples-go    run the Go examples against an installed copy of the library
#   make test-python    build the Python wheel (maturin), check it (auditwheel), install it into a fresh venv, run pytest, mypy and the example
#   make examples-pipeline  build the cross-language pipeline (C producer, Go workers, C++ consumer)
#                       against a scratch install and run it in several start orders and with a crash
#   make example-two-machines  the tensor walk-through on two "machines" (mount namespaces, each with
#                       its own /dev/shm) sharing a bucket on Garage on loopback (examples/two-machines)
#   make lint           rustfmt, clippy -D warnings, the module layering check, the header check (part of make test)
#   make test-miri      Miri over the shared structures and the object protocol (nightly; part of make test)
#   make test-sanitizers  the Rust tests under AddressSanitizer and ThreadSanitizer (nightly; .ci/sanitizers.sh)
#   make fuzz           every fuzzer for a minute or so (.ci/fuzz.sh); make test-fuzz: briefly, in make test
#   make test-instructions  instruction counts of the hot paths under callgrind, against ceilings (.ci/instructions.sh)
#   make test-remote    the remote tier (feature `remote`) over memory://, file:// and Garage on loopback,
#                       with the 1 GiB test (part of make test; builds Garage first if it is missing)
#   make test-soak      the torture soak for 60 s and the references soak for 30 s (part of make test);
#                       make soak SOAK_SECONDS=600 runs both longer (make soak-refs: the references soak alone, 30 s)
#   make bench          the benchmark suite (benches/suite; ~15 s on 2 cores): the tables of BENCHMARKS.md
#   make bench-smoke    the suite's smoke run: every figure, briefly (seconds; part of make test)
#   make bench-ray      objstore vs Ray's object store from Python (makes build/bench-venv, installs Ray with pip)
#   make bench-remote-ray  the remote tier's publish and fetch (Garage on loopback) beside Ray's transfer between
#                       two nodes on this machine (ray.cluster_utils.Cluster), 1 MiB to 1 GiB (benches/remote_vs_ray.py;
#                       build/bench-venv with Ray, as bench-ray)
#   make install        install to $(PREFIX) (default /usr/local; DESTDIR honoured; LIBDIR=lib64 and the
#                       like, relative to PREFIX or absolute, as CMake's CMAKE_INSTALL_LIBDIR)
#   make test-packaging find_package and pkg-config against installs with LIBDIR=lib64 and a multiarch LIBDIR
#   make header         regenerate include/objstore.h (tools/gen-header: cbindgen and the status table)

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
# A directory given relative (LIBDIR=lib64) is under PREFIX.
under_prefix = $(if $(filter /%,$(1)),$(1),$(PREFIX)/$(1))
BIN_DIR := $(call under_prefix,$(BINDIR))
LIB_DIR := $(call under_prefix,$(LIBDIR))
INC_DIR := $(call under_prefix,$(INCDIR))
# The CMake package finds the library beside itself and the headers by this
# path from its own directory, so an installed prefix can be moved whole.
CMAKE_TO_INC = $(shell realpath -m --relative-to=$(LIB_DIR)/cmake/objstore $(INC_DIR))
CARGO   ?= cargo
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
RELEASE := target/release
PCDIR   := $(RELEASE)/pkgconfig
# A scratch `make install` prefix, made afresh by `make stage`: the C++ tests
# and the examples build against it as a user's project would.
STAGE   := $(CURDIR)/target/stage
EXAMPLES_BUILD := $(CURDIR)/target/examples
CPP_TEST_BUILD := $(CURDIR)/target/cpp-build

GO      ?= go
# The Go binding finds the library through pkg-config and links it
# dynamically. test-go uses the in-tree build (objstore.pc in $(PCDIR)
# points into this tree); examples-go uses a copy installed under
# $(STAGE), as a user's project would. LD_LIBRARY_PATH lets the programs
# load libobjstore.so.$(MAJOR) at run time.
GO_TREE_ENV := PKG_CONFIG_PATH=$(CURDIR)/$(PCDIR) LD_LIBRARY_PATH=$(CURDIR)/$(RELEASE)
GO_INST_ENV := PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig LD_LIBRARY_PATH=$(STAGE)/lib

PYTHON  ?= python3
PYVENV  := build/py-venv

# Build trees that one stage of `make test` alone uses (the sanitizers',
# Miri's, loom's, the fuzzers', the wheel's). With PRUNE=1 — what .ci/run
# sets, on a fresh machine where the disk, not the time, is the limit — each
# stage removes its own once it has passed; by default they are kept, so
# the next run on a developer's machine is incremental.
prune = $(if $(filter 1,$(PRUNE)),rm -rf $(1),@:)

.PHONY: all build header lint demo demo-rust test test-rust test-soak soak soak-refs test-sanitizers test-miri test-c test-loom test-instructions test-cpp test-packaging stage examples examples-c examples-cpp \
        test-examples example-two-machines test-go examples-go test-python examples-pipeline bench bench-smoke bench-ray bench-remote-ray install uninstall clean

all: build

# The library and the command in one cargo run: built apart, the library's
# dependencies got other features each time, and it was compiled twice.
# The library and the command are built with the remote tier (feature
# `remote`; the crate's own default leaves it out).
build:
	$(CARGO) build --release -p objstore-shm -p objstore-shm-cli --features objstore-shm-cli/remote
	@ln -sf libobjstore.so $(RELEASE)/libobjstore.so.$(MAJOR)
	@mkdir -p $(PCDIR)
	@sed -e 's|@PREFIX@|$(CURDIR)|' -e 's|@LIBDIR@|$(CURDIR)/$(RELEASE)|' \
	     -e 's|@INCLUDEDIR@|$(CURDIR)/include|' -e 's|@VERSION@|$(VERSION)|' \
	     pkg/objstore.pc.in > $(PCDIR)/objstore-uninstalled.pc
	@cp $(PCDIR)/objstore-uninstalled.pc $(PCDIR)/objstore.pc

demo: examples-c
	$(EXAMPLES_BUILD)/c/tensor_walkthrough

demo-rust: build
	$(CARGO) run --release --example rust_workers

test: lint test-rust test-remote test-soak test-sanitizers test-miri test-fuzz test-c test-loom test-instructions test-cpp test-packaging test-examples test-go examples-go test-python examples-pipeline bench-smoke

test-rust:
	$(CARGO) test --workspace

# The torture soak (tests/soak.rs): worker processes doing random checked
# operations on a small spilling store, SIGKILLed and SIGSTOPped at random.
# The references soak (tests/soak_refs.rs): worker processes handing
# REFCOUNTED objects to each other by ticket through pipes, SIGKILLed and
# SIGSTOPped at random; at the end nothing is left.
SOAK_SECONDS ?= 600
test-soak:
	OBJSTORE_SOAK_SECONDS=60 $(CARGO) test --release --test soak -- --ignored --nocapture
	OBJSTORE_SOAK_SECONDS=30 $(CARGO) test --release --test soak_refs -- --ignored --nocapture

soak-refs:
	OBJSTORE_SOAK_SECONDS=30 $(CARGO) test --release --test soak_refs -- --ignored --nocapture

soak:
	OBJSTORE_SOAK_SECONDS=$(SOAK_SECONDS) $(CARGO) test --release --test soak -- --ignored --nocapture
	OBJSTORE_SOAK_SECONDS=$(SOAK_SECONDS) $(CARGO) test --release --test soak_refs -- --ignored --nocapture

test-sanitizers:
	bash .ci/sanitizers.sh
	$(call prune,target/asan target/tsan)

# Miri over the unit tests of the shared structures and the object protocol.
test-miri:
	bash .ci/miri.sh
	$(call prune,target/miri)

# Formatting, clippy (warnings are errors), the module layering (no upward
# use, no cycle) and the committed header against the generator.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --features remote -- -D warnings
	python3 .ci/layers.py
	$(CARGO) run -q -p objstore-gen-header -- --check

test-c: build
	bash tests/c/run.sh

test-loom:
	bash .ci/loom.sh
	$(call prune,target/loom)

test-instructions:
	bash .ci/instructions.sh

stage: build
	rm -rf $(STAGE)
	$(MAKE) --no-print-directory install PREFIX=$(STAGE) DESTDIR= >/dev/null

test-cpp: stage
	cmake -S bindings/cpp -B $(CPP_TEST_BUILD) -DCMAKE_PREFIX_PATH=$(STAGE) >/dev/null
	cmake --build $(CPP_TEST_BUILD) -j2
	ctest --test-dir $(CPP_TEST_BUILD) --output-on-failure -j2

# Installs with other library directories (LIBDIR=lib64, a Debian-style
# multiarch directory outside PREFIX/lib), each found by a CMake project with
# find_package and by pkg-config (tests/packaging/run.sh).
test-packaging: build
	bash tests/packaging/run.sh

examples: examples-c examples-cpp

examples-c: stage
	PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig $(MAKE) --no-print-directory -C examples/c \
	    BUILD=$(EXAMPLES_BUILD)/c CFLAGS="-O2 -g -Werror"

examples-cpp: stage
	cmake -S examples/cpp -B $(EXAMPLES_BUILD)/cpp -DCMAKE_PREFIX_PATH=$(STAGE) -DCMAKE_CXX_FLAGS=-Werror >/dev/null
	cmake --build $(EXAMPLES_BUILD)/cpp -j2

# Then the walk-through on two "machines" (example-two-machines; a few
# seconds), which needs Garage: `garage` builds it unless it is cached.
test-examples: examples garage
	bash examples/run.sh $(EXAMPLES_BUILD)/c/tensor_walkthrough $(EXAMPLES_BUILD)/cpp/tensor_walkthrough
	bash examples/two-machines/run.sh $(RELEASE)

# The walk-through on two "machines": two mount namespaces, each with a tmpfs
# of its own on /dev/shm, sharing only a bucket on a Garage started on
# loopback; machine A's tensors reach machine B's workers, and their results
# A's consumer, through the remote tier. Needs root (or user namespaces) and
# Garage (`make garage`; without it the script says how to install it and
# fails). About 10 s; everything it starts goes when it ends, also on failure.
example-two-machines: build
	bash examples/two-machines/run.sh $(RELEASE)

# GODEBUG=cgocheck=1 checks every pointer passed to C; the cgocheck2
# experiment also checks every pointer store into C memory (it rebuilds the
# standard library once, then is cached).
test-go: build
	cd bindings/go && $(GO_TREE_ENV) $(GO) vet ./...
	cd bindings/go && $(GO_TREE_ENV) bash testdata/go-get.sh $(VERSION)
	cd bindings/go && $(GO_TREE_ENV) GODEBUG=cgocheck=1 $(GO) test -count=1 ./...
	cd bindings/go && $(GO_TREE_ENV) $(GO) test -race -count=1 ./...
	cd bindings/go && $(GO_TREE_ENV) GOEXPERIMENT=cgocheck2 $(GO) test -count=1 ./...

# Each example checks its own result and exits non-zero on any mismatch.
examples-go: stage
	cd examples/go && $(GO_INST_ENV) $(GO) vet ./...
	cd examples/go && $(GO_INST_ENV) $(GO) run -buildvcs=false .
	cd examples/go && $(GO_INST_ENV) $(GO) run -buildvcs=false ./crashdemo

# The cross-language pipeline: its C, Go and C++ programs built against the
# scratch install (pkg-config, go build, find_package; each with an rpath),
# then run.sh runs them in several start orders, with a SIGKILLed worker and
# with missing peers, and checks every exit status and result.
examples-pipeline: stage
	PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig $(MAKE) --no-print-directory -C examples/pipeline \
	    BUILD=$(EXAMPLES_BUILD)/pipeline CFLAGS="-O2 -g -Werror" CXXFLAGS=-Werror GO=$(GO)
	bash examples/pipeline/run.sh $(EXAMPLES_BUILD)/pipeline $(STAGE)/bin/objstore

# The Python package (bindings/python): maturin builds one abi3 manylinux
# wheel (cargo target dir build/python/target), auditwheel checks it, pip
# installs it into a fresh virtualenv (build/py-venv) with no Rust on PATH,
# then pytest, mypy and the example run there. The build tools and the test
# dependencies (numpy, pandas, pyarrow, torch, ...) are kept in venvs under
# build/python between runs: bindings/python/ci/test.sh.
test-python:
	PYTHON=$(PYTHON) bash bindings/python/ci/test.sh
	$(call prune,build/python/target build/python/deps-venv build/python/tools-venv)

# Benchmarks (BENCHMARKS.md). The smoke run exercises every figure of the
# suite in seconds and checks only that everything works: no timing is
# asserted anywhere, so it can run in CI.
bench:
	$(CARGO) bench --bench suite

bench-smoke:
	$(CARGO) bench --bench suite -- --smoke

bench-ray:
	$(PYTHON) benches/vs_ray.py

# benches/remote.rs (make bench-remote) and Ray's cross-node transfer, in one
# run; REMOTE_RAY_ARGS=--smoke for a short one, --no-ray for objstore alone.
bench-remote-ray: garage
	$(PYTHON) benches/remote_vs_ray.py $(REMOTE_RAY_ARGS)

header:
	$(CARGO) run -q -p objstore-gen-header

install: build
	install -d $(DESTDIR)$(BIN_DIR) $(DESTDIR)$(INC_DIR) $(DESTDIR)$(LIB_DIR)/pkgconfig $(DESTDIR)$(LIB_DIR)/cmake/objstore
	install -m 755 $(RELEASE)/objstore $(DESTDIR)$(BIN_DIR)/objstore
	install -m 644 include/objstore.h $(DESTDIR)$(INC_DIR)/objstore.h
	install -m 644 bindings/cpp/include/objstore.hpp $(DESTDIR)$(INC_DIR)/objstore.hpp
	install -m 755 $(RELEASE)/libobjstore.so $(DESTDIR)$(LIB_DIR)/libobjstore.so.$(VERSION)
	ln -sf libobjstore.so.$(VERSION) $(DESTDIR)$(LIB_DIR)/libobjstore.so.$(MAJOR)
	ln -sf libobjstore.so.$(MAJOR) $(DESTDIR)$(LIB_DIR)/libobjstore.so
	install -m 644 $(RELEASE)/libobjstore.a $(DESTDIR)$(LIB_DIR)/libobjstore.a
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIB_DIR)|' -e 's|@INCLUDEDIR@|$(INC_DIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' pkg/objstore.pc.in > $(DESTDIR)$(LIB_DIR)/pkgconfig/objstore.pc
	sed -e 's|@VERSION@|$(VERSION)|' -e 's|@MAJOR@|$(MAJOR)|' -e 's|@CMAKE_TO_INC@|$(CMAKE_TO_INC)|' \
	    pkg/objstoreConfig.cmake.in > $(DESTDIR)$(LIB_DIR)/cmake/objstore/objstoreConfig.cmake
	sed -e 's|@VERSION@|$(VERSION)|' -e 's|@MAJOR@|$(MAJOR)|' pkg/objstoreConfigVersion.cmake.in \
	    > $(DESTDIR)$(LIB_DIR)/cmake/objstore/objstoreConfigVersion.cmake

uninstall:
	rm -f $(DESTDIR)$(BIN_DIR)/objstore
	rm -f $(DESTDIR)$(INC_DIR)/objstore.h $(DESTDIR)$(INC_DIR)/objstore.hpp $(DESTDIR)$(LIB_DIR)/libobjstore.so* $(DESTDIR)$(LIB_DIR)/libobjstore.a
	rm -f $(DESTDIR)$(LIB_DIR)/pkgconfig/objstore.pc
	rm -rf $(DESTDIR)$(LIB_DIR)/cmake/objstore

clean:
	$(CARGO) clean

# Fuzzing (.ci/fuzz.sh): the cargo-fuzz targets in fuzz/ (damaged store files,
# damaged spill files, sequences of C API calls; nightly toolchain, ASan),
# the Go binding's ID parsing (go test -fuzz) and the Python binding's value
# decoding (atheris), each for a bounded time (FUZZ_SECONDS, default 60 per
# cargo-fuzz target). Fails if any finds a crash.
.PHONY: fuzz test-fuzz
fuzz:
	bash .ci/fuzz.sh

# The fuzzers briefly, from a sample of their corpora (part of make test).
test-fuzz:
	FUZZ_SECONDS=40 FUZZ_GO_SECONDS=20 FUZZ_PY_SECONDS=20 FUZZ_REPLAY_LIMIT=40 bash .ci/fuzz.sh
	$(call prune,fuzz/target build/fuzz-venv)

# The remote tier's test server: Garage, built once into the tools cache
# (.ci/garage.sh), started on loopback by tests/common/garage.rs.
#   make garage         build it unless cached (about five minutes), print its path
#   make test-garage    the harness's own tests, failing (not skipping) without Garage
#   make bench-remote   publish and fetch against object_store's own put and get (BENCHMARKS.md)
#   make bench-garage   object_store's put/get throughput to a local Garage (the remote tier's baseline)
.PHONY: garage test-garage test-remote bench-remote bench-garage
garage:
	bash .ci/garage.sh install

test-garage: garage
	OBJSTORE_REQUIRE_GARAGE=1 $(CARGO) test --test garage_harness

# The remote tier's tests (tests/remote.rs over memory:// and file://,
# tests/remote_garage.rs against Garage, the command's publish and get),
# failing without Garage, then the
# 1 GiB test, which a plain `cargo test` leaves out, by name. Release: the
# gigabyte is checked in seconds, not minutes.
test-remote: garage
	OBJSTORE_REQUIRE_GARAGE=1 $(CARGO) test --release --features remote --test remote --test remote_garage
	$(CARGO) test --release -p objstore-shm-cli --features remote --test cli -- publish_on_one_store_and_get_on_another
	OBJSTORE_REQUIRE_GARAGE=1 $(CARGO) test --release --features remote --test remote_garage -- \
	    --ignored --exact with_remote::one_gib_put_and_publish_here_get_there

# The remote tier's publish and fetch against object_store's own put and get
# to the same Garage, and a second get (local) against the first (BENCHMARKS.md).
bench-remote: garage
	$(CARGO) bench --features remote --bench remote -- $(REMOTE_BENCH_ARGS)

bench-garage: garage
	$(CARGO) run --release --example garage_throughput -- $(GARAGE_BENCH_ARGS)
