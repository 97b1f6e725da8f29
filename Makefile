# lambda-wasm: `make run` starts the demo, `make test` runs every test. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
TARGET    := wasm32-wasip1
RAW_WASM  := target/$(TARGET)/release/lambda_wasm.wasm
WASM      := target/lambda-wasm.wasm
# rustc's wasm32 defaults; Debian's wasm-opt (108) must be told to allow them.
WASM_FEATURES := --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
                 --enable-mutable-globals --enable-multivalue --enable-reference-types
# -Oz, but a function called from one place is inlined only when small (50 bytes; -Oz inlines
# them all): V8 compiles every function with TurboFan when Envoy loads the module, and what that
# compilation takes stays in Envoy's allocator, growing with the largest functions. Without the
# limit, 4 KB smaller and 12 MB more RSS (benches/wasm_memory.py). `--converge` saves 1 KB and
# costs 1 MB.
WASM_OPT  := wasm-opt -Oz --one-caller-inline-max-function-size 50 --strip-debug --strip-producers \
             $(WASM_FEATURES)
# The shipped build compiles Rust's std together with the filter (cargo's -Zbuild-std, from the
# toolchain's rust-src component) and makes a panic a bare Wasm trap (-Cpanic=immediate-abort): no
# panic-message formatting, no std::io and errno tables, no location strings. std, core and alloc
# are compiled at opt-level 3 as the prebuilt ones are (at the filter's "z" a GET's Wasm took 12%
# longer and V8 held 2-3 MB more). -Zbuild-std and immediate-abort are unstable options of cargo
# and rustc; RUSTC_BOOTSTRAP=1 allows them on the stable toolchain for this command only. The filter
# has no panic to lose a message from (unwrap, expect and panic are denied); should one ever trap,
# Envoy logs the trap and where. `make build STD=prebuilt` builds with the toolchain's prebuilt std
# instead, where a panic's message reaches Envoy's log.
# LLVM's inliner at "z" keeps even Vec::extend_from_slice or String::push as calls (threshold 5);
# 40 inlines such helpers: 1.5 KB more, a GET's Wasm ~10% faster under V8 (benches/module.mjs),
# the same RSS. All of it measured in BENCHMARKS.md against the prebuilt-std build. The benchmark's
# other modules (the unsigned floor, benches/steps, benches/ladder) are built the same way.
INLINE := -Cllvm-args=-inline-threshold=40
STD ?= rebuilt
ifeq ($(STD),prebuilt)
WASM_CARGO := RUSTFLAGS="$(INLINE)" cargo build --release --target $(TARGET)
else
WASM_CARGO := RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Cpanic=immediate-abort -Zunstable-options $(INLINE)" \
              cargo build --release --target $(TARGET) -Zbuild-std=std,panic_abort \
              $(foreach c,std core alloc,--config 'profile.release.package.$(c).opt-level=3')
endif
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

.PHONY: help deps build image run test unit integration lint bench clean

help:
	@echo "make run    build the filter and start the demo (Envoy + moto + a sample function)"
	@echo "make test   unit tests, the SigV4 suite and the integration tests in the real Envoy"
	@echo "make build  build $(WASM) (release, size-optimised)"
	@echo "make image  the OCI image Istio pulls, as an OCI layout in target/oci (no Docker needed)"
	@echo "make lint   cargo fmt --check and clippy on both targets"
	@echo "make bench  native hot-path benchmark, then W vs Envoy's native aws_lambda vs plain proxy -> BENCHMARKS.md"

# --- what a fresh machine lacks -------------------------------------------------------------
.rust-toolchain.stamp:
	rustup target add $(TARGET)
	rustup component add rust-src
	@touch $@

# Debian packages: wasm-opt (binaryen) for the build, skopeo to check the OCI image.
.debian.stamp:
	@command -v wasm-opt >/dev/null && command -v skopeo >/dev/null || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q binaryen skopeo; }
	@touch $@

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r tests/requirements.txt
	@touch $@

