#!/usr/bin/env bash
# tools/fuzz.sh BUILD_DIR SECONDS TARGET...: runs each reader's fuzzer (make fuzz) for SECONDS.
# libFuzzer binaries (fuzz_<t>) where the sanitize build has them, else the plain driver
# (fuzz_driver_<t>). Seeds: tests/fuzz/corpus/<t>/ and the regression corpus
# tests/fuzz/regressions/<t>/, copied to BUILD_DIR/fuzz-out/<t>/corpus so that the fuzzer's new
# inputs stay out of the source tree. Crashes and hangs are left in BUILD_DIR/fuzz-out/<t>/.
set -u
build=$1
seconds=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for t in "$@"; do
  out="$build/fuzz-out/$t"
  mkdir -p "$out/corpus"
  for seeds in "$root/tests/fuzz/corpus/$t" "$root/tests/fuzz/regressions/$t"; do
    [ -d "$seeds" ] && cp -r "$seeds/." "$out/corpus/"
  done
  export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
  if [ -x "$build/fuzz_$t" ]; then
    echo "== fuzz $t: libFuzzer, $seconds s"
    "$build/fuzz_$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$out/" "$out/corpus" 2>"$out/log.txt"
    rc=$?
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|ERROR|SUMMARY" "$out/log.txt" | head -5
  elif [ -x "$build/fuzz_driver_$t" ]; then
    echo "== fuzz $t: plain driver, $seconds s"
    "$build/fuzz_driver_$t" -max_total_time="$seconds" -timeout=20 -artifact_prefix="$out/" "$out/corpus" \
      2>"$out/log.txt"
    rc=$?
  else
    echo "== fuzz $t: not built here (the video and annotation fuzzers need FFmpeg)"
    continue
  fi
  if [ $rc -ne 0 ]; then
    echo "fuzz $t: FAILED (exit $rc): see $out/log.txt and the crash-* / timeout-* files beside it"
    status=1
  fi
done
exit $status
