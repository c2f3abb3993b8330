#!/bin/sh
# Times parsec (build/bench/step_bench) and PyTorch (torch_child_step.py)
# on the same network, alternating the two so that both see the same state
# of the machine, and prints the median of each measure and the ratio.
#
#   bench/vs_torch.sh [--pairs N] [--reps R] [--threads T] [--torch PATH] [CONFIG...]
#
# CONFIG: small and/or darts (default both).  --pairs: runs of each side per
# config (default 3); --reps: repetitions inside each run (default 10; the
# search step is timed over half as many); --torch: the PyTorch yardstick
# (default ../shared/bench/torch_child_step.py beside the repository),
# run with /usr/bin/python3 (Debian: apt-get install python3-torch).
# Run it from the repository root after a build in build/.
set -eu
pairs=3 reps=10 threads=2 configs=
torch="$(dirname "$0")/../../shared/bench/torch_child_step.py"
bench="${STEP_BENCH:-build/bench/step_bench}"
python="${PYTHON:-/usr/bin/python3}"
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) pairs=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --torch) torch=$2; shift 2 ;;
    small|darts) configs="$configs $1"; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "vs_torch.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$configs" ] || configs="small darts"
[ -x "$bench" ] || { echo "vs_torch.sh: $bench not found: build first (cmake --build build)" >&2; exit 1; }
[ -f "$torch" ] || { echo "vs_torch.sh: $torch not found: pass --torch PATH" >&2; exit 1; }
"$python" -c 'import torch' 2>/dev/null ||
  { echo "vs_torch.sh: $python cannot import torch (Debian: apt-get install python3-torch)" >&2; exit 1; }

# the three timings of a JSON line, space separated
fields() {
  sed -n 's/.*"child_train_step_s": \([0-9.e-]*\).*"child_forward_s": \([0-9.e-]*\).*"parsec_step_s": \([0-9.e-]*\).*/\1 \2 \3/p'
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%-6s %-22s %10s %10s %7s\n' config measure parsec_s torch_s ratio
for c in $configs; do
  i=0
  while [ $i -lt "$pairs" ]; do
    "$bench" "$c" --reps "$reps" --threads "$threads" 2>/dev/null | fields >>"$tmp/p.$c"
    "$python" "$torch" --config "$c" --reps "$reps" --threads "$threads" 2>/dev/null | fields >>"$tmp/t.$c"
    i=$((i + 1))
  done
  for col in 1 2 3; do
    p=$(cut -d' ' -f$col "$tmp/p.$c" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
    t=$(cut -d' ' -f$col "$tmp/t.$c" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
    name=$(echo "child_train_step child_forward search_step_K8" | cut -d' ' -f$col)
    awk -v c="$c" -v n="$name" -v p="$p" -v t="$t" 'BEGIN {printf "%-6s %-22s %10.4f %10.4f %7.3f\n", c, n, p, t, p / t}'
  done
done
