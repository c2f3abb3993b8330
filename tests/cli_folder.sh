#!/usr/bin/env bash
# Image folders end to end: Fashion-MNIST written as class folders of PNG
# and JPEG files (gray, RGB, RGBA, CMYK, some at twice the size; a corrupt
# JPEG, a text file named .png, a README) with train/ and val/ splits;
# parsec-run search and train read them, say what they skipped, write the
# class mapping and count the unreadable file; the index built by the
# search serves the training; the training learns (its test
# accuracy on val/); bad folders are refused with messages that say what to
# do.  DARTS's ImageNet network (darts_imagenet) at 64 px: DARTS's tensor
# names, a short training on the folder, and its C and CUDA exports' logits
# are parsec's (the CUDA one on emulated CUDA threads).  Skipped (77) without Debian's dataset-fashion-mnist.
set -u
run=$1 mkfolder=$2 check=$3 src=$4
prog=$run
source "$(dirname "$0")/cli_lib.sh"

if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${PARSEC_FASHION_MNIST:-}" ]; then
  echo "skipped: no Fashion-MNIST (apt-get install dataset-fashion-mnist)"
  exit 77
fi
"$mkfolder" "$tmp/f" 1200 --splits || { fail "mkfolder failed"; finish; }
data="folder:$tmp/f"

"$run" search small --data "$data" --epochs 1 --samples 2 --limit 256 --seed 1 --no-progress --out "$tmp/s" \
  >"$tmp/s.out" 2>&1 || { fail "a search on the folder failed"; cat "$tmp/s.out"; }
grep -q "data: 1x28x28 images, augmentation: random crop (padding 3), flip; $tmp/f/train: 10 classes (index built)" "$tmp/s.out" ||
  { fail "the search does not describe the folder"; cat "$tmp/s.out"; }
grep -q "1 file named like an image but not one skipped (the first: $tmp/f/train/T-shirt_top/notes.png); 1 other file ignored" \
  "$tmp/s.out" || fail "the search does not say what it skipped and ignored"
[ "$(sed -n 1p "$tmp/s/classes.txt")" = "0 Ankle boot" ] && [ "$(sed -n 9p "$tmp/s/classes.txt")" = "8 T-shirt_top" ] ||
  fail "classes.txt: $(tr '\n' '|' <"$tmp/s/classes.txt")"
grep -q '"unreadable_images":' "$tmp/s/log.jsonl" || fail "the search's log lacks unreadable_images"
echo "ok: search on an image folder"

v2="Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
echo "$v2" >"$tmp/v2.txt"
"$run" train small --genotype "$tmp/v2.txt" --data "$data" --augment none --layers 3 --channels 8 --batch 64 --epochs 3 \
  --seed 3 --no-progress --out "$tmp/t" >"$tmp/t.out" 2>&1 || { fail "training on the folder failed"; cat "$tmp/t.out"; }
acc=$(tail -1 "$tmp/t/log.jsonl" | grep -o '"test_acc":[0-9.]*' | cut -d: -f2)
bad=$(tail -1 "$tmp/t/log.jsonl" | grep -o '"unreadable_images":[0-9]*' | cut -d: -f2)
awk -v a="${acc:-0}" 'BEGIN { exit !(a > 0.3) }' || fail "test accuracy on val/ after 3 epochs: ${acc:-none}"
# the corrupt file: once in the statistics' sample, once an epoch
[ "${bad:-x}" = 4 ] || fail "unreadable_images is ${bad:-absent}, expected 4"
grep -q "corrupt.jpg: not a readable JPEG" "$tmp/t.out" || fail "the corrupt file is not named"
[ -s "$tmp/t/classes.txt" ] || fail "training wrote no classes.txt"
grep -q "$tmp/f/train: 10 classes (index from .parsec-index)" "$tmp/t.out" || fail "the training did not reuse the index"
echo "ok: training on an image folder: test accuracy $acc on val/, $bad unreadable"

