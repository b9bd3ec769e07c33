# The README's two commands:
#   make test   install missing Debian packages, configure, build, run ctest
#   make demo   build and run the demo
# Other targets: make build, make test-emu, make bench, make install, make clean. BUILD_DIR, JOBS
# and PREFIX can be overridden.
BUILD_DIR ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
PREFIX ?= /usr/local

.PHONY: all deps configure build test test-emu demo bench install clean

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
