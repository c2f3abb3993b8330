#!/usr/bin/env bash
# Image folders end to end: Fashion-MNIST written as class folders of PNG
# and JPEG files (gray, RGB, RGBA, CMYK, some at twice the size; a corrupt
# JPEG, a text file named .png, a README) with train/ and val/ splits;
# parsec-run search and train read them, say what they skipped, write the
# class mapping and count the unreadable file; the index built by the
# search serves the training; the training learns (its test
# accuracy on val/); bad folders are refused with messages that say what to
# do.  Skipped (77) without Debian's dataset-fashion-mnist.
set -u
run=$1 mkfolder=$2
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

mkdir -p "$tmp/empty" "$tmp/noimages/a"
echo hi >"$tmp/noimages/a/x.txt"
expect 1 "not a directory" -- search small --data "folder:$tmp/none" --out "$tmp/x1"
expect 1 "no class directories in $tmp/empty" -- search small --data "folder:$tmp/empty" --out "$tmp/x2"
expect 1 "no .jpg, .jpeg or .png images below" -- search small --data "folder:$tmp/noimages" --out "$tmp/x3"
expect 2 "--augment takes auto, none, flip, crop-flip or imagenet, not 'rotate'" -- search small --data "$data" --augment rotate --out "$tmp/x4"
finish
