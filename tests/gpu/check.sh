#!/usr/bin/env bash
# The GPU check, for a lent H100/H200 (it runs in under 5 minutes, build
# included): builds parsec, runs the GPU tests (every kernel of the DARTS space
# through the CUDA backend against its CPU rendering; a search on CPU and GPU
# from one seed giving the same distribution), then times a child training
# step and a K = 8 search step on the DARTS search configuration beside
# PyTorch eager on the same GPU, and prints a table; then each layer's kernels
# beside cuDNN's at the same shapes, and a training step of the DARTS_V2
# evaluation network replayed as a CUDA graph against its kernels launched
# one by one.
#
# Beforehand, here: tests/gpu/fetch-debs.sh (build dependencies as .debs and
# the PyTorch yardstick, both ignored by git); carry .debs and .bench.
# Without a GPU it builds, runs the CUDA double, and stops before the GPU steps.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
out=${OUT:-/tmp/parsec-gpu}
mkdir -p "$out"
step() { printf '\n== %s (%ds)\n' "$*" "$SECONDS"; }

step "dependencies"
if [ -n "${FORCE_DEBS:-}" ] || ! pkg-config --exists lua5.4 cmocka libcjson openblas 2>/dev/null; then
  [ -d .debs ] || { echo "missing build dependencies and no .debs/ (run tests/gpu/fetch-debs.sh where apt works)"; exit 2; }
  prefix=/tmp/parsec-prefix
  for f in .debs/*.deb; do dpkg -x "$f" "$prefix"; done
  arch=$(ls "$prefix/usr/lib" | grep -- -linux-gnu | head -1)
  export PKG_CONFIG_SYSROOT_DIR=$prefix
  export PKG_CONFIG_PATH=$prefix/usr/lib/$arch/pkgconfig:$prefix/usr/lib/$arch/openblas-openmp/pkgconfig:$prefix/usr/share/pkgconfig
  export PATH=$prefix/usr/bin:$PATH
  export LD_LIBRARY_PATH=$prefix/usr/lib/$arch:$prefix/usr/lib/$arch/openblas-openmp:${LD_LIBRARY_PATH:-}
  export LIBRARY_PATH=$LD_LIBRARY_PATH
  extra=(-DOPENSSL_ROOT_DIR=$prefix/usr -DZLIB_ROOT=$prefix/usr)
  echo "unpacked $(ls .debs/*.deb | wc -l) packages into $prefix"
else
  extra=()
  echo "build dependencies found"
fi

step "build"
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release "${extra[@]}" >"$out/cmake.log" 2>&1 || { tail -30 "$out/cmake.log"; exit 1; }
cmake --build build-gpu -j"$(nproc)" >"$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -30; exit 1; }
echo "built"
export PARSEC_CACHE_DIR=$root/build-gpu/test-cache

step "the CUDA backend's host side, through the driver double"
ctest --test-dir build-gpu -R test_cuda_double --output-on-failure | grep -E "tests passed|tests failed|Failed|Error"

if ! nvidia-smi -L >/dev/null 2>&1; then
  step "no GPU here: stopping before the GPU steps"
  exit 0
fi
nvidia-smi -L

step "GPU tests: every kernel against its CPU rendering"
ctest --test-dir build-gpu -L gpu --output-on-failure -V 2>&1 | grep -E "GPU:|plan:|values|step [0-9]:|Passed|Failed|SKIPPED|differ|changed" | tee "$out/gpu-tests.txt"

step "a search on the CPU and on the GPU from one seed"
build-gpu/tests/mkdata "$out/img.npy" "$out/lab.npy" 600 8 8 2 5 1
for d in cpu cuda; do
  build-gpu/parsec-run search tests/spaces/tiny.lua --data "npy:$out/img.npy,$out/lab.npy" --epochs 2 --seed 3 \
    --device $d --out "$out/search-$d" -q || echo "search on $d failed"
done
paste <(grep '"p":' "$out/search-cpu/distribution.json") <(grep '"p":' "$out/search-cuda/distribution.json") |
  tr -d '",' | awk '{ d = $2 - $4; if (d < 0) d = -d; if (d > m) m = d } END {
    printf "largest difference of a probability: %.2g (%s)\n", m, m < 1e-3 ? "same distribution" : "DIFFERENT" }'

step "timings, DARTS search configuration (batch 64, K = 8)"
build-gpu/bench/step_bench darts --device cuda --reps 10 --profile 2>"$out/profile.txt" | tee "$out/parsec.json"
sed -n '1,/^# forward-only/p' "$out/profile.txt" | head -30 # where a DARTS_V2 training step's GPU time goes
torch=.bench/torch_child_step.py
if [ -f "$torch" ]; then
  python3 "$torch" --config darts --device cuda --reps 10 | tee "$out/torch.json"
else
  echo "no .bench/torch_child_step.py: run tests/gpu/fetch-debs.sh and carry .bench"
fi
python3 - "$out/parsec.json" "$out/torch.json" <<'PY' 2>/dev/null || true
import json, sys
p = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2]))
print("%-28s %10s %10s %8s" % ("DARTS config, one GPU", "parsec", "PyTorch", "ratio"))
for k, name in (("child_train_step_s", "child training step (s)"), ("child_forward_s", "no-grad forward (s)"),
                ("parsec_step_s", "K = 8 search step (s)")):
    print("%-28s %10.4f %10.4f %8.2f" % (name, p[k], t[k], p[k] / t[k]))
print("projected 100-epoch K = 16 CIFAR-10 search: %.1f h (25,000 images, batch 64: 391 steps per epoch)"
      % (p["parsec_step_s"] * 2 * 391 * 100 / 3600))
PY
step "per layer on the GPU: parsec's kernels, then cuDNN at the same shapes"
build-gpu/bench/layer_bench --device cuda --reps 20 | tee "$out/layers-parsec.txt"
if [ -x build-gpu/bench/cudnn_layers ]; then
  build-gpu/bench/cudnn_layers --reps 20 | tee "$out/layers-cudnn.txt"
else
  echo "cudnn_layers not built: the toolkit has no cuDNN headers and library"
fi

step "CUDA graphs or kernel by kernel: DARTS_V2 evaluation network (C 36, 20 cells, batch 96)"
build-gpu/tests/mkdata "$out/c10-img.npy" "$out/c10-lab.npy" 960 32 32 3 10 1
cat >"$out/darts_v2.txt" <<'G'
Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])
G
for mode in graphs kernels; do
  flag=(); [ $mode = kernels ] && flag=(--no-graphs)
  build-gpu/parsec-run train --genotype "$out/darts_v2.txt" --data "npy:$out/c10-img.npy,$out/c10-lab.npy" --epochs 2 \
    --device cuda "${flag[@]}" --out "$out/train-$mode" -q || echo "train ($mode) failed"
done
for mode in graphs kernels; do # epoch 2: kernels compiled, 10 steps; the same seed, so the same losses
  last=$(tail -1 "$out/train-$mode/log.jsonl" 2>/dev/null)
  secs=$(grep -o '"seconds":[0-9.e+-]*' <<<"$last" | cut -d: -f2)
  loss=$(grep -o '"train_loss":[0-9.e+-]*' <<<"$last" | cut -d: -f2)
  awk -v m=$mode -v s="${secs:-0}" -v l="${loss:-nan}" 'BEGIN { printf "training step, %-8s %.2f ms  (train loss %s)\n", m, s * 100, l }'
done
tail -1 "$out/train-graphs/log.jsonl" 2>/dev/null | grep -o '"graph_launches":[0-9]*' || echo "no graph launches logged"

step "done"
