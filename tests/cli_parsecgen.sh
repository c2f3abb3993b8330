#!/usr/bin/env bash
# parsecgen from the command line: exit codes, messages, the compiled space.
set -u
gen=$1
src=$2
prog=$gen
source "$(dirname "$0")/cli_lib.sh"

expect 0 "parent network parameters: 1,930,618" -- "$src/examples/darts.lua"
expect 0 "8.30e10 per cell type, 6.89e21 for a normal plus a reduction cell" -- "$src/examples/darts.lua"
expect 0 "sizes 14 21 28 35" -- "$src/examples/darts.lua"
expect 0 "parent network parameters: 393,778" -- "$src/examples/small.lua"
expect 0 "conv_7x1_1x7" -- "$src/examples/custom_op.lua"
expect 0 "parent network parameters: 393,778" -- small
expect 0 "wrote $tmp/small/space.json" -- "$src/examples/small.lua" -o "$tmp/small"
for f in space.json kernels.c kernels.cu kernels.txt; do
  test -s "$tmp/small/$f" || fail "parsecgen -o wrote no $f"
done
grep -q '__global__ void dwconv_fwd_' "$tmp/small/kernels.cu" || fail "kernels.cu lacks CUDA kernels"
grep -q '#pragma omp parallel for' "$tmp/small/kernels.c" || fail "kernels.c lacks OpenMP loops"
expect 0 "parent network parameters: 393,778" -- "$tmp/small"
expect 2 "usage: parsecgen" --
expect 2 "unknown option '--frobnicate'" -- --frobnicate small
expect 2 "-o needs a value" -- small -o
expect 2 "--precompile takes cpu or cuda, not 'gpu'" -- small --precompile gpu
expect 0 "usage: parsecgen" -- --help

printf 'return space{network = {celss = 4}}\n' > "$tmp/typo.lua"
expect 1 "did you mean 'cells'" -- "$tmp/typo.lua"
printf 'os.execute("touch %s/pwned")\nreturn space{}\n' "$tmp" > "$tmp/os.lua"
expect 1 "typo.lua" -- "$tmp/typo.lua"
expect 1 "os.lua:1: 'os' is not available" -- "$tmp/os.lua"
test -e "$tmp/pwned" && fail "the sandbox let os.execute run"
printf 'return space{\n  cell = {nodes = 0}\n}\n' > "$tmp/zero.lua"
expect 1 "zero.lua:1: space.cell: 'nodes' must be at least 1" -- "$tmp/zero.lua"
expect 1 "cannot open the space file" -- "$tmp/missing.lua"
expect 1 "no bundled space named 'nosuch'" -- nosuch
# a hand-edited compiled space meets the same checks as a Lua space: each
# edit below is refused with the field it broke, never a crash
edit() { # edit NAME SED-EXPRESSION: a copy of the compiled space, edited
  mkdir -p "$tmp/$1"
  sed "$2" "$tmp/small/space.json" >"$tmp/$1/space.json"
}
edit stride0 '0,/"sh":\t1/s//"sh":\t0/'
expect 1 "stride is 0; it must lie in 1..16" -- "$tmp/stride0"
edit groups '0,/"groups":\t1/s//"groups":\t-1/'
expect 1 "groups is -1" -- "$tmp/groups"
edit kernel '0,/"kh":\t3/s//"kh":\t1000000/'
expect 1 "kernel is 1000000" -- "$tmp/kernel"
edit chans '0,/"channels":\t8/s//"channels":\t0/'
expect 1 "channels is 0" -- "$tmp/chans"
edit inchans '0,/"input_channels":\t1/s//"input_channels":\t-3/'
expect 1 "input.channels is -3" -- "$tmp/inchans"
edit inf 's/"temperature":\t1/"temperature":\t1e999/'
expect 1 "'search.temperature' is missing or has the wrong type" -- "$tmp/inf"
edit huge 's/"samples":\t8/"samples":\t1e12/'
expect 1 "'search.samples' is missing or has the wrong type" -- "$tmp/huge"
edit name 's/"name":\t"small"/"name":\t"sm\\u0001all"/'
expect 1 "control character" -- "$tmp/name"
echo '{"format": "parsec-space", "version": 99}' > "$tmp/space.json"
expect 1 "format version 99 is not known" -- "$tmp"

finish
echo "all parsecgen CLI checks passed"
