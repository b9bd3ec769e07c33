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
#   tools/gpu_check.sh bench     the run above, then the issue-6 benchmarks at their real sizes with
#                                the PyTorch side (bench/bench_train_step.cpp, bench/bench_eval.cpp;
#                                docs/BENCHMARKS.md "GPU (not yet measured)"). Same as run with
#                                XCLIP_GPU_BENCH=1.
#   tools/gpu_check.sh bench-only  the benchmarks alone (configure, build them, run them): a rerun.
#
# Logs go to $OUT when it is set (else build-gpu/logs): configure.log, build.log, ctest.log,
# verify_cuda.log, nvidia-smi.log, summary.log; with the benchmarks also torch.log and, per stage,
# bench_<stage>.log and bench_<stage>.json. Exit status 0 only when every CUDA test ran (none
# skipped) and passed and every bundle passed on the GPU (and, with the benchmarks, every stage ran
# to the end).
# Environment: BUILD_DIR (default build-gpu), JOBS (default: all cores), CUDA_ARCH (default 90),
# XCLIP_GPU_CHECK_ALL=1 to build every target instead of just test_cuda and xclip-cli (and the
# benchmarks), PYTHON (default python3: the one with torch + CUDA for the reference side),
# BENCH_BUDGET_S (default 330: the benchmark stages stop being started once it is spent).
#
# Expected time on an H100/H200 with 16 cores (not yet measured; estimates from the FLOP counts):
#   configure + build (test_cuda, xclip-cli, 2 benchmarks)  ~2-3 min
#   ctest -L cuda + verify --device cuda                      ~1-2 min
#   bench stages (each has a timeout; see bench_stages below) ~5 min in all
# so `bench` fits one 10-minute device call; a stage cut by its timeout leaves its log.
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

build="${BUILD_DIR:-$root/build-gpu}"
logs="${OUT:-$build/logs}"
summary() { echo "$*" | tee -a "$logs/summary.log"; }

# configure_and_build TESTS(0/1) BENCH(0/1): returns 1 (with a summary line) on failure.
configure_and_build() {
  local with_tests=$1 with_bench=$2
  local jobs="${JOBS:-$(nproc)}"
  nvidia-smi >"$logs/nvidia-smi.log" 2>&1 || summary "warning: nvidia-smi failed (see nvidia-smi.log)"
  local nvcc
  nvcc=$(command -v nvcc || first_existing /usr/local/cuda/bin/nvcc) || { summary "FAIL: no nvcc"; return 1; }
  local bench_flag=OFF
  [ "$with_bench" = 1 ] && bench_flag=ON
  if ! cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$nvcc" \
      -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" -DXCLIP_CUDA=ON -DXCLIP_CUDA_EMU=OFF -DXCLIP_DATA=OFF \
      -DXCLIP_BENCH=$bench_flag \
      >"$logs/configure.log" 2>&1; then
    summary "FAIL: configure (see configure.log)"
    return 1
  fi
  local targets=(--target)
  [ "$with_tests" = 1 ] && targets+=(test_cuda xclip-cli)
  [ "$with_bench" = 1 ] && targets+=(bench_train_step bench_eval)
  [ "${XCLIP_GPU_CHECK_ALL:-0}" = 1 ] && targets=()
  local t0=$SECONDS
  if ! cmake --build "$build" -j "$jobs" "${targets[@]}" >"$logs/build.log" 2>&1; then
    summary "FAIL: build (see build.log)"
    return 1
  fi
  summary "build: $((SECONDS - t0)) s"
}

