#!/usr/bin/env bash
# A search and a training on one machine's cores as one rank of T threads
# against R ranks of T/R threads each (mpirun).  Search: children per second
# and, on R ranks, the share of the time rank 0 spent exchanging
# (log-likelihoods, gradients, statistics); the small space (Fashion-MNIST)
# with K = 8, two epochs over 4096 images.  Training: DARTS_V2 in the small
# space's network at 5 cells, C 8, batch 64, two epochs of 4096 images
# (seconds an epoch, the test set's evaluation by rank 0 included).  Both on
# 2 cores as 1 x 2 and 2 x 1 by default; the second epoch's figures (the
# first compiles kernels).
#
#   bench/mpi.sh [--ranks R] [--threads T] [--samples K] [--parsec-run PATH] [-- SEARCH ARGS]
set -euo pipefail

ranks=2 threads=2 samples=8 run=""
while [ $# -gt 0 ]; do
  case "$1" in
  --ranks) ranks=$2; shift 2 ;;
  --threads) threads=$2; shift 2 ;;
  --samples) samples=$2; shift 2 ;;
  --parsec-run) run=$2; shift 2 ;;
  --) shift; break ;;
  *) echo "bench/mpi.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
run=${run:-$root/build/parsec-run}
[ -x "$run" ] || { echo "bench/mpi.sh: no $run (build first, or give --parsec-run)" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "bench/mpi.sh: no mpirun (apt-get install openmpi-bin)" >&2; exit 2; }
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_plm_rsh_agent=${OMPI_MCA_plm_rsh_agent:-false} # one machine: no ssh needed
args=(small --samples "$samples" --epochs 2 --limit 4096 --seed 1 --no-progress -q "$@")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# FIELD of the last epoch's line in DIR/log.jsonl
field() { tail -1 "$1/log.jsonl" | grep -o "\"$2\":[0-9.e+-]*" | cut -d: -f2; }

"$run" search "${args[@]}" --threads "$threads" --out "$tmp/one"
per=$((threads / ranks > 0 ? threads / ranks : 1))
mpirun -np "$ranks" --oversubscribe "$run" search "${args[@]}" --threads "$per" --out "$tmp/many"

c1=$(field "$tmp/one" children_per_s) cr=$(field "$tmp/many" children_per_s)
sec=$(field "$tmp/many" seconds) comm=$(field "$tmp/many" rank0_communication_seconds)
printf '%-28s %14s %16s\n' "search, K = $samples" "children/s" "communication"
printf '%-28s %14.1f %16s\n' "1 rank x $threads threads" "$c1" "-"
printf '%-28s %14.1f %15.1f%%\n' "$ranks ranks x $per thread(s)" "$cr" "$(awk -v c="$comm" -v s="$sec" 'BEGIN { print 100 * c / s }')"
awk -v a="$c1" -v b="$cr" 'BEGIN { printf "ratio (ranks / threads): %.2f\n", b / a }'

targs=(small --genotype DARTS_V2 --epochs 2 --limit 4096 --layers 5 --channels 8 --batch 64 --seed 1 --no-progress -q)
"$run" train "${targs[@]}" --threads "$threads" --out "$tmp/tone"
mpirun -np "$ranks" --oversubscribe "$run" train "${targs[@]}" --threads "$per" --out "$tmp/tmany"
s1=$(field "$tmp/tone" seconds) sr=$(field "$tmp/tmany" seconds)
printf '\n%-28s %14s\n' "train, batch 64" "s / epoch"
printf '%-28s %14.1f\n' "1 rank x $threads threads" "$s1"
printf '%-28s %14.1f\n' "$ranks ranks x $per thread(s)" "$sr"
awk -v a="$s1" -v b="$sr" 'BEGIN { printf "speed-up (ranks / threads): %.2f\n", a / b }'
