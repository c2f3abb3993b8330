#!/usr/bin/env bash
# parsec-run search and train on two MPI ranks (mpirun on this machine, the
# CPU): a search matches one rank up to the order of its sums, with the same
# mode; two ranks twice give the same run bit for bit; a run of two ranks
# resumes on one; more ranks than children (or than a batch's images), ranks
# started with different options, a held run directory, and other commands
# under mpirun are refused with messages naming the rank and the value; a killed rank ends the whole
# job within seconds, never a hang, and leaves a checkpoint that resumes.
# Skipped (77) where parsec-run was built without MPI or mpirun is missing.
set -u
run=$1 mkdata=$2 with_mpi=$3 src=$4 same=$5
prog=$run
source "$(dirname "$0")/cli_lib.sh"

if [ "$with_mpi" != 1 ] || ! command -v mpirun >/dev/null; then
  echo "skipped: parsec-run built without MPI, or no mpirun (Debian: apt-get install libopenmpi-dev openmpi-bin)"
  exit 77
fi
# Open MPI refuses root unless told, two ranks may exceed the cores here, and
# on one machine it needs no ssh (a machine without one would stop it)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_plm_rsh_agent=${OMPI_MCA_plm_rsh_agent:-false}
# Under the sanitizers (CI), no leak report at a rank's exit: Open MPI's own
# allocations (from plugins unloaded by then) would fill it; the same code
# run as one process is leak-checked by the other tests.
mpi() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" timeout 300 mpirun -np "$1" --oversubscribe "${@:2}"; }

"$mkdata" "$tmp/img.npy" "$tmp/lab.npy" 600 8 8 2 5 1 || exit 1
data="npy:$tmp/img.npy,$tmp/lab.npy"
tiny="$src/tests/spaces/tiny.lua"
common=("$tiny" --data "$data" --epochs 2 --samples 4 --seed 5 --threads 1 --no-progress)

# the logits of a run's distribution.json, one per line
logits() { grep -o '"logit":[^,}]*' "$1/distribution.json" | cut -d: -f2; }
# the largest difference between two runs' logits
logit_gap() { paste <(logits "$1") <(logits "$2") | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d } END { printf "%.3g", m + 0 }'; }

mpi 2 "$run" search "${common[@]}" --out "$tmp/r2" >"$tmp/r2.out" 2>&1 || { fail "a search on 2 ranks failed"; cat "$tmp/r2.out"; }
grep -q "2 ranks (MPI)" "$tmp/r2.out" || fail "the search does not say it runs on 2 ranks"
grep -q '"ranks":2' "$tmp/r2/log.jsonl" || fail "log.jsonl lacks the ranks"
grep -q '"rank0_communication_seconds"' "$tmp/r2/log.jsonl" || fail "log.jsonl lacks the time spent communicating"
grep -qE '"rank_step_peak_activation_bytes":\[[0-9]+,[0-9]+\]' "$tmp/r2/log.jsonl" || fail "log.jsonl lacks each rank's memory"
[ "$(wc -l <"$tmp/r2/log.jsonl")" = 2 ] || fail "log.jsonl should hold 2 epochs"

# the same seed and ranks: the same run, bit for bit
mpi 2 "$run" search "${common[@]}" --out "$tmp/r2b" -q >"$tmp/r2b.out" 2>&1 || { fail "the second 2-rank search failed"; cat "$tmp/r2b.out"; }
if cmp -s "$tmp/r2/distribution.json" "$tmp/r2b/distribution.json" &&
  "$same" "$tmp/r2/checkpoint.bin" "$tmp/r2b/checkpoint.bin" >/dev/null; then
  echo "ok: 2 ranks twice: the same distribution and checkpoint"
else
  fail "2 ranks twice gave different runs"
fi