# DARTS's ImageNet network, small: 5 cells of C 8 at 64 px (stems to 8x8)
"$run" train darts_imagenet --genotype DARTS_V2 --data "$data" --image-size 64 --layers 5 --channels 8 --epochs 2 \
  --batch 32 --limit 400 --seed 1 --no-progress --out "$tmp/in" >"$tmp/in.out" 2>&1 ||
  { fail "training darts_imagenet failed"; cat "$tmp/in.out"; }
grep -q "data: 3x64x64 images, augmentation: random resized crop, flip, colour jitter 0.4/0.4/0.4/0.2" "$tmp/in.out" ||
  fail "the ImageNet network's data is not 3x64x64 with the imagenet recipe"
grep -q '"lr":0.097' "$tmp/in/log.jsonl" || fail "the learning rate does not decay by 0.97 an epoch"
for name in stem0.0.weight stem0.1.running_var stem0.3.weight stem0.4.bias stem1.1.weight stem1.2.weight \
            cells.0.preprocess0.conv_1.weight auxiliary_head.features.5.weight classifier.weight; do
  grep -aq "\"$name\"" "$tmp/in/weights.safetensors" || fail "the ImageNet network's weights lack $name"
done
grep -aq '"auxiliary_head.features.6' "$tmp/in/weights.safetensors" && fail "DARTS's ImageNet auxiliary head has no BN at 6"
"$run" export --run "$tmp/in" --target c -o "$tmp/in_c" >/dev/null 2>&1 || fail "exporting the ImageNet network failed"
make -s -C "$tmp/in_c" >/dev/null 2>&1 || fail "the ImageNet network's C export does not build"
head -c $((16 * 64 * 64 * 3)) /dev/urandom | npy "$tmp/rgb.npy" '|u1' '(16, 64, 64, 3)'
printf '\x01\x02\x03\x04\x05\x06\x07\x08\x09\x00\x01\x02\x03\x04\x05\x06' | npy "$tmp/rgb_lab.npy" '|u1' '(16,)'
"$tmp/in_c/predict" "$tmp/in_c/weights.bin" "$tmp/rgb.npy" --limit 16 -q --logits "$tmp/in_c/logits.npy" >/dev/null ||
  fail "the ImageNet network's predict failed"
"$check" "$tmp/in" "npy:$tmp/rgb.npy,$tmp/rgb_lab.npy" 16 "$tmp/in_c/logits.npy" ||
  fail "the ImageNet network's exported logits differ from parsec's"
# its CUDA export, built against the CUDA emulation, gives them too
"$run" export --run "$tmp/in" --target cuda -o "$tmp/in_cu" >/dev/null 2>&1 || fail "exporting it to CUDA failed"
bash "$src/tests/emu/build_export.sh" "$tmp/in_cu" >"$tmp/in_emu.out" 2>&1 ||
  { fail "its CUDA export does not build against the emulation"; tail -20 "$tmp/in_emu.out"; }
"$tmp/in_cu/predict_emu" "$tmp/in_cu/weights.bin" "$tmp/rgb.npy" --limit 16 -q --logits "$tmp/in_cu/logits.npy" \
  >/dev/null 2>&1 || fail "its CUDA export failed on emulated CUDA threads"
"$check" "$tmp/in" "npy:$tmp/rgb.npy,$tmp/rgb_lab.npy" 16 "$tmp/in_cu/logits.npy" ||
  fail "its CUDA export's logits (emulated) differ from parsec's"
echo "ok: darts_imagenet at 64 px: trained on the folder, DARTS's names, its C and CUDA exports' logits"

mkdir -p "$tmp/empty" "$tmp/noimages/a"
echo hi >"$tmp/noimages/a/x.txt"
expect 1 "not a directory" -- search small --data "folder:$tmp/none" --out "$tmp/x1"
expect 1 "no class directories in $tmp/empty" -- search small --data "folder:$tmp/empty" --out "$tmp/x2"
expect 1 "no .jpg, .jpeg or .png images below" -- search small --data "folder:$tmp/noimages" --out "$tmp/x3"
expect 2 "--augment takes auto, none, flip, crop-flip or imagenet, not 'rotate'" -- search small --data "$data" --augment rotate --out "$tmp/x4"
finish
