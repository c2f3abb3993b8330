#!/usr/bin/env bash
# Does the search find good architectures?  S searches (one seed each) on a
# data set; each search's mode, M architectures drawn uniformly from the
# space and DARTS_V2 are then trained from scratch under one budget, T
# training seeds each; a table compares the modes' test accuracy with the
# random architectures' (mean and spread over training seeds, the mode's
# percentile among them) and gives each search's cost, its entropy and mode
# accuracy per epoch (the paper's figure 3) and how much its mode changed
# from epoch to epoch.
#
#   bench/quality.sh [--searches S] [--random M] [--train-seeds T] [--out DIR]
#                    [--search-args "..."] [--train-args "..."] [--parsec-run PATH]
#                    [--reuse DIR]
#
# The defaults fit a two-core machine (Fashion-MNIST, the small space, about
# an hour); a GPU run scales up, e.g.
#   bench/quality.sh --search-args "darts --data cifar10:DIR --epochs 50" \
#                    --train-args "darts --data cifar10:DIR --epochs 100 --layers 8 --channels 16"
# Everything goes under --out; a run that is already complete there is
# reused, so an interrupted benchmark continues where it stopped.  --reuse
# DIR takes the random architectures' and DARTS_V2's trainings from an
# earlier benchmark with the same training budget: comparing a search option
# then costs only its searches and its modes' trainings.
set -euo pipefail

searches=3 random=8 train_seeds=2 out="" run="" reuse=""
search_args="small"
train_args="small --epochs 6 --limit 8192 --layers 5 --channels 8 --batch 64"
while [ $# -gt 0 ]; do
  case "$1" in
  --searches) searches=$2; shift 2 ;;
  --random) random=$2; shift 2 ;;
  --train-seeds) train_seeds=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  --search-args) search_args=$2; shift 2 ;;
  --train-args) train_args=$2; shift 2 ;;
  --parsec-run) run=$2; shift 2 ;;
  --reuse) reuse=$(cd "$2" && pwd); shift 2 ;;
  -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "quality.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