# one rank, one thread (the same single-threaded kernels as each rank): the
# gradients and statistics are summed in another order, nothing else
# differs.  (Until a child is drawn differently: a draw compares a uniform
# number with pi's cumulative probabilities, so a difference of 1e-7 in pi
# changes a draw now and then, and from there the runs differ as much as two
# runs on different thread counts do.  These 64 draws a categorical do not.)
"$run" search "${common[@]}" --out "$tmp/r1" -q || fail "the 1-rank search failed"
gap=$(logit_gap "$tmp/r1" "$tmp/r2")
echo "largest difference in pi's logits, 1 against 2 ranks: $gap"
awk -v g="$gap" 'BEGIN { exit !(g < 1e-4) }' || fail "2 ranks moved pi's logits by $gap from 1 rank's (allowed 1e-4)"
cmp -s "$tmp/r1/genotype.txt" "$tmp/r2/genotype.txt" || fail "1 and 2 ranks found different modes"
# and after one epoch the weights, momenta and BN running statistics (which
# the ranks combine as one rank would have applied them) agree
"$run" search "${common[@]}" --epochs 1 --out "$tmp/e1" -q || fail "a 1-epoch search failed"
mpi 2 "$run" search "${common[@]}" --epochs 1 --out "$tmp/e2" -q || fail "a 1-epoch search on 2 ranks failed"
# (the momenta, sums of small gradients, to 1e-3: 2.6e-4 here)
"$same" "$tmp/e1/checkpoint.bin" "$tmp/e2/checkpoint.bin" --close 1e-4 params bn_stats &&
  "$same" "$tmp/e1/checkpoint.bin" "$tmp/e2/checkpoint.bin" --close 1e-3 momentum ||
  fail "1 and 2 ranks hold different weights or statistics after an epoch"

# interrupted on 2 ranks (after 5 steps), resumed on 1
PARSEC_TEST_INTERRUPT_AFTER=5 mpi 2 -x PARSEC_TEST_INTERRUPT_AFTER "$run" search "${common[@]}" --out "$tmp/ri" -q
rc=$?
[ "$rc" = 130 ] || fail "an interrupted 2-rank search exited $rc, expected 130"
"$run" search --resume --out "$tmp/ri" -q >"$tmp/ri.out" 2>&1 || { fail "resuming a 2-rank run on 1 rank failed"; cat "$tmp/ri.out"; }
[ "$(wc -l <"$tmp/ri/log.jsonl")" = 2 ] || fail "the resumed run should log 2 epochs"
echo "ok: a 2-rank run interrupted and resumed on 1 rank"

# refused, with the rank and the value
out=$(mpi 3 "$run" search "${common[@]}" --samples 2 --out "$tmp/r3" 2>&1) && fail "3 ranks for 2 children ran"
grep -qF "3 ranks for K = 2 children" <<<"$out" || { fail "3 ranks for K = 2: no clear message"; echo "$out" | tail -5; }
out=$(mpi 1 "$run" search "${common[@]}" --out "$tmp/rm" : -np 1 "$run" search "${common[@]}" --seed 6 --out "$tmp/rm" 2>&1) &&
  fail "ranks with different seeds ran"
grep -qF "rank 1 was started with other settings" <<<"$out" || { fail "mismatched ranks: no clear message"; echo "$out" | tail -5; }
out=$(mpi 2 "$run" sample "$tiny" 2>&1) && fail "sample ran on 2 ranks"
grep -qF "only 'search' and 'train' run on several ranks" <<<"$out" || { fail "sample under mpirun: no clear message"; echo "$out" | tail -3; }

