#!/usr/bin/env bash
# `make demo`: what the project can show today. Prints the CLI's commands and runs the CPU GEMM
# benchmark (our GEMM against PyTorch's on the same shapes, when Debian's python3-torch is present).
set -euo pipefail
BUILD_DIR="${1:-build}"
echo "== xclip-cli --help"
"$BUILD_DIR/xclip-cli" --help
echo
echo "== CPU GEMM benchmark"
"$BUILD_DIR/bench_gemm"
