#!/usr/bin/env bash
# Builds the predict program of a CUDA export (parsec-run export --target
# cuda -o DIR) against the CUDA emulation instead of nvcc: network.cu
# unchanged but for its launches, kernel<<<g, b>>>(...) written
# EMU_LAUNCH(kernel, g, b)(...) (no host compiler parses the chevrons),
# compiled by the host C++ compiler with cuda_emu.h and the runtime and
# cuBLAS stand-ins of include/; predict.c by the C compiler.
#   build_export.sh DIR  ->  DIR/predict_emu
set -euo pipefail
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
sed -E 's/([A-Za-z_][A-Za-z0-9_]*)<<<(.*)>>>\(/EMU_LAUNCH(\1, \2)(/' "$dir/network.cu" >"$dir/network_emu.cpp"
if grep -q '<<<' "$dir/network_emu.cpp"; then
  echo "build_export.sh: a launch in $dir/network.cu was not rewritten" >&2
  exit 1
fi
blas=$(pkg-config --cflags --libs openblas)
# shellcheck disable=SC2086
"${CXX:-c++}" -std=gnu++17 -O1 -w -include "$here/cuda_emu.h" -I "$here/include" -I "$dir" $blas \
  -c "$dir/network_emu.cpp" -o "$dir/network_emu.o"
"${CC:-cc}" -O2 -c "$dir/predict.c" -o "$dir/predict_emu.o"
# shellcheck disable=SC2086
"${CXX:-c++}" -o "$dir/predict_emu" "$dir/predict_emu.o" "$dir/network_emu.o" $blas -lz
