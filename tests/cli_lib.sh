# Shared by the command-line tests (sourced after setting prog, the program
# under test): a scratch directory $tmp removed at exit, fail MESSAGE, which
# counts a failure, expect CODE NEEDLE -- ARGS, which runs "$prog" ARGS and
# checks its exit code and that NEEDLE appears in its output (stdout and
# stderr together), show_ok (below), finish, which exits 1 when anything
# failed, and npy OUT DESCR SHAPE, which writes standard input as a NumPy
# .npy array.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

expect() {
  local code=$1 needle=$2 name out rc
  shift 3
  name=$(basename "$prog")
  out=$("$prog" "$@" 2>&1)
  rc=$?
  if [ "$rc" != "$code" ]; then fail "$name $* exited $rc, expected $code"; echo "$out" | tail -20; return; fi
  grep -qF -- "$needle" <<<"$out" || { fail "$name $* did not say '$needle'"; echo "$out" | tail -20; return; }
  echo "ok: $name $* -> $rc"
}

# show_ok RUN DIR FILE:NEEDLE...: parsec-run show RUN --out DIR leaves the
# files of RUN as they were (their hashes), draws SVGs that parse as XML,
# and each FILE in DIR holds its NEEDLE; the text it printed is DIR.txt.
show_ok() {
  local r=$1 out=$2 before after f need
  shift 2
  before=$(cd "$r" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
  "$prog" show "$r" --out "$out" >"$out.txt" 2>&1 || { fail "show $r failed"; cat "$out.txt"; return; }
  after=$(cd "$r" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
  [ "$before" = "$after" ] || fail "show changed the files of $r"
  for f in "$out"/*.svg; do
    if command -v xmllint >/dev/null; then xmllint --noout "$f" || fail "$f is not well-formed XML"; fi
  done
  for need in "$@"; do
    grep -qF -- "${need#*:}" "$out/${need%%:*}" 2>/dev/null || fail "show: $out/${need%%:*} lacks '${need#*:}'"
  done
  echo "ok: show $r --out $out"
}

finish() {
  if [ "$fails" -ne 0 ]; then echo "$fails check(s) failed"; exit 1; fi
}

npy() {
  local h="{'descr': '$2', 'fortran_order': False, 'shape': $3, }"
  local n=$((${#h} + 1))
  local pad=$(((64 - (10 + n) % 64) % 64))
  local hl=$((n + pad))
  {
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((hl & 255)))\\x$(printf %02x $((hl >> 8)))"
    printf '%s%*s\n' "$h" "$pad" ''
    cat
  } >"$1"
}
