#!/usr/bin/env bash
# Projects a search onto 1, 2, 4, 8 and 16 GPUs, one rank each, from the
# compute of one child and the bytes a step exchanges.  A step on R ranks
# takes ceil(K/R) children's compute on its slowest rank, then its
# exchanges: the gradient all-reduce (NCCL, ring: 2(R-1)/R of the parameter
# bytes through each link), the BN statistics' all-gather (MPI through host
# memory: each rank receives (R-1) x 2 x 4 bytes per statistic) and a few
# small ones (log-likelihoods, touched tensors, losses, the stop flag),
# each costing the link's latency.  It prints the table README.md shows.
#
#   bench/project_ranks.sh [--child-ms MS] [--samples K] [--steps N] [--epochs E]
#                          [--params P] [--stats S] [--link NAME:GBPS:LATENCY_US]...
#
# Defaults: the paper's CIFAR-10 search (K 16, 100 epochs of 391 steps:
# 25,000 training images at batch 64) and the DARTS space's parent network
# (1,930,624 parameters, 74,592 BN statistics, as `parsecgen darts` and
# nw_search_layout count them).  --child-ms defaults to 86.3 ms, the
# paper's own figure (15 hours on one V100 for 100 x 391 x 16 children:
# forward on a search batch, forward and backward on a training batch), not
# a parsec measurement: tests/gpu/check.sh measures parsec's child step on
# a GPU, to pass here instead.  Links: NVLink within a machine (NCCL bus
# bandwidth 300 GB/s, as nccl-tests report on 8 x H100 with NVSwitch,
# 10 us a collective) and InfiniBand HDR between machines (200 Gb/s =
# 25 GB/s, 20 us).
set -euo pipefail

child_ms=86.3 samples=16 steps=391 epochs=100 params=1930624 stats=74592
links=()
while [ $# -gt 0 ]; do
  case "$1" in
  --child-ms) child_ms=$2; shift 2 ;;
  --samples) samples=$2; shift 2 ;;
  --steps) steps=$2; shift 2 ;;
  --epochs) epochs=$2; shift 2 ;;
  --params) params=$2; shift 2 ;;
  --stats) stats=$2; shift 2 ;;
  --link) links+=("$2"); shift 2 ;;
  *) echo "bench/project_ranks.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ ${#links[@]} -gt 0 ] || links=("NVLink:300:10" "InfiniBand HDR:25:20")

echo "K $samples, $epochs epochs of $steps steps; one child ${child_ms} ms; gradients $(awk -v p="$params" 'BEGIN { printf "%.2f", p * 4 / 1e6 }') MB a step"
echo
printf '| GPUs | children per GPU |'
for l in "${links[@]}"; do printf ' %s: step ms (exchange %%) | hours |' "${l%%:*}"; done
echo
printf '|---:|---:|'
for _ in "${links[@]}"; do printf '%s' '---:|---:|'; done
echo
for R in 1 2 4 8 16; do
  [ "$R" -le "$samples" ] || continue
  per=$(( (samples + R - 1) / R ))
  printf '| %d | %d |' "$R" "$per"
  for l in "${links[@]}"; do
    IFS=: read -r _ gbps lat <<<"$l"
    awk -v R="$R" -v per="$per" -v c="$child_ms" -v P="$params" -v S="$stats" -v bw="$gbps" -v lat="$lat" \
      -v steps="$steps" -v epochs="$epochs" 'BEGIN {
        compute = per * c
        x = 0
        if (R > 1) {
          grads = 2 * (R - 1) / R * P * 4 / (bw * 1e9) * 1e3
          bn = (R - 1) * S * 2 * 4 / (bw * 1e9) * 1e3
          small = 6 * lat * 1e-3
          x = grads + bn + small
        }
        step = compute + x
        printf " %.1f (%.1f%%) | %.1f |", step, 100 * x / step, step * steps * epochs / 3.6e6
      }'
  done
  echo
done