deps: .rust-toolchain.stamp .debian.stamp $(VENV)/.installed

# --- build ----------------------------------------------------------------------------------
build: .rust-toolchain.stamp .debian.stamp
	$(WASM_CARGO)
	$(WASM_OPT) $(RAW_WASM) -o $(WASM)
	@ls -l $(WASM) | awk '{print "built $(WASM): " $$5 " bytes"}'

image: build
	python3 envoy/istio/build_image.py $(WASM) target/oci $(IMAGE_TAG)
	@echo "push: skopeo copy --preserve-digests oci:target/oci:$(IMAGE_TAG) docker://REGISTRY/lambda-wasm:$(IMAGE_TAG)"

# --- run and test ---------------------------------------------------------------------------
run: deps build
	$(PY) envoy/demo.py

unit:
	cargo test

integration: deps build
	$(PY) -m pytest -q tests

test: deps build unit integration

# The benchmark's tools: wrk and taskset for the load, Node (its V8) for the steps in Wasm, perf
# for the split of Envoy's CPU time.
.wrk.stamp:
	@command -v wrk >/dev/null && command -v taskset >/dev/null && command -v node >/dev/null && \
	  command -v perf >/dev/null || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q wrk util-linux nodejs linux-perf; }
	@touch $@

# A benchmark, not a test: it records numbers and fails only if a configuration answers non-2xx.
FLOOR_WASM := target/lambda-wasm-unsigned-floor.wasm

STEPS_WASM := target/steps.wasm
STEPS_NATIVE := target/steps/release/lambda-wasm-steps
LADDER_WASM := target/ladder.wasm
LADDER_JOB_WASM := target/ladder-job.wasm
LADDER_CALLS_WASM := target/ladder-calls.wasm

bench: deps build .wrk.stamp
	$(WASM_CARGO) --features bench-unsigned-floor --target-dir target/floor
	$(WASM_OPT) target/floor/$(TARGET)/release/lambda_wasm.wasm -o $(FLOOR_WASM)
	cargo bench --bench hot_path
	cargo build --release --manifest-path benches/steps/Cargo.toml --target-dir target/steps
	$(WASM_CARGO) --manifest-path benches/steps/Cargo.toml --target-dir target/steps
	$(WASM_OPT) target/steps/$(TARGET)/release/lambda-wasm-steps.wasm -o $(STEPS_WASM)
	$(WASM_CARGO) --manifest-path benches/ladder/Cargo.toml --target-dir target/ladder
	$(WASM_OPT) target/ladder/$(TARGET)/release/lambda_wasm_ladder.wasm -o $(LADDER_WASM)
	$(WASM_CARGO) --manifest-path benches/ladder/Cargo.toml --target-dir target/ladder-job --features job-calls
	$(WASM_OPT) target/ladder-job/$(TARGET)/release/lambda_wasm_ladder.wasm -o $(LADDER_JOB_WASM)
	$(WASM_CARGO) --manifest-path benches/ladder/Cargo.toml --target-dir target/ladder-calls --features host-calls
	$(WASM_OPT) target/ladder-calls/$(TARGET)/release/lambda_wasm_ladder.wasm -o $(LADDER_CALLS_WASM)
	BENCH_FLOOR_WASM=$(FLOOR_WASM) BENCH_STEPS_WASM=$(STEPS_WASM) BENCH_STEPS_NATIVE=$(STEPS_NATIVE) \
	  BENCH_LADDER_WASM=$(LADDER_WASM) BENCH_LADDER_JOB_WASM=$(LADDER_JOB_WASM) \
	  BENCH_LADDER_CALLS_WASM=$(LADDER_CALLS_WASM) \
	  $(PY) benches/envoy_bench.py

lint: .rust-toolchain.stamp
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --target $(TARGET) -- -D warnings

clean:
	cargo clean
	rm -rf $(VENV) .rust-toolchain.stamp .debian.stamp .wrk.stamp
