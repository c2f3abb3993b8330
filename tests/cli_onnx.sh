#!/usr/bin/env bash
# The ONNX export in the tools people deploy with: a small network trained,
# exported as model.onnx and as C; ONNX's checker passes the model and
# onnxruntime's logits on real Fashion-MNIST images agree with the C
# export's (which cli_train holds to parsec's own) within 1e-4 + 1e-4|x|;
# the same for DARTS's ImageNet network (its stems) on random RGB images.
# Needs a Python with onnx, onnxruntime and numpy (PYTHON; .ci/setup makes
# one in .venv-interop); without one it reports itself skipped (77).
set -u
run=$1 python=$2 src=$3
prog=$run
source "$(dirname "$0")/cli_lib.sh"

if ! "$python" -c "import onnx, onnxruntime, numpy" 2>/dev/null; then
  echo "skipped: $python lacks onnx, onnxruntime or numpy (.ci/setup installs them into .venv-interop)"
  exit 77
fi
F=/usr/share/datasets/fashion-mnist
# every op of the space in both cells: pools, separable and dilated convs,
# skips (a factorized reduce at stride 2)
every="Genotype(normal=[('avg_pool_3x3', 0), ('max_pool_3x3', 1), ('sep_conv_5x5', 0), ('dil_conv_5x5', 2), \
('skip_connect', 1), ('sep_conv_3x3', 3), ('dil_conv_3x3', 4), ('skip_connect', 2)], normal_concat=range(2, 6), \
reduce=[('skip_connect', 0), ('avg_pool_3x3', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 2), ('dil_conv_5x5', 1), \
('sep_conv_3x3', 3), ('dil_conv_3x3', 0), ('skip_connect', 4)], reduce_concat=range(2, 6))"
"$run" train small --genotype "$every" --epochs 1 --limit 512 --layers 3 --channels 8 --seed 2 --out "$tmp/a" -q ||
  { fail "training failed"; finish; }
"$run" export --run "$tmp/a" --target onnx -o "$tmp/onnx" >"$tmp/onnx.out" 2>&1 || { fail "ONNX export failed"; cat "$tmp/onnx.out"; }
grep -q "input 'images': float32 \[batch, 1, 28, 28\]" "$tmp/onnx.out" || fail "the export does not say what the model takes"
[ -s "$tmp/onnx/cells.dot" ] || fail "the ONNX export lacks cells.dot"
"$run" export --run "$tmp/a" --target c -o "$tmp/c" >/dev/null 2>&1 || fail "C export failed"
make -s -C "$tmp/c" >/dev/null 2>&1 || fail "the C export does not build"
"$tmp/c/predict" "$tmp/c/weights.bin" "$F/t10k-images-idx3-ubyte.gz" "$F/t10k-labels-idx1-ubyte.gz" --limit 500 -q \
  --logits "$tmp/c/logits.npy" >/dev/null || fail "predict failed"
"$python" "$src/tests/interop/onnx_check.py" "$tmp/onnx/model.onnx" "$F/t10k-images-idx3-ubyte.gz" 500 \
  "$tmp/c/logits.npy" || fail "onnxruntime's logits differ from parsec's"
# an ensemble: one graph, the mean of its members' softmax
"$run" search small --epochs 1 --limit 256 --samples 2 --seed 1 --out "$tmp/s" -q || fail "search failed"
"$run" ensemble --run "$tmp/s" --members 2 --epochs 1 --limit 512 --layers 3 --channels 8 --out "$tmp/en" -q ||
  fail "ensemble failed"
"$run" export --run "$tmp/en" --target onnx -o "$tmp/en_onnx" >"$tmp/en.out" 2>&1 || { fail "ensemble ONNX export failed"; cat "$tmp/en.out"; }
grep -q "output 'probabilities'" "$tmp/en.out" || fail "the ensemble's export does not say what it outputs"
for k in 1 2; do
  "$run" export --run "$tmp/en/member-$k" --target c -o "$tmp/m$k" >/dev/null && make -s -C "$tmp/m$k" >/dev/null 2>&1 &&
    "$tmp/m$k/predict" "$tmp/m$k/weights.bin" "$F/t10k-images-idx3-ubyte.gz" --limit 500 -q --logits "$tmp/m$k/logits.npy" \
      >/dev/null || fail "member $k's C export"
done
"$python" "$src/tests/interop/onnx_check.py" "$tmp/en_onnx/model.onnx" "$F/t10k-images-idx3-ubyte.gz" 500 \
  "$tmp/m1/logits.npy" "$tmp/m2/logits.npy" || fail "the ensemble's ONNX probabilities differ from its members' mean"

# DARTS's ImageNet network (its stems), small: 5 cells of C 8 at 64 px, on random RGB images
head -c $((64 * 64 * 64 * 3)) /dev/urandom | npy "$tmp/rgb.npy" '|u1' '(64, 64, 64, 3)'
head -c 64 /dev/urandom | od -An -tu1 -v | tr -s ' ' '\n' | grep -v '^$' | awk '{ printf "%c", $1 % 10 }' |
  npy "$tmp/rgb_lab.npy" '|u1' '(64,)'
"$run" train darts_imagenet --genotype "$every" --data "npy:$tmp/rgb.npy,$tmp/rgb_lab.npy" --image-size 64 --layers 5 \
  --channels 8 --epochs 1 --batch 16 --seed 2 --out "$tmp/in" -q || fail "training darts_imagenet failed"
"$run" export --run "$tmp/in" --target onnx -o "$tmp/in_onnx" >/dev/null 2>&1 || fail "darts_imagenet's ONNX export failed"
"$run" export --run "$tmp/in" --target c -o "$tmp/in_c" >/dev/null 2>&1 && make -s -C "$tmp/in_c" >/dev/null 2>&1 &&
  "$tmp/in_c/predict" "$tmp/in_c/weights.bin" "$tmp/rgb.npy" --limit 32 -q --logits "$tmp/in_c/logits.npy" >/dev/null ||
  fail "darts_imagenet's C export"
"$python" "$src/tests/interop/onnx_check.py" "$tmp/in_onnx/model.onnx" "$tmp/rgb.npy" 32 "$tmp/in_c/logits.npy" ||
  fail "onnxruntime's logits of darts_imagenet differ from parsec's"

expect 2 "--target takes c, cuda or onnx" -- export --run "$tmp/a" --target tflite -o "$tmp/x"
expect 2 "already exists" -- export --run "$tmp/a" --target onnx -o "$tmp/onnx"
finish
