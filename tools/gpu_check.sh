#!/usr/bin/env bash
# The GPU checks of xclip.cpp in one script.
#
#   tools/gpu_check.sh prepare   on a development machine that has the Debian packages
#                                (nlohmann-json3-dev, catch2, zlib1g-dev): copies their headers,
#                                Catch2's CMake scripts and libz.a into third_party_cache/ (ignored
#                                by git), so that they can travel with the working tree.
#   tools/gpu_check.sh [run]     on a GPU machine with CMake and nvcc, FFmpeg and the packages above
#                                not needed: configures with CUDA for sm_90 and without the data
#                                library, builds the CUDA tests and xclip-cli, runs `ctest -L cuda`
#                                and `xclip-cli verify --device cuda` on every committed bundle.
#
# Logs go to $OUT when it is set (else build-gpu/logs): configure.log, build.log, ctest.log,
# verify_cuda.log, nvidia-smi.log, summary.log. Exit status 0 only when every CUDA test ran (none
# skipped) and passed and every bundle passed on the GPU.
# Environment: BUILD_DIR (default build-gpu), JOBS (default: all cores), CUDA_ARCH (default 90),
# XCLIP_GPU_CHECK_ALL=1 to build every target instead of just test_cuda and xclip-cli.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/third_party_cache"

first_existing() {
  for p in "$@"; do
    if [ -e "$p" ]; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

prepare() {
  set -e
  local catch_cmake libz
  catch_cmake=$(first_existing /usr/lib/cmake/Catch2 /usr/share/cmake/Catch2 /usr/lib/x86_64-linux-gnu/cmake/Catch2) ||
    { echo "prepare: Catch2's CMake scripts not found (apt install catch2)" >&2; exit 1; }
  libz=$(first_existing /usr/lib/x86_64-linux-gnu/libz.a /usr/lib/libz.a) ||
    { echo "prepare: libz.a not found (apt install zlib1g-dev)" >&2; exit 1; }
  [ -f /usr/include/nlohmann/json.hpp ] || { echo "prepare: nlohmann/json.hpp not found" >&2; exit 1; }
  [ -f /usr/include/catch2/catch.hpp ] || { echo "prepare: catch2/catch.hpp (Catch2 v2) not found" >&2; exit 1; }
  rm -rf "$cache"
  mkdir -p "$cache/include/catch2" "$cache/cmake" "$cache/zlib/include" "$cache/zlib/lib"
  cp -r /usr/include/nlohmann "$cache/include/"
  cp /usr/include/catch2/catch.hpp "$cache/include/catch2/"
  cp "$catch_cmake/Catch.cmake" "$catch_cmake/CatchAddTests.cmake" "$cache/cmake/"
  cp /usr/include/zlib.h /usr/include/zconf.h "$cache/zlib/include/"
  cp "$libz" "$cache/zlib/lib/"
  du -sh "$cache"
}

run() {
  local build="${BUILD_DIR:-$root/build-gpu}"
  local logs="${OUT:-$build/logs}"
  local jobs="${JOBS:-$(nproc)}"
  local status=0
  mkdir -p "$logs"
  summary() { echo "$*" | tee -a "$logs/summary.log"; }
  : >"$logs/summary.log"

  nvidia-smi >"$logs/nvidia-smi.log" 2>&1 || summary "warning: nvidia-smi failed (see nvidia-smi.log)"

  local nvcc
  nvcc=$(command -v nvcc || first_existing /usr/local/cuda/bin/nvcc) || { summary "FAIL: no nvcc"; return 1; }
  if ! cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$nvcc" \
      -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" -DXCLIP_CUDA=ON -DXCLIP_DATA=OFF -DXCLIP_BENCH=OFF \
      >"$logs/configure.log" 2>&1; then
    summary "FAIL: configure (see configure.log)"
    return 1
  fi
  local targets=(--target test_cuda xclip-cli)
  [ "${XCLIP_GPU_CHECK_ALL:-0}" = 1 ] && targets=()
  local t0=$SECONDS
  if ! cmake --build "$build" -j "$jobs" "${targets[@]}" >"$logs/build.log" 2>&1; then
    summary "FAIL: build (see build.log)"
    return 1
  fi
  summary "build: $((SECONDS - t0)) s"

  t0=$SECONDS
  (cd "$build" && ctest -L cuda -j 4 --output-on-failure --timeout 900) >"$logs/ctest.log" 2>&1 || status=1
  summary "ctest -L cuda: $((SECONDS - t0)) s, $(grep -E 'tests passed|tests failed' "$logs/ctest.log" | tail -1)"
  # A CUDA test that skipped saw no device: that is a failed check here, not a pass.
  local skipped
  skipped=$(grep -c 'Skipped' "$logs/ctest.log" || true)
  if [ "$skipped" != 0 ]; then
    summary "FAIL: $skipped CUDA test(s) skipped (no device visible?)"
    status=1
  fi
  [ $status = 0 ] || summary "FAIL: ctest (see ctest.log)"

  t0=$SECONDS
  local bundles=("$root"/tests/fixtures/bundles/*/)
  if "$build/xclip-cli" verify "${bundles[@]}" --device cuda --quiet >"$logs/verify_cuda.log" 2>&1; then
    summary "verify --device cuda: PASS on ${#bundles[@]} bundles, $((SECONDS - t0)) s"
  else
    summary "FAIL: verify --device cuda (see verify_cuda.log)"
    status=1
  fi
  [ $status = 0 ] && summary "ALL GPU CHECKS PASSED" || summary "GPU CHECKS FAILED"
  return $status
}

case "${1:-run}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: $0 [prepare|run]" >&2; exit 2 ;;
esac
