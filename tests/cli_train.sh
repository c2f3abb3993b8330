#!/usr/bin/env bash
# parsec-run train end to end: a short training on a few Fashion-MNIST images
# that improves and writes every output; its C and CUDA exports (the CUDA one
# run on emulated CUDA threads) give its logits; resume; a published genotype; bad
# genotypes, weights and directories give clear messages.
set -u
run=$1 same=$2 src=$3 check=$4
prog=$run
source "$(dirname "$0")/cli_lib.sh"

v2="Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
echo "$v2" >"$tmp/v2.txt"
common=(small --genotype "$tmp/v2.txt" --limit 1024 --layers 3 --channels 8 --batch 64 --seed 3 --no-progress)

"$run" train "${common[@]}" --epochs 3 --out "$tmp/a" >"$tmp/a.out" 2>&1 || { fail "train failed"; cat "$tmp/a.out"; }
for f in log.jsonl weights.safetensors genotype.txt cells.dot checkpoint.bin; do
  [ -s "$tmp/a/$f" ] || fail "training wrote no $f"
done
[ "$(wc -l <"$tmp/a/log.jsonl")" = 3 ] || fail "log.jsonl should hold 3 epochs"
acc() { sed -n "$1p" "$tmp/a/log.jsonl" | grep -o "\"$2\":[0-9.]*" | cut -d: -f2; }
awk -v a="$(acc 1 train_acc)" -v b="$(acc 3 train_acc)" 'BEGIN { exit !(b > a + 0.1) }' ||
  fail "training accuracy did not improve ($(acc 1 train_acc) -> $(acc 3 train_acc))"
awk -v a="$(acc 3 test_acc)" 'BEGIN { exit !(a > 0.3) }' || fail "test accuracy $(acc 3 test_acc) after 3 epochs"
echo "ok: train accuracy $(acc 1 train_acc) -> $(acc 3 train_acc), test accuracy $(acc 3 test_acc)"
grep -q "test error" "$tmp/a.out" || fail "training does not report the test error"
grep -q "M parameters" "$tmp/a.out" || fail "training does not report the parameter count"
# the weights carry DARTS's state_dict names
for name in stem.0.weight cells.0.preprocess1.op.1.weight "cells.0._ops.0.op.1.weight" auxiliary_head.features.5.weight \
            classifier.weight cells.0.preprocess0.op.2.num_batches_tracked; do
  grep -aq "\"$name\"" "$tmp/a/weights.safetensors" || fail "weights.safetensors lacks $name"
done

show_ok "$tmp/a" "$tmp/show_a" 'curves.svg:data-label="train"' 'curves.svg:data-label="test"' 'curves.svg:accuracy (%)' \
  'cells.dot:digraph'
grep -qF "test error after epoch 3" "$tmp/show_a.txt" || fail "show of a training lacks its test error"

# resume: 2 epochs, then on to 3, equals 3 straight
"$run" train "${common[@]}" --epochs 3 --out "$tmp/b" -q || fail "second training failed"
"$same" "$tmp/a/checkpoint.bin" "$tmp/b/checkpoint.bin" >/dev/null || fail "two trainings with one seed differ"
# interrupted in its second epoch, then resumed: the straight run's state
PARSEC_TEST_INTERRUPT_AFTER=20 "$run" train "${common[@]}" --epochs 3 --out "$tmp/d" -q
rc=$?
[ "$rc" = 130 ] || fail "an interrupted training exits $rc, expected 130"
expect 2 "--resume: --seed is 3 in $tmp/d, and 4 here" -- train "${common[@]}" --epochs 3 --out "$tmp/d" --seed 4 --resume
expect 2 "--resume: --layers is 3 in $tmp/d, and 4 here" -- train small --layers 4 --out "$tmp/d" --resume
expect 2 "was started without --no-auxiliary" -- train --no-auxiliary --out "$tmp/d" --resume
expect 2 "is not the genotype $tmp/d trains" -- train small --genotype DARTS_V1 --out "$tmp/d" --resume
"$run" train "${common[@]}" --epochs 3 --out "$tmp/d" --resume -q || fail "resumed training (its own flags) failed"
"$same" "$tmp/a/checkpoint.bin" "$tmp/d/checkpoint.bin" >/dev/null || fail "resumed training differs from the straight one"
[ "$(wc -l <"$tmp/d/log.jsonl")" = 3 ] || fail "the resumed training's log should hold 3 epochs"
echo "ok: interrupted and resumed training equals the straight one"
grep -qF -- '"--resume"' "$tmp/d/config.json" || fail "config.json does not record the resume"
for k in '"kind":\s*"train"' '"genotype_from"' '"parameters_with_auxiliary"' '"test_images"' '"ir_sha256"' '"lr":\s*0.025'; do
  grep -qP -- "$k" "$tmp/a/config.json" || fail "a training's config.json lacks $k"
