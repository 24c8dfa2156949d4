"""Measure whether the CPace generator's Elligator 2 map leaks its square class by timing.

A dudect-style check of :func:`blindmatch.crypto.elligator.elligator2_map` (the constant-time
Python fallback, protocol_spec.md §13.4): inputs of the two classes the map distinguishes
internally (g(x1) a square or not) are timed in random interleaved order, the slowest 10% of
each class are dropped (interrupts, other processes), and Welch's t statistic compares the
means. |t| above 4.5 is dudect's usual threshold for "a difference is detected". For contrast it
times RFC 9380's variable-time map from :mod:`blindmatch.crypto.h2c` on the same inputs.

Not part of the test suite: timing on a shared machine is noisy, so a failed threshold there
would be a flaky test. The structural property (one control flow for every input) is tested in
``tests/test_cpace_draft.py``.

    python tools/check_elligator_timing.py [--per-class 5000]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import time
from collections.abc import Callable

from blindmatch.crypto.elligator import elligator2_map
from blindmatch.crypto.h2c import map_to_curve_elligator2

P = 2**255 - 19
A = 486662


def _decode(u_bytes: bytes) -> int:
    return (int.from_bytes(u_bytes, "little") & (2**255 - 1)) % P


def _square_class(u_bytes: bytes) -> bool:
    u = _decode(u_bytes)
    x1 = (-A * pow(1 + 2 * u * u, -1, P)) % P
    return pow((x1**3 + A * x1 * x1 + x1) % P, (P - 1) // 2, P) == 1


def _welch(a: list[int], b: list[int]) -> float:
    return (statistics.mean(a) - statistics.mean(b)) / math.sqrt(
        statistics.variance(a) / len(a) + statistics.variance(b) / len(b)
    )


def measure(fn: Callable[[bytes], object], per_class: int, pool: int = 200) -> tuple[float, ...]:
    inputs: dict[bool, list[bytes]] = {True: [], False: []}
    while min(len(v) for v in inputs.values()) < pool:
        u = os.urandom(32)
        inputs[_square_class(u)].append(u)
    order = [(c, i % pool) for c in (True, False) for i in range(per_class)]
    random.shuffle(order)
    times: dict[bool, list[int]] = {True: [], False: []}
    clock = time.perf_counter_ns
    for cls, i in order:
        u = inputs[cls][i]
        start = clock()
        fn(u)
        times[cls].append(clock() - start)
    kept = {c: sorted(t)[: int(len(t) * 0.9)] for c, t in times.items()}
    return (
        statistics.median(kept[True]),
        statistics.median(kept[False]),
        _welch(kept[True], kept[False]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=5000)
    args = parser.parse_args()
    for name, fn in (
        ("constant-time fallback", elligator2_map),
        ("RFC 9380 map (variable time)", lambda u: map_to_curve_elligator2(_decode(u))),
    ):
        square, non_square, t = measure(fn, args.per_class)
        verdict = "difference detected" if abs(t) > 4.5 else "no difference detected"
        print(
            f"{name}: median {square / 1000:.1f} us (square) vs {non_square / 1000:.1f} us "
            f"(non-square), Welch t = {t:.2f} ({verdict})"
        )


if __name__ == "__main__":
    main()
