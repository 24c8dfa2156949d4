"""Time the C engine's batch X25519 and hash-to-curve for input-dependent running time.

A dudect-style fixed-vs-random check, for the CPU paths valgrind cannot run (tools/ct_check.sh
covers portable and avx2 by memcheck; valgrind has no AVX-512, so avx512ifma is only timed
here). For each path of ``_native.cpu_paths()`` and each secret input, calls with a fixed
input and calls with a fresh random input are interleaved in random order, the slowest 10% of
each class are dropped (interrupts, other processes) and Welch's t compares the means; |t|
above 4.5 is dudect's usual "a difference is detected". The fixed inputs are the extreme
ones: an all-zero scalar (clamped: one bit set), the point u = 0 (low order) and all-zero
messages (of the random ones' length, which is public). One call is one group of 8
lanes, a whole ladder or map per lane.

Not part of the test suite: timing on a shared machine is noisy, so a threshold there would
be a flaky test. Evidence, not proof: a leak smaller than the noise is not seen.

    python tools/check_native_timing.py [--per-class 3000] [--path avx512ifma]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from typing import TypeVar

from check_elligator_timing import _welch

from blindmatch import _native

DST = b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_RO_"
DST_PRIME = DST + bytes([len(DST)])
LANES = 8
T = TypeVar("T")


def measure(
    call: Callable[[T], object], fixed: Callable[[], T], fresh: Callable[[], T], per_class: int
) -> float:
    """Welch's t between call(fixed()) and call(fresh()) times (slowest 10% of each dropped).

    Every input (a copy of the fixed one, or a random one) is made before the timing loop, in
    the shuffled order: making them in the loop put os.urandom's system calls (which disturb
    caches and branch predictors) before the random class's calls only, a bias seen here as
    |t| up to 16 on code memcheck finds constant-time."""
    order = [True] * per_class + [False] * per_class
    random.shuffle(order)
    args = [fixed() if cls else fresh() for cls in order]
    times: dict[bool, list[int]] = {True: [], False: []}
    clock = time.perf_counter_ns
    for cls, arg in zip(order, args, strict=True):
        start = clock()
        call(arg)
        times[cls].append(clock() - start)
    kept = {c: sorted(t)[: int(len(t) * 0.9)] for c, t in times.items()}
    return _welch(kept[True], kept[False])


def run(path: str, per_class: int) -> None:
    points = os.urandom(32 * LANES)
    scalar = os.urandom(32)
    results = {
        "x25519 scalar (zero vs random)": measure(
            lambda k: _native.blind(points, [k], 1),
            lambda: bytes(32),
            lambda: os.urandom(32),
            per_class,
        ),
        "x25519 points (u=0 vs random)": measure(
            lambda p: _native.blind(p, [scalar], 1),
            lambda: bytes(32 * LANES),
            lambda: os.urandom(32 * LANES),
            per_class,
        ),
        "hash_to_curve messages (zero vs random)": measure(
            lambda m: _native.hash_to_curve(m, DST_PRIME, 1),
            lambda: [bytes(24) for _ in range(LANES)],
            lambda: [os.urandom(24) for _ in range(LANES)],
            per_class,
        ),
        # Both classes random: the noise floor of this machine, to read the rows above by.
        "control: hash_to_curve (random vs random)": measure(
            lambda m: _native.hash_to_curve(m, DST_PRIME, 1),
            lambda: [os.urandom(24) for _ in range(LANES)],
            lambda: [os.urandom(24) for _ in range(LANES)],
            per_class,
        ),
    }
    for name, t in results.items():
        verdict = "difference detected" if abs(t) > 4.5 else "no difference detected"
        print(f"{path}: {name}: Welch t = {t:.2f} ({verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=3000)
    parser.add_argument("--path", action="append", help="CPU path(s); default: all of them")
    args = parser.parse_args()
    chosen = _native.cpu_path()
    try:
        for path in args.path or _native.cpu_paths():
            _native.set_cpu_path(path)
            run(path, args.per_class)
    finally:
        _native.set_cpu_path(chosen)


if __name__ == "__main__":
    main()
