#!/usr/bin/env bash
# Fuzzes every reader of outside bytes with clang's libFuzzer, under ASan and
# UBSan: each target in tests/fuzz/ for SECONDS (default 60), from a scratch
# copy of its corpus (tests/fuzz/corpus/TARGET).  Prints each target's
# executions, new inputs and findings; a crash's input is kept under
# OUT/TARGET/ (reproduce it with OUT/build/tests/fuzz_TARGET FILE).
#
#   bench/fuzz.sh [--seconds S] [--out DIR] [TARGET ...]
#
# Needs clang with libFuzzer (Debian: clang, libclang-rt-14-dev) and, for
# OpenMP under clang, libomp-dev.
set -euo pipefail
seconds=60 out=/tmp/parsec-fuzz targets=()
while [ $# -gt 0 ]; do
  case "$1" in
  --seconds) seconds=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) targets+=("$1"); shift ;;
  esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
[ ${#targets[@]} -gt 0 ] || targets=(space_json genotype idx cifar npy safetensors checkpoint cache_entry lua_space image)
mkdir -p "$out"
CC=clang cmake -S "$here" -B "$out/build" -DPARSEC_FUZZ=ON -DPARSEC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$out/build" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null
printf '%-12s %12s %10s %8s %s\n' target executions "exec/s" findings "corpus (seeds -> kept)"
status=0
for t in "${targets[@]}"; do
  corpus="$out/$t/corpus" art="$out/$t/"
  rm -rf "$corpus" && mkdir -p "$corpus" && cp "$here/tests/fuzz/corpus/$t/"* "$corpus/"
  [ "$t" != lua_space ] || cp "$here"/examples/*.lua "$here"/tests/spaces/*.lua "$corpus/"
  seeds=$(ls "$corpus" | wc -l)
  log="$out/$t/log.txt"
  # a tmpfs where there is one: cache_entry's files are written and fsynced every execution
  tmp=/tmp; [ -d /dev/shm ] && [ -w /dev/shm ] && tmp=/dev/shm
  TMPDIR=$tmp ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$out/build/tests/fuzz_$t" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="$art" -print_final_stats=1 >"$log" 2>&1 || true
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  found=$(ls "$art" | grep -c '^\(crash\|leak\|timeout\|oom\)-' || true)
  [ "$found" = 0 ] || status=1
  printf '%-12s %12s %10s %8s %s -> %s\n' "$t" "${runs:-0}" "$(( ${runs:-0} / seconds ))" "$found" "$seeds" \
    "$(ls "$corpus" | wc -l)"
done
exit $status
