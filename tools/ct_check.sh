#!/usr/bin/env bash
# Check the C engine for secret-dependent branches and memory accesses: build
# tools/ct/ct_harness.c with the engine's sources (same flags as setup.py) and run it under
# valgrind memcheck with the scalar and the hashed messages marked undefined. Exit 0 iff
# memcheck reports no error. Needs gcc and valgrind (apt-get install -y valgrind).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
flags=(-O3 -g -std=c11 -pthread -Wall -Wextra -Wno-unused-parameter -I"$root/csrc")
srcs=("$root/csrc/bm_curve.c" "$root/csrc/bm_sha2.c")
case "$(uname -m)" in
  x86_64|amd64)
    flags+=(-DBM_HAVE_AVX2_PATH=1); srcs+=("$root/csrc/bm_avx2.c")
    # valgrind cannot execute AVX-512: the IFMA path is built with its intrinsics written in
    # portable C (tools/ct/ifma_emul.h), so memcheck checks that file's own branches and
    # addresses; tools/check_native_timing.py times the real instructions.
    flags+=(-DBM_HAVE_IFMA_PATH=1 -DBM_IFMA_EMULATE=1 -I"$root/tools/ct")
    srcs+=("$root/csrc/bm_ifma.c") ;;
esac
gcc "${flags[@]}" -o "$build/ct_harness" "$root/tools/ct/ct_harness.c" "${srcs[@]}"
if valgrind --tool=memcheck --error-exitcode=1 -q "$build/ct_harness" --leak-demo >/dev/null 2>&1; then
  echo "ct_check: memcheck missed the deliberate leak; the check itself is broken" >&2
  exit 2
fi
echo "ct_check: memcheck flags a deliberate branch on a secret byte (the marking works)"
valgrind --tool=memcheck --error-exitcode=1 --track-origins=yes -q "$build/ct_harness"
echo "ct_check: no secret-dependent branch or memory access found (valgrind memcheck)"