# training, data-parallel: each rank a slice of every batch (the whole batch
# staged, so augmentation and drop path draw as on one rank); the same run
# twice; interrupted on 2 ranks in its second epoch (38 steps an epoch),
# resumed on 1
f0=$fails
train=("$tiny" --genotype DARTS_V2 --data "$data" --epochs 2 --batch 16 --seed 4 --threads 1 --drop-path 0.3 --no-progress -q)
mpi 2 "$run" train "${train[@]}" --out "$tmp/t2" >"$tmp/t2.out" 2>&1 || { fail "a training on 2 ranks failed"; cat "$tmp/t2.out"; }
mpi 2 "$run" train "${train[@]}" --out "$tmp/t2b" >/dev/null 2>&1 || fail "the second 2-rank training failed"
"$same" "$tmp/t2/checkpoint.bin" "$tmp/t2b/checkpoint.bin" >/dev/null || fail "2 ranks twice trained differently"
[ "$(wc -l <"$tmp/t2/log.jsonl")" = 2 ] || fail "the 2-rank training should log 2 epochs"
PARSEC_TEST_INTERRUPT_AFTER=40 mpi 2 -x PARSEC_TEST_INTERRUPT_AFTER "$run" train "${train[@]}" --epochs 3 --out "$tmp/ti" >/dev/null 2>&1
rc=$?
[ "$rc" = 130 ] || fail "an interrupted 2-rank training exited $rc, expected 130"
"$run" train "${train[@]}" --epochs 3 --out "$tmp/ti" --resume >"$tmp/ti.out" 2>&1 ||
  { fail "resuming a 2-rank training on 1 rank failed"; cat "$tmp/ti.out"; }
[ "$(wc -l <"$tmp/ti/log.jsonl")" = 3 ] || fail "the resumed training should log 3 epochs"
out=$(mpi 3 "$run" train "${train[@]}" --batch 2 --out "$tmp/t3" 2>&1) && fail "3 ranks for batches of 2 ran"
grep -qF "3 ranks for batches of 2" <<<"$out" || { fail "3 ranks for batches of 2: no clear message"; echo "$out" | tail -3; }
[ "$fails" = "$f0" ] && echo "ok: training on 2 ranks: twice the same, interrupted and resumed on 1"

# a run directory another job holds: refused by rank 0, and the job ends
"$run" search "${common[@]}" --epochs 400 --out "$tmp/r2" --resume -q >/dev/null 2>&1 &
holder=$!
for _ in $(seq 100); do grep -qw "$holder" "$tmp/r2/.parsec.lock" 2>/dev/null && break; sleep 0.1; done
out=$(mpi 2 "$run" search "${common[@]}" --epochs 400 --out "$tmp/r2" --resume 2>&1) && fail "a held run directory was resumed"
grep -qF "rank 0 of 2: $tmp/r2 is in use" <<<"$out" || { fail "a held run directory: no clear message"; echo "$out" | tail -3; }
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# a rank killed mid-run ends the job (not a hang); the last checkpoint resumes
long=("$tiny" --data "$data" --epochs 40 --samples 4 --seed 5 --threads 1 --no-progress)
mpi 2 "$run" search "${long[@]}" --out "$tmp/rk" -q >"$tmp/rk.out" 2>&1 &
job=$!
for _ in $(seq 100); do [ -s "$tmp/rk/log.jsonl" ] && break; sleep 0.2; done
victim=""
for p in $(pgrep -f "search $tiny"); do
  tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$p
done
if [ -z "$victim" ] || ! [ -s "$tmp/rk/log.jsonl" ]; then
  fail "could not find rank 1 of a running search to kill"
  kill "$job" 2>/dev/null
else
  t0=$SECONDS
  kill -9 "$victim"
  wait "$job"
  rc=$?
  [ "$rc" != 0 ] || fail "the job went on after rank 1 was killed"
  [ $((SECONDS - t0)) -le 20 ] || fail "the job took $((SECONDS - t0)) s to end after rank 1 was killed"
  grep -qiE "rank 1|process rank 1" "$tmp/rk.out" || { fail "the job's end does not name rank 1"; tail -5 "$tmp/rk.out"; }
  done_epochs=$(wc -l <"$tmp/rk/log.jsonl")
  "$run" search --resume --out "$tmp/rk" --epochs $((done_epochs + 1)) -q >"$tmp/rk2.out" 2>&1 ||
    { fail "the checkpoint a killed job left does not resume"; cat "$tmp/rk2.out"; }
  echo "ok: killing rank 1 ended the job in $((SECONDS - t0)) s (exit $rc); its checkpoint resumed"
fi
finish
