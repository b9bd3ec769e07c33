# The README's two commands:
#   make test   install missing Debian packages, configure, build, run ctest
#   make demo   build and run the demo
# Other targets: make build, make test-emu, make test-sanitize, make fuzz, make bench, make install,
# make clean. BUILD_DIR, JOBS, PREFIX, SANITIZE_DIR and FUZZ_SECONDS can be overridden.
BUILD_DIR ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
PREFIX ?= /usr/local

SANITIZE_DIR ?= build-sanitize
FUZZ_SECONDS ?= 60
# GCC: the kernels use GCC target attributes that clang 14 rejects, so the plain fuzz driver runs
# (libFuzzer binaries are built too where the project compiles with clang: SANITIZE_CXX=clang++).
SANITIZE_CXX ?= g++
SANITIZE_CC ?= gcc

.PHONY: all deps configure build test test-emu test-sanitize fuzz demo bench install clean

all: build

deps:
	@tools/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) > $(BUILD_DIR).configure.log 2>&1 || \
	  (cat $(BUILD_DIR).configure.log; exit 1)
	@grep -E '^-- xclip:' $(BUILD_DIR).configure.log || true

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# Only the cuda tests on the CPU emulator of CUDA (tests/cuda_emu; label emu, part of make test
# where the toolkit is): every kernel runs against its CPU twin without a GPU. Not a GPU run:
# tests/cuda_emu/cuda_emu.hpp says what it checks and what it cannot.
test-emu: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L emu

# The CPU tests and the fuzz regression corpus under AddressSanitizer + UBSan, in a build folder of
# their own (no CUDA, no benchmarks). Run it after changing a reader or anything that indexes
# memory; the README says how long it takes.
configure-sanitize: deps
	@cmake -S . -B $(SANITIZE_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXCLIP_SANITIZE=ON -DXCLIP_FUZZ=ON \
	  -DXCLIP_CUDA=OFF -DXCLIP_BENCH=OFF -DCMAKE_CXX_COMPILER=$(SANITIZE_CXX) -DCMAKE_C_COMPILER=$(SANITIZE_CC) \
	  > $(SANITIZE_DIR).configure.log 2>&1 || (cat $(SANITIZE_DIR).configure.log; exit 1)

test-sanitize: configure-sanitize
	@cmake --build $(SANITIZE_DIR) -j $(JOBS)
	@cd $(SANITIZE_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) -L cpu

# Each reader's fuzzer for FUZZ_SECONDS (libFuzzer where the compiler has it, else the plain driver
# of tests/fuzz/harness/driver.cpp), from its seed corpus and its regression corpus. A crash leaves
# the input in $(SANITIZE_DIR)/fuzz-out/<reader>/: minimise it, add it to
# tests/fuzz/regressions/<reader>/ (make test replays that folder) and fix the reader.
fuzz: configure-sanitize
	@cmake --build $(SANITIZE_DIR) -j $(JOBS)
	@tools/fuzz.sh $(SANITIZE_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

FUZZ_TARGETS ?= npy safetensors torch config annotations video

# The demo needs only the CLI: building the tests and benchmarks too would double its time.
demo: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target xclip-cli
	@tools/demo.sh $(BUILD_DIR)

# make install PREFIX=DIR: DIR/bin/xclip-cli and the data folder (CLIP vocabulary and its licence,
# the model settings of data/configs/) as DIR/share/xclip/, where the installed binary finds its
# vocabulary with no XCLIP_* variable. CMake's install with CMAKE_INSTALL_PREFIX = PREFIX; only
# the CLI is built for it.
install: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target xclip-cli
	@cmake --install $(BUILD_DIR) --prefix "$(abspath $(PREFIX))"

bench: build
	@$(BUILD_DIR)/bench_gemm

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log