tests() {
  local status=0 t0=$SECONDS
  # 180 s a test: each is seconds on a GPU; a hung kernel must not eat the whole device call.
  # XCLIP_CUDA_POISON: blocks reused from the cache are refilled with NaN, so an unwritten output fails.
  (cd "$build" && XCLIP_CUDA_POISON=1 ctest -L cuda -j 4 --output-on-failure --timeout 180) >"$logs/ctest.log" 2>&1 || status=1
  summary "ctest -L cuda: $((SECONDS - t0)) s, $(grep -E 'tests passed|tests failed' "$logs/ctest.log" | tail -1)"
  # A CUDA test that skipped saw no device: that is a failed check here, not a pass.
  local skipped
  skipped=$(grep -cE 'Test +#[0-9]+: .*\*\*\*Skipped' "$logs/ctest.log" || true)  # progress lines only (the summary lists them again)
  if [ "$skipped" != 0 ]; then
    summary "FAIL: $skipped CUDA test(s) skipped (no device visible?)"
    status=1
  fi
  [ $status = 0 ] || summary "FAIL: ctest (see ctest.log)"

  t0=$SECONDS
  local bundles=("$root"/tests/fixtures/bundles/*/)
  if timeout --kill-after=10 120 "$build/xclip-cli" verify "${bundles[@]}" --device cuda --quiet >"$logs/verify_cuda.log" 2>&1; then
    summary "verify --device cuda: PASS on ${#bundles[@]} bundles, $((SECONDS - t0)) s"
  else
    summary "FAIL: verify --device cuda (see verify_cuda.log)"
    status=1
  fi
  [ $status = 0 ] && summary "ALL GPU CHECKS PASSED" || summary "GPU CHECKS FAILED"
  return $status
}

# One benchmark stage: bench_stage NAME TIMEOUT_S COMMAND...; output in bench_NAME.log, the JSON in
# bench_NAME.json (the command gets --json). Skipped when BENCH_BUDGET_S is nearly spent; the
# timeout is cut to what is left of it.
bench_status=0
bench_stage() {
  local name=$1 limit=$2
  shift 2
  local left=$((bench_budget - (SECONDS - bench_start)))
  if [ "$left" -lt 30 ]; then
    summary "bench $name: SKIPPED (BENCH_BUDGET_S spent)"
    bench_status=1
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0=$SECONDS rc=0
  timeout --kill-after=10 "$limit" "$@" --json "$logs/bench_$name.json" >"$logs/bench_$name.log" 2>&1 || rc=$?
  if [ $rc = 0 ]; then
    summary "bench $name: $((SECONDS - t0)) s; $(grep -E '^\| (xclip|PyTorch)|ours / PyTorch|not run' "$logs/bench_$name.log" | tr '\n' ' ')"
  else
    summary "FAIL: bench $name (exit $rc$([ $rc = 124 ] && echo ", timeout ${limit} s"), see bench_$name.log)"
    bench_status=1
  fi
}

# The issue-6 benchmarks (expected times on an H100/H200, not yet measured: the ViT-B/32 step at
# batch 128 is ~40 TFLOP of matmuls, ~1-2 s in f32; each stage = 3 warm-up + 10 timed steps for
# ours, then the same for PyTorch in a child process, plus model set-up):
#   train_b128_f32     bench_train_step --batch 128 --profile, f32             ~1.5 min (timeout 150 s)
#                      (--profile: one more step with per-region times, "profile" in its JSON)
#   eval_1k            bench_eval 1000 × 1000, f32                             ~1 min   (timeout 90 s)
#   train_b128_bf16    bench_train_step --batch 128 --bf16 (vs torch.autocast)  ~1 min   (timeout 120 s)
#   train_max_f32      bench_train_step --find_max_batch (300, 256, ...), f32  ~2 min   (timeout 150 s)
#   train_b128_tf32    bench_train_step --batch 128 --tf32                     ~1 min   (timeout 120 s)
#   train_b300_chunked bench_train_step --batch 300 --chunk_clips auto (the published batch on one
#                      GPU, exact gradient), PyTorch one graph at the largest of 300..128 it fits
#                                                                              ~2 min   (timeout 180 s)
benches() {
  local py="${PYTHON:-python3}"
  bench_budget="${BENCH_BUDGET_S:-330}"
  bench_start=$SECONDS
  "$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())" \
    >"$logs/torch.log" 2>&1 || summary "warning: $py cannot import torch (see torch.log): benchmarks without the PyTorch side"
  local common=(--python "$py" --warmup 3 --steps 10 --budget 40)
  bench_stage train_b128_f32 150 "$build/bench_train_step" --device cuda --batch 128 --profile "${common[@]}"
  bench_stage eval_1k 90 "$build/bench_eval" --device cuda --python "$py" --warmup 3 --reps 10 --budget 20
  bench_stage train_b128_bf16 120 "$build/bench_train_step" --device cuda --batch 128 --bf16 "${common[@]}"
  bench_stage train_max_f32 150 "$build/bench_train_step" --device cuda --find_max_batch "${common[@]}"
  bench_stage train_b128_tf32 120 "$build/bench_train_step" --device cuda --batch 128 --tf32 "${common[@]}"
  bench_stage train_b300_chunked 180 "$build/bench_train_step" --device cuda --batch 300 --chunk_clips auto \
    --torch_batches 300,256,192,160,128 --python "$py" --warmup 2 --steps 5 --budget 40
  [ $bench_status = 0 ] && summary "ALL BENCHMARK STAGES RAN" || summary "SOME BENCHMARK STAGES FAILED"
  return $bench_status
}

run() {
  local with_bench=$1
  mkdir -p "$logs"
  : >"$logs/summary.log"
  configure_and_build 1 "$with_bench" || return 1
  local status=0
  tests || status=1
  if [ "$with_bench" = 1 ]; then
    benches || status=1
  fi
  return $status
}

bench_only() {
  mkdir -p "$logs"
  : >"$logs/summary.log"
  configure_and_build 0 1 || return 1
  benches
}

case "${1:-run}" in
  prepare) prepare ;;
  run) run "${XCLIP_GPU_BENCH:-0}" ;;
  bench) run 1 ;;
  bench-only) bench_only ;;
  *) echo "usage: $0 [prepare|run|bench|bench-only]" >&2; exit 2 ;;
esac
