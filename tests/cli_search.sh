#!/usr/bin/env bash
# parsec-run end to end: a search that runs, lowers the entropy and writes
# every output; the same seed gives the same state bit for bit; an
# interrupted run resumed ends in the unbroken run's state; bad inputs give
# clear messages and the documented exit codes.
set -u
run=$1 mkdata=$2 same=$3 src=$4 edit=$5 check=$6
prog=$run
source "$(dirname "$0")/cli_lib.sh"

"$mkdata" "$tmp/img.npy" "$tmp/lab.npy" 600 8 8 2 5 1 || exit 1
data="npy:$tmp/img.npy,$tmp/lab.npy"
tiny="$src/tests/spaces/tiny.lua"
common=(--data "$data" --epochs 3 --seed 5 --no-progress)

# a search that runs and writes every output
"$run" search "$tiny" "${common[@]}" --out "$tmp/a" >"$tmp/a.out" 2>&1 || { fail "search failed"; cat "$tmp/a.out"; }
for f in config.json log.jsonl distribution.json distribution.jsonl genotype.txt cells.dot checkpoint.bin weights.safetensors; do
  [ -s "$tmp/a/$f" ] || fail "the run wrote no $f"
done
[ "$(wc -l <"$tmp/a/log.jsonl")" = 3 ] || fail "log.jsonl should hold 3 epochs"
grep -q "^Genotype(normal=\[('" "$tmp/a/genotype.txt" || fail "genotype.txt is not in the DARTS form"
grep -q "outputs in $tmp/a/" "$tmp/a.out" || fail "the search does not say where its outputs are"
first=$(head -1 "$tmp/a/log.jsonl" | grep -o '"entropy":[0-9.]*' | cut -d: -f2)
last=$(tail -1 "$tmp/a/log.jsonl" | grep -o '"entropy":[0-9.]*' | cut -d: -f2)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || fail "entropy did not fall ($first -> $last)"
echo "ok: entropy $first -> $last"
for k in mode_search_acc children_per_s '"kernels"' step_peak_activation_bytes largest_child_alone_bytes supernet_activation_bytes parameter_bytes; do
  grep -q "$k" "$tmp/a/log.jsonl" || fail "log.jsonl lacks $k"
done
# show: the run from its record, pictures only where asked, the run untouched
show_ok "$tmp/a" "$tmp/show_a" 'curves.svg:data-label="entropy"' 'curves.svg:data-label="mode"' \
  'curves.svg:data-label="loss"' 'curves.svg:>epoch<' 'pi.svg:normal node 0' 'pi.svg:dil_conv_5x5' 'cells.dot:digraph'
for k in "most probable choices" "epoch  entropy  mode acc" "search in the space 'tiny'" "command: " "mode: Genotype("; do
  grep -qF "$k" "$tmp/show_a.txt" || fail "show lacks '$k'"