run=${run:-$here/build/parsec-run}
[ -x "$run" ] || { echo "quality.sh: no parsec-run at $run (build first, or give --parsec-run)" >&2; exit 2; }
out=${out:-bench-quality-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
if [ -n "$reuse" ]; then
  cmp -s "$reuse/train-args" <(echo "$train_args") ||
    { echo "quality.sh: $reuse trained with other arguments ($(cat "$reuse/train-args"))" >&2; exit 2; }
  for f in "$reuse"/random.txt "$reuse"/train-random-* "$reuse"/train-darts_v2-*; do
    [ -e "$out/$(basename "$f")" ] || ln -s "$f" "$out/"
  done
fi
echo "$train_args" >"$out/train-args"
read -r -a sargs <<<"$search_args"
read -r -a targs <<<"$train_args"

darts_v2="Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"

# the last logged value of KEY in a run's log
last() { tail -1 "$1/log.jsonl" | grep -o "\"$2\":[-0-9.e]*" | cut -d: -f2; }

# a job in DIR, resumed when a checkpoint is there, skipped when finished
job() {
  local dir=$1
  shift
  if [ -f "$dir/done" ]; then return 0; fi
  if [ -f "$dir/checkpoint.bin" ]; then "$run" "$1" --resume --out "$dir" -q --no-progress
  else "$run" "$@" --out "$dir" -q --no-progress; fi
  touch "$dir/done"
}

echo "quality: $searches searches ($search_args), $random random architectures, DARTS_V2; each trained" \
     "$train_seeds times ($train_args); outputs in $out/"
# 1. the searches
for s in $(seq 1 "$searches"); do
  t0=$(date +%s)
  job "$out/search-$s" search "${sargs[@]}" --seed "$s"
  [ -f "$out/search-$s/wall" ] || echo $(($(date +%s) - t0)) >"$out/search-$s/wall"
  cp "$out/search-$s/genotype.txt" "$out/mode-$s.txt"
  echo "  search $s: entropy $(last "$out/search-$s" entropy), mode accuracy $(last "$out/search-$s" mode_search_acc)"
done
# 2. the architectures: the modes, M uniform draws, DARTS_V2
space=${sargs[0]}
[ -f "$out/random.txt" ] || "$run" sample "$space" --count "$random" --seed 12345 --distinct >"$out/random.txt"
for r in $(seq 1 "$random"); do sed -n "${r}p" "$out/random.txt" >"$out/random-$r.txt"; done
echo "$darts_v2" >"$out/darts_v2.txt"
archs=()
for s in $(seq 1 "$searches"); do archs+=("mode-$s"); done
for r in $(seq 1 "$random"); do archs+=("random-$r"); done
archs+=("darts_v2")
# 3. each trained under the same budget and seeds
for a in "${archs[@]}"; do
  for t in $(seq 1 "$train_seeds"); do
    job "$out/train-$a-$t" train "${targs[@]}" --genotype "$out/$a.txt" --seed "$t"
  done
  printf '  trained %s:' "$a"
  for t in $(seq 1 "$train_seeds"); do printf ' %s' "$(last "$out/train-$a-$t" test_acc)"; done
  echo
done

# 4. the table
{
  for a in "${archs[@]}"; do
    printf '%s' "$a"
    for t in $(seq 1 "$train_seeds"); do printf ' %s' "$(last "$out/train-$a-$t" test_acc)"; done
    echo
  done
} >"$out/accuracies.txt"
for s in $(seq 1 "$searches"); do
  # per epoch: entropy, mode accuracy, and how many of the mode's entries changed since the epoch before
  grep -o '"entropy":[-0-9.e]*\|"mode":"[^"]*"\|"mode_search_acc":[-0-9.e]*' "$out/search-$s/log.jsonl" |
    awk -F'"mode":' -v s="$s" '
      /"entropy"/ { split($0, a, ":"); ent = a[2] }
      /^"mode":/ { m = substr($0, 9, length($0) - 9); n = split(m, cur, "\\), \\(")
                   changed = 0; if (epoch > 0) for (i = 1; i <= n; i++) changed += cur[i] != prev[i]
                   for (i = 1; i <= n; i++) prev[i] = cur[i] }
      /"mode_search_acc"/ { split($0, a, ":"); epoch++; printf "search %d epoch %d: entropy %.2f, mode accuracy %.1f%%, mode entries changed %s\n", s, epoch, ent, 100 * a[2], (epoch > 1 ? changed : "-") }'
  printf 'search %d: %s s wall clock, %s s in its steps\n' "$s" "$(cat "$out/search-$s/wall")" \
    "$(grep -o '"seconds":[0-9.]*' "$out/search-$s/log.jsonl" | cut -d: -f2 | awk '{ s += $1 } END { printf "%.0f", s }')"
done >"$out/searches.txt"
awk -v S="$searches" -v M="$random" '
  function mean(v, n,   i, s) { s = 0; for (i = 1; i <= n; i++) s += v[i]; return s / n }
  function sd(v, n,   i, m, s) { if (n < 2) return 0; m = mean(v, n); s = 0; for (i = 1; i <= n; i++) s += (v[i] - m)^2; return sqrt(s / (n - 1)) }
  { name[NR] = $1; k = 0; for (i = 2; i <= NF; i++) v[++k] = $i; mu[NR] = mean(v, k); sig[NR] = sd(v, k); seeds = k }
  END {
    printf "\n| architecture | test accuracy (mean +- sd over %d training seeds) | percentile among the random ones |\n| --- | --- | --- |\n", seeds
    nr = 0; for (i = S + 1; i <= S + M; i++) rnd[++nr] = mu[i]
    for (i = 1; i <= NR; i++) {
      below = 0; for (j = 1; j <= nr; j++) below += rnd[j] < mu[i]
      printf "| %s | %.2f%% +- %.2f | %s |\n", name[i], 100 * mu[i], 100 * sig[i], ((i <= S || i == NR) ? sprintf("%d%%", 100 * below / nr) : "")
    }
    n = nr; for (i = 2; i <= n; i++) { x = rnd[i]; for (j = i - 1; j >= 1 && rnd[j] > x; j--) rnd[j + 1] = rnd[j]; rnd[j + 1] = x }
    k = 0; for (i = 1; i <= S; i++) modes[++k] = mu[i]
    printf "\nrandom architectures: mean %.2f%%, sd %.2f, min %.2f%%, median %.2f%%, max %.2f%%\n", 100 * mean(rnd, n),
           100 * sd(rnd, n), 100 * rnd[1], 100 * (n % 2 ? rnd[(n + 1) / 2] : (rnd[n / 2] + rnd[n / 2 + 1]) / 2), 100 * rnd[n]
    printf "modes: mean %.2f%%, sd %.2f (over %d searches)\n", 100 * mean(modes, S), 100 * sd(modes, S), S
  }' "$out/accuracies.txt" | tee "$out/table.md"
cat "$out/searches.txt"
