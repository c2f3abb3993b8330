#!/usr/bin/env bash
# Is an ensemble drawn from p(alpha | pi) worth its members?  From one
# search run: an ensemble of M networks drawn from pi (--pick sample),
# against the mode alone and against M training seeds of the mode (a deep
# ensemble, the usual baseline), each member under the same training
# budget; R repetitions (draw seed r, training seeds 100 r + k).  Prints a
# table of test accuracy, NLL and ECE (mean and spread over repetitions).
#
#   bench/ensemble.sh --run SEARCH_RUN [--members M] [--reps R] [--out DIR]
#                     [--train-args "..."] [--parsec-run PATH]
#
# The defaults fit a two-core machine (the small space on Fashion-MNIST:
# 2 x (4 + 4) trainings of a few minutes).  A finished ensemble under --out
# is reused, an interrupted one resumed.
set -euo pipefail

members=4 reps=2 out="" run="" search=""
train_args="--epochs 6 --limit 8192 --layers 5 --channels 8 --batch 64"
while [ $# -gt 0 ]; do
  case "$1" in
  --run) search=$2; shift 2 ;;
  --members) members=$2; shift 2 ;;
  --reps) reps=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  --train-args) train_args=$2; shift 2 ;;
  --parsec-run) run=$2; shift 2 ;;
  -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "ensemble.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$search" ] || { echo "ensemble.sh: give the search run with --run" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
run=${run:-$here/build/parsec-run}
out=${out:-bench-ensemble-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
read -r -a targs <<<"$train_args"

# ensemble PICK REP: trains (or resumes, or reuses) one ensemble
ensemble() {
  local dir="$out/$1-$2" resume=()
  [ -s "$dir/log.jsonl" ] && grep -q '"model":"ensemble"' "$dir/log.jsonl" && return 0
  [ -e "$dir/config.json" ] && resume=(--resume)
  "$run" ensemble --run "$search" --members "$members" --pick "$1" --draw-seed "$2" --seed $((100 * $2)) \
    "${targs[@]}" --out "$dir" --no-progress "${resume[@]}" >"$dir.log" 2>&1
}

field() { grep "\"model\":\"$2\"" "$1/log.jsonl" | grep -o "\"$3\":[-0-9.e]*" | cut -d: -f2; }

echo "ensemble.sh: $members members from $search, $reps repetitions; training: $train_args; outputs in $out/"
for r in $(seq 0 $((reps - 1))); do
  ensemble sample "$r"
  ensemble mode "$r"
done

# a row per model kind: mean +- sd (over the repetitions) of one value per
# repetition; MODEL "members": the mean over an ensemble's members
value() { # DIR MODEL KEY
  if [ "$2" = members ]; then
    for k in $(seq 1 "$members"); do field "$1" "member-$k" "$3"; done | awk '{ s += $1 } END { print s / NR }'
  else field "$1" "$2" "$3"; fi
}
stat() { awk '{ x[NR] = $1; s += $1 } END { m = s / NR; for (i = 1; i <= NR; i++) q += (x[i] - m)^2
                                            printf "%.4f +- %.4f", m, (NR > 1 ? sqrt(q / (NR - 1)) : 0) }'; }
summary() { # KIND ENSEMBLE_PICK MODEL
  local k row="| $1 |"
  for k in accuracy nll ece; do
    row+=" $(for r in $(seq 0 $((reps - 1))); do value "$out/$2-$r" "$3" "$k"; done | stat) |"
  done
  echo "$row"
}
{
  echo "| model | test accuracy | NLL | ECE (15 bins) |"
  echo "| --- | --- | --- | --- |"
  summary "ensemble of $members drawn from pi" sample ensemble
  summary "one member drawn from pi (mean over the $members)" sample members
  summary "the mode alone" mode member-1
  summary "$members seeds of the mode (deep ensemble)" mode ensemble
  echo
  echo "(mean +- sd over $reps repetitions)"
} | tee "$out/table.md"