done
[ "$(grep -c '<rect x=' "$tmp/show_a/pi.svg")" -ge $((4 * 2 * 4 * 7)) ] || fail "pi.svg lacks a cell per node, op and epoch"
# architectures drawn from the run's distribution, and uniformly from the space
[ "$("$run" sample --run "$tmp/a" -n 3 --distinct --seed 2 | grep -c "^Genotype(normal=\[('")" = 3 ] ||
  fail "sample --run did not print 3 genotypes"
"$run" sample "$tiny" -n 2 --seed 4 >"$tmp/s1.txt" && "$run" sample "$tiny" -n 2 --seed 4 >"$tmp/s2.txt" ||
  fail "sample from a space failed"
cmp -s "$tmp/s1.txt" "$tmp/s2.txt" || fail "one seed gave two different samples"
expect 2 "--run RUN brings its own space" -- sample --run "$tmp/a" "$tiny"

# the same seed and threads give the same state, bit for bit
"$run" search "$tiny" --data="$data" --epochs=3 --seed=5 --no-progress --out="$tmp/b" -q || fail "second search failed"
"$same" "$tmp/a/checkpoint.bin" "$tmp/b/checkpoint.bin" >/dev/null || fail "two runs with one seed differ"
cmp -s "$tmp/a/distribution.json" "$tmp/b/distribution.json" || fail "distribution.json differs between identical runs"

# interrupted, then resumed: the state of the unbroken run
PARSEC_TEST_INTERRUPT_AFTER=5 "$run" search "$tiny" "${common[@]}" --out "$tmp/c" >"$tmp/c.out" 2>&1
rc=$?
[ "$rc" = 130 ] || fail "an interrupted search exits $rc, expected 130"
grep -q "continue with: parsec-run search --resume --out $tmp/c" "$tmp/c.out" || fail "the interruption does not say how to resume"
# the command line it was started with, up-arrow and --resume: accepted;
# a flag whose value differs: refused, naming both values
expect 2 "--resume: --seed is 5 in $tmp/c, and 6 here" -- search "$tiny" --data "$data" --seed 6 --out "$tmp/c" --resume
expect 2 "was started without --uniform-weights" -- search "$tiny" --uniform-weights --out "$tmp/c" --resume
expect 2 "--resume: small is not the space $tmp/c was started with ('tiny')" -- search small --out "$tmp/c" --resume
"$run" search "$tiny" "${common[@]}" --out "$tmp/c" --resume -q || fail "resume with the starting flags failed"
"$same" "$tmp/a/checkpoint.bin" "$tmp/c/checkpoint.bin" >/dev/null || fail "resumed run differs from the unbroken one"
cmp -s "$tmp/a/distribution.json" "$tmp/c/distribution.json" || fail "resumed distribution differs"
[ "$(wc -l <"$tmp/c/log.jsonl")" = 3 ] || fail "resumed log.jsonl should hold 3 epochs"
echo "ok: interrupted and resumed run equals the unbroken run"

# the run record: config.json written at the start (and the resume noted),
# pi's history a line per epoch from 0, with no gap or repeat across the
# interruption, the same as the unbroken run's
for k in '"command_line"' '"parsec_version"' '"ir_sha256"' '"settings"' '"seed":\s*5' '"search_split"' '"device"'; do
  grep -qP -- "$k" "$tmp/a/config.json" || fail "config.json lacks $k"
done
grep -qP '"resumes":\s*\[\]' "$tmp/a/config.json" || fail "an unbroken run's config.json lists resumes"
grep -qF -- '"--resume"' "$tmp/c/config.json" || fail "config.json does not record the resume"
epochs=$(grep -o '^{"epoch":[0-9]*' "$tmp/c/distribution.jsonl" | cut -d: -f2 | tr '\n' ' ')
[ "$epochs" = "0 1 2 3 " ] || fail "the resumed history holds epochs '$epochs', not 0 1 2 3"
cmp -s "$tmp/a/distribution.jsonl" "$tmp/c/distribution.jsonl" || fail "the resumed history differs from the unbroken one"
cmp -s "$tmp/a/weights.safetensors" "$tmp/c/weights.safetensors" || fail "the resumed search weights differ"
echo "ok: config.json and pi's history ($epochs) across an interruption"

# a run directory holds one run: reusing it needs --resume, a second job on
# it is refused while the first holds it, and a log line whose epoch's
# checkpoint was never written (a crash, a full disk) is not kept twice
expect 2 "already holds a run (checkpoint.bin): continue it with --resume" -- search "$tiny" "${common[@]}" --out "$tmp/a"
cmp -s "$tmp/a/distribution.json" "$tmp/b/distribution.json" || fail "a refused run touched the earlier run's files"
[ "$(wc -l <"$tmp/a/log.jsonl")" = 3 ] || fail "a refused run appended to the earlier run's log"
if command -v flock >/dev/null; then
  # the holder is the process that keeps the lock (sleep, exec'd in the
  # subshell): killing it releases the lock at once
  (exec 9>>"$tmp/a/.parsec.lock" && flock 9 && exec sleep 20) &
  holder=$!
  sleep 0.5
  expect 1 "is in use by another parsec-run" -- search --resume --out "$tmp/a"
  kill $holder 2>/dev/null
  wait $holder 2>/dev/null
fi
PARSEC_TEST_INTERRUPT_AFTER=5 "$run" search "$tiny" "${common[@]}" --out "$tmp/e" -q
echo '{"epoch": 99, "a line whose checkpoint was never written": true}' >>"$tmp/e/log.jsonl"
echo '{"epoch": 99, "p": []}' >>"$tmp/e/distribution.jsonl"
"$run" search --resume --out "$tmp/e" -q || fail "resume after a lost checkpoint failed"
[ "$(wc -l <"$tmp/e/log.jsonl")" = 3 ] || fail "the resumed log holds $(wc -l <"$tmp/e/log.jsonl") lines, not 3"
grep -q '"epoch": 99' "$tmp/e/log.jsonl" && fail "the resumed log kept a line past its checkpoint"
cmp -s "$tmp/a/distribution.json" "$tmp/e/distribution.json" || fail "the run resumed past a lost line differs"
cmp -s "$tmp/a/distribution.jsonl" "$tmp/e/distribution.jsonl" || fail "the history resumed past a lost line differs"
# a location that cannot be a run directory fails before any work
touch "$tmp/afile"
expect 2 "exists and is not a directory" -- search "$tiny" "${common[@]}" --out "$tmp/afile"
expect 2 "/dev/null exists and is not a directory" -- search "$tiny" "${common[@]}" --out /dev/null
expect 1 "cannot be a run directory" -- search "$tiny" "${common[@]}" --out "$tmp/afile/run"
[ -e "$tmp/x" ] && fail "a search that failed before its first epoch left its run directory behind"

# one clearly best primitive: pi concentrates on it
"$mkdata" "$tmp/pimg.npy" "$tmp/plab.npy" 1024 16 16 1 2 7 pairs
"$run" search "$src/tests/spaces/pairs.lua" --data "npy:$tmp/pimg.npy,$tmp/plab.npy" --seed 1 --out "$tmp/pairs" -q ||
  fail "the pairs search failed"
# p(dil_conv_5x5) of each categorical, summed over its inputs
probs=$(awk '/"cell":/ { c++ } /"primitive":/ { name = $2 } /"p":/ { if (name ~ /dil_conv_5x5/) { sub(",", "", $2); s[c] += $2 } }
             END { for (i = 1; i <= 4; i++) printf "%.3f ", s[i] }' "$tmp/pairs/distribution.json")
echo "p(dil_conv_5x5) over the normal cell's categoricals: $probs"
awk -v p="$probs" 'BEGIN { split(p, v, " "); exit !(v[1] > 0.9 && v[2] > 0.9 && (v[1] + v[2] + v[3] + v[4]) / 4 > 0.65) }' ||
  fail "pi did not concentrate on the only primitive that carries the signal ($probs)"
grep -q "^Genotype(normal=\[('dil_conv_5x5', [0-9]), ('dil_conv_5x5', [0-9])" "$tmp/pairs/genotype.txt" ||
  fail "the mode's first node does not take the dilated conv twice: $(cat "$tmp/pairs/genotype.txt")"
acc=$(tail -1 "$tmp/pairs/log.jsonl" | grep -o '"mode_search_acc":[0-9.]*' | cut -d: -f2)
awk -v a="$acc" 'BEGIN { exit !(a > 0.95) }' || fail "the mode classifies only $acc of the search split"
echo "ok: pi concentrated on dil_conv_5x5; the mode classifies $acc of the search split"

# transfer (paper section 4.2): pi starts from run a and is tuned on the
# space's transfer network (auxiliary head, cutout)
"$run" search "$tiny" --data "$data" --init-from "$tmp/a" --epochs 1 --out "$tmp/t" >"$tmp/t.out" 2>&1 ||
  { fail "transfer search failed"; tail -5 "$tmp/t.out"; }
# a started from the uniform distribution (entropy 50.27); the transfer starts where a ended
start=$(head -1 "$tmp/t/log.jsonl" | grep -o '"entropy":[0-9.]*' | cut -d: -f2)
awk -v a="$start" -v b="$last" 'BEGIN { exit !(a < 50.2 && a - b < 0.5 && b - a < 0.5) }' ||
  fail "the transfer did not start from the earlier distribution (entropy $start, earlier run ended at $last)"
echo "ok: transfer started at entropy $start (the earlier run ended at $last)"
show_ok "$tmp/t" "$tmp/show_t" 'curves.svg:data-label="entropy"' 'pi.svg:reduce node 3'
grep -qF "transfer in the space 'tiny'" "$tmp/show_t.txt" || fail "show does not call a transfer one"
# ensembles: networks from pi, each trained, evaluated together; an
# interrupted ensemble resumed ends as the unbroken one
ens=(--run "$tmp/a" --epochs 1 --limit 128 --layers 3 --channels 8 --data "$data" --test-data "$data" --no-progress)
"$run" ensemble "${ens[@]}" --members 2 --pick top --out "$tmp/en" >"$tmp/en.out" 2>&1 || { fail "ensemble failed"; tail "$tmp/en.out"; }
[ "$(wc -l <"$tmp/en/members.txt")" = 2 ] || fail "the ensemble does not list its 2 members"
[ -s "$tmp/en/member-1/weights.safetensors" ] && [ -s "$tmp/en/member-2/weights.safetensors" ] || fail "a member was not trained"
for k in '"model":"member-1"' '"model":"member-2"' '"model":"ensemble"' '"is_mode":true' '"ece":' '"brier":' '"nll":' '"reliability":'; do
  grep -qF "$k" "$tmp/en/log.jsonl" || fail "the ensemble's log.jsonl lacks $k"
done
grep -q "^ensemble " "$tmp/en.out" || fail "the ensemble prints no table"
PARSEC_TEST_INTERRUPT_AFTER=5 "$run" ensemble "${ens[@]}" --members 2 --pick top --out "$tmp/er" -q
[ $? = 130 ] || fail "an interrupted ensemble does not exit 130"
"$run" ensemble "${ens[@]}" --members 2 --pick top --out "$tmp/er" --resume -q || fail "the ensemble did not resume"
cmp -s <(grep -o '"accuracy".*' "$tmp/en/log.jsonl") <(grep -o '"accuracy".*' "$tmp/er/log.jsonl") ||
  fail "the resumed ensemble differs from the unbroken one"
show_ok "$tmp/en" "$tmp/show_en" 'reliability.svg:data-label="ensemble"' 'reliability.svg:data-label="mode"'
grep -q "^ensemble " "$tmp/show_en.txt" || fail "show of an ensemble lacks its table"
# the ensemble exported as C: one program averaging its members' softmax,
# parsec's own members' forward passes as the reference; as CUDA: it compiles
"$run" export --run "$tmp/en" --target c -o "$tmp/en_c" >/dev/null || fail "the ensemble's C export failed"
make -s -C "$tmp/en_c" >/dev/null 2>&1 || fail "the ensemble's C export does not build"
"$tmp/en_c/predict" "$tmp/en_c" "$tmp/img.npy" "$tmp/lab.npy" --limit 100 -q --logits "$tmp/en_c/logp.npy" >/dev/null ||
  fail "the ensemble's predict failed"
"$check" "$tmp/en" "$data" 100 "$tmp/en_c/logp.npy" || fail "the exported ensemble's probabilities differ from parsec's"
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
if [ -x "$nvcc" ]; then
  "$run" export --run "$tmp/en" --target cuda -o "$tmp/en_cu" >/dev/null || fail "the ensemble's CUDA export failed"
  make -s -C "$tmp/en_cu" NVCC="$nvcc" ARCH=sm_90 >"$tmp/en_cu.out" 2>&1 ||
    { fail "the ensemble's CUDA export does not build"; tail -5 "$tmp/en_cu.out"; }
else
  echo "skipped: no nvcc to build the ensemble's CUDA export"
fi

# draws from pi: the mode is trained apart when it was not drawn
"$run" ensemble "${ens[@]}" --members 2 --out "$tmp/es" -q || fail "a sampled ensemble failed"
if [ -d "$tmp/es/mode" ]; then n=4; else n=3; fi
[ "$(wc -l <"$tmp/es/log.jsonl")" = $n ] || fail "the sampled ensemble's log holds $(wc -l <"$tmp/es/log.jsonl") lines, not $n"
# bad input, each refused before any training
expect 2 "--members takes an integer in 1..64, not '0'" -- ensemble "${ens[@]}" --members 0 --out "$tmp/ex"
expect 2 "has no test split to evaluate the ensemble on" -- ensemble --run "$tmp/a" --data "$data" --out "$tmp/ex"
expect 1 "is not a search run" -- ensemble "${ens[@]}" --run "$tmp/nothing-here" --out "$tmp/ex"
mkdir -p "$tmp/nodist" && cp "$tmp/a/checkpoint.bin" "$tmp/nodist/"
expect 1 "has no distribution to draw an ensemble from" -- ensemble "${ens[@]}" --run "$tmp/nodist" --out "$tmp/ex"
mkdir -p "$tmp/onehot" && cp "$tmp/a/checkpoint.bin" "$tmp/onehot/" # pi on one network: one choice per categorical
awk '/"choices"/ { first = 1 } /"logit"/ { sub(/-?[0-9.e+-]+,?$/, first ? "1000" : "-1000"); first = 0 } { print }' \
  "$tmp/a/distribution.json" >"$tmp/onehot/distribution.json"
expect 2 "only 1 distinct networks in" -- ensemble "${ens[@]}" --run "$tmp/onehot" --members 2 --out "$tmp/ex"
[ -e "$tmp/ex/member-1" ] && fail "a refused ensemble trained a member"

# a warm-up keeps pi uniform while the weights train; it must leave epochs to learn pi in
"$run" search "$tiny" --data "$data" --epochs 2 --warmup 1 --uniform-weights --temperature 4 --temperature-end 1 \
  --out "$tmp/w" -q || fail "a search with a warm-up failed"
awk '/"warmup":true/ && /"entropy":50.284/ { w++ } END { exit !(w == 1) }' "$tmp/w/log.jsonl" ||
  fail "the warm-up epoch moved pi: $(head -1 "$tmp/w/log.jsonl" | grep -o '"entropy":[0-9.]*')"
expect 2 "leaves none of the 2 to learn pi in" -- search "$tiny" --data "$data" --epochs 2 --warmup 2 --out "$tmp/x"
expect 1 "categoricals differ" -- search "$tiny" --data "$data" --init-from "$tmp/pairs" --epochs 1 --out "$tmp/x"
expect 1 "distribution.json: cannot open" -- search "$tiny" --data "$data" --init-from "$tmp/nothing" --epochs 1 --out "$tmp/x"

# bad inputs
expect 2 "unknown option '--epoch'" -- search --epoch 3
expect 2 "--samples takes an integer in 1..256, not 'many'" -- search --samples many
expect 2 "--resume needs --out RUN" -- search --resume
expect 2 "one space at a time (got 'small' and 'darts')" -- search small darts
expect 2 "--out needs a value" -- search --out
expect 2 "--epochs takes an integer in 1..100000, not 'x'" -- search --epochs=x
expect 2 "--temperature takes a number in" -- search --temperature nan
expect 2 "--split takes a number in" -- search --split=inf
expect 2 "--resume takes no value" -- search --resume=yes
expect 0 "--samples K" -- help search
expect 0 "Exit status: 0 done" -- search --help
expect 0 "--version" -- show --help
expect 0 "parsec-run 0" -- cache --version
expect 2 "no command 'serach'" -- help serach
expect 2 "--device takes cpu, cuda, cuda:N or auto, not 'gpu'" -- search --device gpu
expect 2 "--resume: --seed is 5 in $tmp/a, and 3 here" -- search --resume --out "$tmp/a" --seed 3
expect 3 "no usable GPU" -- search "$tiny" "${common[@]}" --device cuda --out "$tmp/gpu"
expect 3 "no usable GPU 1" -- search "$tiny" "${common[@]}" --device cuda:1 --out "$tmp/gpu1"
expect 2 "--device takes cpu, cuda, cuda:N or auto, not 'cuda:x'" -- search "$tiny" "${common[@]}" --device cuda:x
head -c 3000 "$tmp/img.npy" >"$tmp/short.npy"
expect 1 "short.npy: truncated" -- search "$tiny" --data "npy:$tmp/short.npy,$tmp/lab.npy" --out "$tmp/x"
"$mkdata" "$tmp/img2.npy" "$tmp/lab2.npy" 500 8 8 2 5 2
expect 1 "500 labels for 600 images" -- search "$tiny" --data "npy:$tmp/img.npy,$tmp/lab2.npy" --out "$tmp/x"
"$mkdata" "$tmp/img9.npy" "$tmp/lab9.npy" 300 8 8 2 9 3
expect 1 "labels up to 8, but the space 'tiny' has 5 classes" -- search "$tiny" --data "npy:$tmp/img9.npy,$tmp/lab9.npy" --out "$tmp/x"
"$mkdata" "$tmp/img3.npy" "$tmp/lab3.npy" 300 8 8 3 5 3
expect 1 "holds 3x8x8 images, but the space 'tiny' expects 2x8x8" -- search "$tiny" --data "npy:$tmp/img3.npy,$tmp/lab3.npy" --out "$tmp/x"
printf 'junk' >"$tmp/bad.idx"
expect 1 "not an IDX image file" -- search "$tiny" --data "idx:$tmp/bad.idx,$tmp/bad.idx" --out "$tmp/x"
expect 1 "unknown data set 'mnist'" -- search "$tiny" --data mnist --out "$tmp/x"
cp -r "$tmp/a" "$tmp/corrupt"
printf 'X' | dd of="$tmp/corrupt/checkpoint.bin" bs=1 seek=2000 conv=notrunc 2>/dev/null
expect 1 "checkpoint is corrupt" -- search --resume --out "$tmp/corrupt"
# a checkpoint edited with a checksum to match: its numbers are still checked
for kv in "step 99999" "epoch -3" "settings.temperature 0" "settings.samples 1e9" "adam_t 1e300"; do
  rm -rf "$tmp/edited" && cp -r "$tmp/a" "$tmp/edited" && rm -f "$tmp/edited/.parsec.lock"
  "$edit" "$tmp/edited/checkpoint.bin" $kv || fail "ckpt_edit $kv failed"
  key=${kv%% *}
  expect 1 "'${key#settings.}'" -- search --resume --out "$tmp/edited"
done
expect 1 "is not a parsec run: it has no config.json" -- show "$tmp"
expect 1 "no such run directory" -- show "$tmp/nothing-here"

finish
echo "all search CLI checks passed"