done
# every numeric option is honoured, 0 included where it means something
"$run" train "${common[@]}" --epochs 1 --limit 64 --lr 0 --drop-path 0 --cutout 0 --out "$tmp/lr0" -q || fail "--lr 0 failed"
grep -q '"lr":0,' "$tmp/lr0/log.jsonl" || fail "--lr 0 was not honoured: $(head -c 80 "$tmp/lr0/log.jsonl")"
expect 2 "--lr takes a number in [0, 10], not '-1'" -- train "${common[@]}" --lr -1
# label smoothing: recorded, changes the training, and a resume keeps it
"$run" train "${common[@]}" --epochs 1 --limit 64 --label-smoothing 0.1 --out "$tmp/ls" -q || fail "--label-smoothing failed"
grep -qP '"label_smoothing":\s*0.1' "$tmp/ls/config.json" || fail "config.json lacks the label smoothing"
"$run" train "${common[@]}" --epochs 1 --limit 64 --out "$tmp/ls0" -q || fail "a training without label smoothing failed"
cmp -s "$tmp/ls/weights.safetensors" "$tmp/ls0/weights.safetensors" && fail "--label-smoothing 0.1 changed nothing"
expect 2 "--resume: --label-smoothing is 0.1 in $tmp/ls, and 0.2 here" -- train "${common[@]}" --epochs 2 --limit 64 \
  --label-smoothing 0.2 --out "$tmp/ls" --resume
expect 2 "--label-smoothing takes a number in [0, 0.99], not '1'" -- train "${common[@]}" --label-smoothing 1

# export to C: builds with cc, and its logits are parsec's
"$run" export --run "$tmp/a" --target c -o "$tmp/exp_c" >"$tmp/exp.out" 2>&1 || { fail "export to C failed"; cat "$tmp/exp.out"; }
make -s -C "$tmp/exp_c" >"$tmp/make.out" 2>&1 || { fail "the exported C does not build"; tail -20 "$tmp/make.out"; }
F=/usr/share/datasets/fashion-mnist
"$tmp/exp_c/predict" "$tmp/exp_c/weights.bin" "$F/t10k-images-idx3-ubyte.gz" "$F/t10k-labels-idx1-ubyte.gz" \
  --limit 300 -q --logits "$tmp/exp_c/logits.npy" >"$tmp/pred.out" 2>&1 || { fail "predict failed"; cat "$tmp/pred.out"; }
grep -q "^accuracy" "$tmp/pred.out" || fail "predict does not report the accuracy"
"$check" "$tmp/a" fashion-mnist 300 "$tmp/exp_c/logits.npy" || fail "the exported network's logits differ from parsec's"
# export to CUDA: compiles with nvcc where the toolkit is installed
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
"$run" export --run "$tmp/a" --target cuda -o "$tmp/exp_cu" >/dev/null 2>&1 || fail "export to CUDA failed"
if [ -x "$nvcc" ]; then
  (cd "$tmp/exp_cu" && "$nvcc" -O2 -arch=sm_90 -c network.cu -o network.o >"$tmp/nvcc.out" 2>&1) ||
    { fail "the exported CUDA does not compile"; tail -20 "$tmp/nvcc.out"; }
  echo "ok: the exported CUDA compiles with nvcc"
else
  echo "skipped: no nvcc to compile the CUDA export"
fi
# and runs: network.cu built against the CUDA emulation (cuBLAS on OpenBLAS)
# gives parsec's logits on the same images
bash "$src/tests/emu/build_export.sh" "$tmp/exp_cu" >"$tmp/emu.out" 2>&1 ||
  { fail "the exported CUDA does not build against the emulation"; tail -20 "$tmp/emu.out"; }
"$tmp/exp_cu/predict_emu" "$tmp/exp_cu/weights.bin" "$F/t10k-images-idx3-ubyte.gz" "$F/t10k-labels-idx1-ubyte.gz" \
  --limit 300 -q --logits "$tmp/exp_cu/logits.npy" >"$tmp/pred_cu.out" 2>&1 ||
  { fail "the exported CUDA program failed on emulated CUDA threads"; cat "$tmp/pred_cu.out"; }
"$check" "$tmp/a" fashion-mnist 300 "$tmp/exp_cu/logits.npy" ||
  fail "the exported CUDA network's logits (emulated) differ from parsec's"
