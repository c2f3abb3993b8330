#!/usr/bin/env bash
# Fetches the build dependencies the GPU machine's image may lack (it reaches
# no package registry) as .deb files into .debs/ (ignored by git), to be
# carried with the check:  tests/gpu/fetch-debs.sh && (carry .debs, .bench)
# Also copies the PyTorch yardstick into .bench/.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .debs .bench
pkgs=(liblua5.4-dev liblua5.4-0 libcmocka-dev libcmocka0 libcjson-dev libcjson1 libopenblas-openmp-dev
      libopenblas0-openmp libopenblas-dev libopenblas0 libgfortran5 libgomp1 zlib1g-dev libssl-dev libssl3
      pkgconf pkgconf-bin libpkgconf3 pkg-config)
(cd .debs && apt-get download "${pkgs[@]}" >/dev/null)
ls .debs | wc -l | xargs echo "debs fetched:"
bench=${PARSEC_TORCH_BENCH:-../shared/bench/torch_child_step.py}
[ -f "$bench" ] && cp "$bench" .bench/ && echo "yardstick copied: .bench/$(basename "$bench")"
