#!/usr/bin/env bash
# The documentation a user reaches for: a man page per tool and command,
# made from the same help text (every option of `parsec-run train --help`
# is on parsec-run-train(1)), and bash completion of commands, options,
# choices and built-in genotype names.
set -u
run=$1 src=$2 man=$3
prog=$run
source "$(dirname "$0")/cli_lib.sh"

if [ -d "$man" ]; then
  for page in parsecgen parsec-run parsec-run-search parsec-run-train parsec-run-export parsec-run-sample \
              parsec-run-genotypes parsec-run-show parsec-run-cache; do
    [ -s "$man/$page.1" ] || fail "no man page $page.1"
  done
  for opt in $("$run" train --help | grep -oE '^  --[a-z-]+'); do
    grep -qF -- "${opt//-/\\-}" "$man/parsec-run-train.1" || fail "parsec-run-train.1 lacks $opt"
  done
  grep -q '^\.TH PARSEC-RUN-TRAIN ' "$man/parsec-run-train.1" || fail "parsec-run-train.1 is not titled PARSEC-RUN-TRAIN"
  if command -v man >/dev/null; then
    man -l "$man/parsec-run-show.1" 2>/dev/null | grep -q "pi.svg" || fail "man parsec-run-show does not render"
  fi
  echo "ok: man pages"
else
  echo "skipped: no man pages were built (help2man is not installed)"
fi

source "$src/tools/parsec-run.bash-completion"
complete_line() { # the completions bash offers after the words given
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  if [ "$(basename "$1")" = parsecgen ]; then _parsecgen; else _parsec_run; fi
  echo " ${COMPREPLY[*]} "
}
[[ $(complete_line "$run" se) == *" search "* ]] || fail "completion: 'se' does not give search"
[[ $(complete_line "$run" search --sam) == *" --samples "* ]] || fail "completion: search --sam does not give --samples"
[[ $(complete_line "$run" train --genotype PC) == *" PC_DARTS_cifar "* ]] || fail "completion: --genotype PC"
[[ $(complete_line "$run" train --device c) == *" cpu "* ]] || fail "completion: --device c"
[[ $(complete_line "$run" export --target c) == *" cuda "* ]] || fail "completion: --target c"
[[ $(complete_line "$run" cache c) == " clear " ]] || fail "completion: cache c"
for c in $("$run" --help | grep -oE '^  [a-z]+' | tr -d ' '); do # every command the help lists
  [[ $(complete_line "$run" "${c:0:2}") == *" $c "* ]] || fail "completion: '${c:0:2}' does not give $c"
  [[ $(complete_line "$run" help "${c:0:2}") == *" $c "* ]] || fail "completion: help '${c:0:2}' does not give $c"
done
[[ $(complete_line "$run" export --target o) == " onnx " ]] || fail "completion: --target o"
[[ $(complete_line "$run" ensemble --pick t) == " top " ]] || fail "completion: --pick t"
[[ $(complete_line "$run" train --label) == *" --label-smoothing "* ]] || fail "completion: train --label"
[[ $(complete_line "$(dirname "$run")/parsecgen" --pre) == *" --precompile "* ]] || fail "completion: parsecgen --pre"
echo "ok: bash completion"
finish