expect 2 "already exists" -- export --run "$tmp/a" --target c -o "$tmp/exp_c"
expect 1 "cannot be made" -- export --run "$tmp/a" --target c -o /dev/null/exp
expect 1 "is not a training run" -- export --run "$tmp/nothing" --target c -o "$tmp/exp_gone"
[ -e "$tmp/exp_gone" ] && fail "a failed export left its directory behind"
# the exported predict refuses what it cannot use, before any work
prog="$tmp/exp_c/predict"
P_args=("$tmp/exp_c/weights.bin" "$F/t10k-images-idx3-ubyte.gz")
expect 2 "--limit takes a whole number" -- "${P_args[@]}" --limit -5
expect 2 "--limit takes a whole number" -- "${P_args[@]}" --limit abc
expect 1 "cannot write /dev/null/logits.npy" -- "${P_args[@]}" --logits /dev/null/logits.npy
head -c 1568 /dev/zero | npy "$tmp/two.npy" '|u1' '(2, 28, 28)'
for bad in '\xff\xff\xff\xff\xff\xff\xff\xff:-1' '\xc8\x00\x00\x00\x00\x00\x00\x00:200' \
  '\x00\x10\xa5\xd4\xe8\x00\x00\x00:1000000000000'; do
  printf "\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00${bad%%:*}" | npy "$tmp/lab.npy" '<i8' '(2,)'
  expect 1 "label ${bad##*:} at index 1 is outside 0..9" -- "$tmp/exp_c/weights.bin" "$tmp/two.npy" "$tmp/lab.npy"
done
prog=$run
expect 1 "is not a training run" -- export --run "$tmp/pairs-does-not-exist" --target c -o "$tmp/exp_x"
sed "s/('sep_conv_3x3', 0), ('sep_conv_3x3', 1)/('dil_conv_5x5', 0), ('sep_conv_3x3', 1)/" "$tmp/v2.txt" >"$tmp/other.txt"
expect 1 "the weights do not match this genotype" -- export small --genotype "$tmp/other.txt" --weights "$tmp/a/weights.safetensors" --target c -o "$tmp/exp_y"
expect 2 "--target takes c, cuda or onnx" -- export --run "$tmp/a" --target rust -o "$tmp/exp_z"

# bad inputs
quick=(--epochs 1 --limit 64 --layers 3 --channels 8)
echo "${v2/sep_conv_3x3/sep_conv_9x9}" >"$tmp/bad1.txt"
expect 1 "bad1.txt:1:19: the normal cell uses the operation 'sep_conv_9x9'" -- train small --genotype "$tmp/bad1.txt" --out "$tmp/x" "${quick[@]}"
sed "s/('dil_conv_3x3', 2)/('dil_conv_3x3', 7)/" "$tmp/v2.txt" >"$tmp/bad2.txt"
expect 1 "node 3 of the normal cell reads input 7; it may read 0..4" -- train small --genotype "$tmp/bad2.txt" --out "$tmp/x" "${quick[@]}"
echo "Genotype(normal=[" >"$tmp/bad3.txt"
expect 1 "bad3.txt" -- train small --genotype "$tmp/bad3.txt" --out "$tmp/x" "${quick[@]}"
expect 2 "give the architecture with --run RUN or --genotype G" -- train small
expect 1 "no built-in genotype of that name (built-in: DARTS_V1, DARTS_V2" -- train small --genotype DARTS_V9 --out "$tmp/x"
expect 0 "3.349342 M parameters in the space 'darts'" -- genotypes DARTS
expect 0 "PC_DARTS_cifar   3.6 M      3.635 M" -- genotypes
expect 1 "no built-in genotype of that name" -- genotypes DARTS_V9

# the genotype forms people paste: a built-in name, FILE:NAME from a genotypes.py
{
  echo "from collections import namedtuple"
  echo "Genotype = namedtuple('Genotype', 'normal normal_concat reduce reduce_concat')"
  echo "MINE = ${v2//\[2, 3, 4, 5\]/range(2, 6)}"
  echo "OTHER = MINE"
} >"$tmp/genotypes.py"
expect 1 "genotypes.py holds 2 genotypes (MINE, OTHER): name one as" -- train small --genotype "$tmp/genotypes.py" --out "$tmp/x"
"$run" train small --genotype "$tmp/genotypes.py:OTHER" --out "$tmp/named" --quiet "${quick[@]}" || fail "train --genotype FILE:NAME"
grep -qF "$v2" "$tmp/named/genotype.txt" || fail "FILE:NAME: genotype.txt is not the genotype named"
"$run" train small --genotype PDARTS --out "$tmp/pdarts" --quiet "${quick[@]}" || fail "train --genotype PDARTS"
grep -qF "('dil_conv_5x5', 4)" "$tmp/pdarts/genotype.txt" || fail "--genotype PDARTS: genotype.txt is not P-DARTS's"
expect 2 "--device takes cpu, cuda, cuda:N or auto, not 'gpu'" -- train small --genotype "$tmp/bad1.txt" --device gpu
expect 2 "--genotype needs a value" -- train small --genotype
expect 1 "is not a search run" -- train --run "$tmp/a" --out "$tmp/x" "${quick[@]}"
expect 1 "there is no such run directory" -- train --resume --out "$tmp/nothing-here"
expect 2 "already holds a run (checkpoint.bin)" -- train "${common[@]}" --epochs 3 --out "$tmp/a"
touch "$tmp/afile"
expect 2 "exists and is not a directory" -- train "${common[@]}" --epochs 1 --out "$tmp/afile"

finish
echo "all train CLI checks passed"
