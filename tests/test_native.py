"""The C engine (blindmatch._native) computes exactly what the Python suite computes.

Every CPU path this machine can run (portable, and AVX2 and AVX-512 IFMA where the CPU has
them) is checked against ``cryptography``'s X25519 and the pure-Python RFC 9380 code on random
inputs, against the RFC 7748, RFC 9380 and Wycheproof vectors, and on the inputs that need
care: small-order points, non-canonical encodings, bit 255 set, identities, limbs at the
vector paths' bounds, every batch size around their lane groups and the inversion block.
NativeEngine must give the same bytes and the same errors (with the same element indices) as
InlineEngine, for any number of threads; installation must succeed without a C compiler.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _vectors import checker_cases
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from blindmatch import _native  # type: ignore[attr-defined]
from blindmatch.crypto import Scalar, hash_to_curve_many, hash_to_field, small_order_points
from blindmatch.crypto.engine import InlineEngine, default_engine, digest_points
from blindmatch.crypto.h2c import _effective_dst
from blindmatch.crypto.native import ENGINE_VARIABLE, NativeEngine, engine_preference
from blindmatch.errors import CryptoError, UsageError

PATHS = list(_native.cpu_paths())
P = 2**255 - 19
DST = b"blindmatch/1 h2c " + bytes(range(32))
PREFIX = b"blindmatch/1 digest " + bytes(32)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test on one CPU path, then restore the one the module chose."""
    chosen = _native.cpu_path()
    _native.set_cpu_path(request.param)
    yield str(request.param)
    _native.set_cpu_path(chosen)


def _dst_prime(dst: bytes) -> bytes:
    dst = _effective_dst(dst)
    return dst + bytes([len(dst)])


def _x25519(scalar: bytes, points: bytes, threads: int = 2) -> bytes:
    (out,), _ = _native.blind(points, [scalar], threads)
    return bytes(out)


def _reference(scalar: bytes, points: bytes) -> bytes:
    """cryptography's X25519, with all-zero results (which it refuses) as zeros."""
    exchange = X25519PrivateKey.from_private_bytes(scalar).exchange
    out = []
    for i in range(0, len(points), 32):
        try:
            out.append(exchange(X25519PublicKey.from_public_bytes(points[i : i + 32])))
        except ValueError:
            out.append(bytes(32))
    return b"".join(out)


def test_this_machine_has_a_path() -> None:
    assert _native.cpu_path() in PATHS
    assert PATHS[0] == "portable"


# -- X25519 ------------------------------------------------------------------------------------


def test_x25519_matches_cryptography_on_random_points(path: str) -> None:
    rng = random.Random(7)
    for _ in range(4):
        scalar = rng.randbytes(32)
        points = rng.randbytes(32 * 501)  # not a multiple of the 4-way width or the block
        assert _x25519(scalar, points) == _reference(scalar, points)


def test_x25519_non_canonical_and_high_bit_inputs(path: str) -> None:
    """u in [p, 2^255) is reduced and bit 255 ignored, as RFC 7748 §5 and cryptography do."""
    values = [P + i for i in range(19)] + [2**255 - 1 - i for i in range(5)]
    points = b"".join(v.to_bytes(32, "little") for v in values)
    rng = random.Random(8)
    flipped = bytearray(rng.randbytes(32 * 40))
    for i in range(31, len(flipped), 32):
        flipped[i] |= 0x80
    points += bytes(flipped)
    scalar = rng.randbytes(32)
    assert _x25519(scalar, points) == _reference(scalar, points)


def test_x25519_small_order_points_give_zero(path: str) -> None:
    scalar = os.urandom(32)
    for point in small_order_points():
        assert _x25519(scalar, point) == bytes(32)


@pytest.mark.parametrize(
    ("engine", "check"),
    checker_cases("x25519_rfc7748.json", "native")
    + checker_cases("x25519_wycheproof.json", "native")
    + checker_cases("h2c_curve25519_XMD_SHA-512_ELL2_RO.json", "native"),
)
def test_published_vectors_on_every_cpu_path(engine: Any, check: Callable[[], None]) -> None:
    """The conformance kit's checks on each CPU path (engine ``native-<path>``): RFC 7748 §5.2
    with 1 and 1,000 iterations, Wycheproof, RFC 9380 J.4.1 (u0, u1, both maps' x, P)."""
    with engine.active():
        check()


# -- hash to curve ---------------------------------------------------------------------------


def _messages(rng: random.Random, n: int) -> list[bytes]:
    lengths = [0, 1, 31, 32, 63, 64, 100, 111, 112, 127, 128, 129, 200, 300]
    return [
        rng.randbytes(rng.choice(lengths) if i % 3 == 0 else rng.randrange(40)) for i in range(n)
    ]


@pytest.mark.parametrize("dst", [DST, b"x", b"D" * 255, b"L" * 256, b"L" * 1000])
def test_hash_to_field_matches_python(dst: bytes) -> None:
    rng = random.Random(len(dst))
    for msg in _messages(rng, 60):
        u0, u1 = _native.hash_to_field(msg, _dst_prime(dst))
        assert [int.from_bytes(u0, "little"), int.from_bytes(u1, "little")] == hash_to_field(
            msg, dst, 2
        )


def test_h2c_matches_python_on_random_messages(path: str) -> None:
    msgs = _messages(random.Random(3), 2000)
    want = b"".join(hash_to_curve_many(msgs, DST))
    assert _native.hash_to_curve(msgs, _dst_prime(DST), 2) == want


def test_h2c_long_dst_and_threads_do_not_change_bytes(path: str) -> None:
    msgs = _messages(random.Random(3), 600)
    dst = b"a very long tag " * 20
    want = b"".join(hash_to_curve_many(msgs, dst))
    for threads in (1, 2, 5):
        assert _native.hash_to_curve(msgs, _dst_prime(dst), threads) == want


def test_digests_match_hashlib() -> None:
    points = os.urandom(32 * 300)
    want = b"".join(
        hashlib.sha256(PREFIX + points[i : i + 32]).digest()[:16] for i in range(0, len(points), 32)
    )
    assert _native.digests(points, PREFIX) == want
    long_prefix = b"p" * 200  # the prefix spans SHA-256 blocks
    assert NativeEngine().digests(points, long_prefix) == digest_points(
        [points[i : i + 32] for i in range(0, len(points), 32)], long_prefix
    )


# -- NativeEngine against InlineEngine --------------------------------------------------------


def _scalars(*seeds: bytes) -> list[Scalar]:
    return [Scalar(hashlib.sha256(s).digest()) for s in seeds]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_engine_hash_blind_is_identical(path: str, threads: int) -> None:
    engine = NativeEngine(threads=threads)
    inline = InlineEngine()
    msgs = [b"\x06domain d%d.example" % i for i in range(777)]
    for i in range(3):
        scalars = _scalars(b"a%d" % i, b"b%d" % i)
        assert engine.hash_blind(msgs, DST, scalars) == inline.hash_blind(msgs, DST, scalars)
    assert engine.hash_blind(msgs, DST, []) == []
    batches = [msgs[:10], [], msgs[10:300]]
    scalars = _scalars(b"c")
    assert list(engine.hash_blind_iter(batches, DST, scalars)) == list(
        inline.hash_blind_iter(batches, DST, scalars)
    )


def test_engine_blind_and_digests_are_identical(path: str) -> None:
    engine = NativeEngine(threads=2)
    inline = InlineEngine()
    points = b"".join(hash_to_curve_many([b"k%d" % i for i in range(600)], DST))
    scalars = _scalars(b"d", b"e")
    assert engine.blind(points, scalars, message="m") == inline.blind(points, scalars, message="m")
    for raw in ([False, True], [True, False], [False, False]):
        got = engine.blind_digests(points, scalars, message="m", digest_prefix=PREFIX, raw=raw)
        want = inline.blind_digests(points, scalars, message="m", digest_prefix=PREFIX, raw=raw)
        assert got == want


@pytest.mark.parametrize("bad_at", [0, 5, 255, 256, 599])
def test_engine_names_the_same_bad_point(path: str, bad_at: int) -> None:
    points = bytearray(b"".join(hash_to_curve_many([b"q%d" % i for i in range(600)], DST)))
    small = small_order_points()
    points[32 * bad_at : 32 * (bad_at + 1)] = small[bad_at % len(small)]
    points[32 * 599 :] = small[1]  # a later one too: the first is named
    scalars = _scalars(b"f", b"g")
    errors = []
    for engine in (InlineEngine(), NativeEngine(threads=3)):
        with pytest.raises(CryptoError) as info:
            engine.blind(bytes(points), scalars, message="blinded message")
        errors.append(str(info.value))
        with pytest.raises(CryptoError) as info:
            engine.blind_digests(
                bytes(points), scalars, message="blinded message", digest_prefix=PREFIX,
                raw=[False, True],
            )  # fmt: skip
        errors.append(str(info.value))
    assert len(set(errors)) == 1
    assert f"element {bad_at} is a small-order" in errors[0]


def test_engine_names_a_short_last_element_like_inline() -> None:
    points = b"".join(hash_to_curve_many([b"r%d" % i for i in range(9)], DST)) + b"\x05" * 7
    scalars = _scalars(b"h")
    errors = []
    for engine in (InlineEngine(), NativeEngine()):
        with pytest.raises(CryptoError) as info:
            engine.blind(points, scalars, message="returned")
        errors.append(str(info.value))
    assert errors[0] == errors[1] == "returned: element 9 is 7 bytes long, expected 32"


def test_hash_blind_reports_no_zero_for_ordinary_messages() -> None:
    msgs = [b"m%d" % i for i in range(5)]
    (out,), zero = _native.hash_blind(msgs, _dst_prime(DST), [bytes(32)], 1)
    assert zero == -1 and len(out) == 160
    assert out == NativeEngine().hash_blind(msgs, DST, [Scalar(bytes(32))])[0]


def test_elligator2_map_matches_the_python_formulation() -> None:
    """CPace's generator map: random inputs, bit 255 set, values >= p, zero."""
    from blindmatch.crypto.elligator import elligator2_map

    engine = NativeEngine()
    rng = random.Random(11)
    inputs = [rng.randbytes(32) for _ in range(300)]
    inputs += [(P + i).to_bytes(32, "little") for i in range(3)] + [bytes(32), b"\xff" * 32]
    for u in inputs:
        assert engine.elligator2_map(u) == elligator2_map(u) == InlineEngine().elligator2_map(u)
    with pytest.raises(UsageError, match="exactly 32 bytes, not 31"):
        engine.elligator2_map(bytes(31))


def test_engine_repr_hides_scalars_and_names_the_path() -> None:
    text = repr(NativeEngine(threads=2))
    assert "threads=2" in text and _native.cpu_path() in text


# -- choosing the engine ------------------------------------------------------------------------


def test_engine_preference_follows_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENGINE_VARIABLE, "python")
    assert engine_preference() == "python"
    assert isinstance(default_engine(), InlineEngine)
    monkeypatch.setenv(ENGINE_VARIABLE, "native")
    assert isinstance(default_engine(), NativeEngine)
    monkeypatch.setenv(ENGINE_VARIABLE, "fortran")
    with pytest.raises(UsageError, match="BLINDMATCH_ENGINE must be python or native"):
        engine_preference()
    monkeypatch.delenv(ENGINE_VARIABLE)
    assert engine_preference() == "native"


_WITHOUT_NATIVE = """
import sys
sys.modules["blindmatch._native"] = None  # what an install without a compiler looks like
from blindmatch.crypto import native
from blindmatch.crypto.engine import default_engine
from blindmatch.errors import UsageError
from blindmatch.cli.main import main
print(native.available(), native.engine_preference(), type(default_engine()).__name__)
import os
os.environ["BLINDMATCH_ENGINE"] = "native"
try:
    native.engine_preference()
except UsageError as exc:
    print("error:", exc)
main(["--version"])
"""


def test_without_the_extension_python_runs_and_native_is_a_clear_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != ENGINE_VARIABLE}
    proc = subprocess.run(
        [sys.executable, "-c", _WITHOUT_NATIVE], capture_output=True, text=True, env=env,
        timeout=60,
    )  # fmt: skip
    lines = proc.stdout.splitlines()
    assert lines[0] == "False python InlineEngine"
    assert lines[1].startswith("error: the native engine is not available")
    assert "BLINDMATCH_ENGINE=python" in lines[1]
    assert "engine: none" in proc.stdout


def test_version_names_the_engine_and_cpu_path() -> None:
    env = {k: v for k, v in os.environ.items() if k != ENGINE_VARIABLE}
    out = subprocess.run(
        [sys.executable, "-m", "blindmatch.cli.main", "--version"], capture_output=True,
        text=True, env=env, timeout=60, cwd=ROOT,
    ).stdout  # fmt: skip
    assert f"engine: native (C, {_native.cpu_path()} field arithmetic)" in out
    env[ENGINE_VARIABLE] = "python"
    out = subprocess.run(
        [sys.executable, "-m", "blindmatch.cli.main", "--version"], capture_output=True,
        text=True, env=env, timeout=60, cwd=ROOT,
    ).stdout  # fmt: skip
    assert "engine: python (BLINDMATCH_ENGINE=python)" in out


@pytest.mark.slow
def test_the_build_succeeds_without_a_compiler(tmp_path: Path) -> None:
    """setup.py's build_ext reports a failed compile and installs without the extension."""
    env = dict(os.environ, CC="/bin/false", LDSHARED="/bin/false")
    env.pop("BLINDMATCH_BUILD_NATIVE", None)
    proc = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(tmp_path / "lib"),
         "--build-temp", str(tmp_path / "tmp")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "the pure-Python engine will be used" in proc.stderr
    assert not list((tmp_path / "lib").rglob("_native*"))


# -- the vector paths: lane groups, limb bounds, path selection ------------------------------

# Batch sizes around the lane widths (4 for avx2, 8 for avx512ifma: a short last group fills
# its spare lanes with a repeat) and the inversion block (BM_BLOCK = 64).
SIZES = [*range(1, 18), 23, 31, 33, 63, 64, 65, 71, 72, 73, 127, 128, 129]


def _edge_u_values() -> list[int]:
    """u-coordinates whose radix-2^51 limbs sit at the bounds the IFMA path must respect
    (every multiplicand below 2^52): 0, 1, p - 1 and its neighbours, non-canonical values in
    [p, 2^255), all-ones limbs, single full limbs, and a few alternating patterns."""
    m51 = 2**51 - 1
    values = [0, 1, 2, 9, P - 1, P - 2, P - 3, (P - 1) // 2, (P + 1) // 2, P, P + 1, P + 18]
    values += [2**255 - 1, 2**255 - 2, 2**254, 2**254 - 1, 2**51, 2**52 - 1, 2**204 - 1]
    values += [m51 << (51 * k) for k in range(5)]
    values += [sum((m51 if (k + j) % 2 else 0) << (51 * k) for k in range(5)) for j in (0, 1)]
    values += [sum((2**50 + 1) << (51 * k) for k in range(5)) % 2**255]
    return values


@pytest.mark.parametrize("n", SIZES)
def test_x25519_every_batch_size_matches_cryptography(path: str, n: int) -> None:
    rng = random.Random(1000 + n)
    scalar, points = rng.randbytes(32), rng.randbytes(32 * n)
    for threads in (1, 3):
        assert _x25519(scalar, points, threads) == _reference(scalar, points)


def test_x25519_limbs_at_the_bounds(path: str) -> None:
    """Edge u-values (also as the odd one out of a lane group) under extreme and random
    scalars, against cryptography."""
    points = b"".join(v.to_bytes(32, "little") for v in _edge_u_values())
    points += bytes(32) + os.urandom(32 * 7) + (P - 1).to_bytes(32, "little")
    points += b"".join(small_order_points())
    rng = random.Random(11)
    scalars = [bytes(32), b"\xff" * 32, bytes([0xF8] + [0] * 30 + [0x40])]
    scalars += [rng.randbytes(32) for _ in range(4)]
    for scalar in scalars:
        assert _x25519(scalar, points) == _reference(scalar, points)


def test_x25519_vector_paths_agree_with_portable_on_many_points(path: str) -> None:
    """20,000 random points (bit 255 set on some) per path, against the portable path, which
    the tests above tie to cryptography; cheaper than cryptography at this size."""
    rng = random.Random(12)
    points = rng.randbytes(32 * 20_000)
    scalar = rng.randbytes(32)
    got = _x25519(scalar, points)
    _native.set_cpu_path("portable")
    assert got == _x25519(scalar, points)


@pytest.mark.parametrize("n", SIZES)
def test_h2c_every_batch_size_matches_python(path: str, n: int) -> None:
    msgs = _messages(random.Random(2000 + n), n)
    want = b"".join(hash_to_curve_many(msgs, DST))
    for threads in (1, 3):
        assert _native.hash_to_curve(msgs, _dst_prime(DST), threads) == want


def test_h2c_long_messages_and_the_longest_dst(path: str) -> None:
    """Lanes of one group hashing different numbers of SHA-512 blocks, the 255-byte DST, and
    messages past the IFMA path's 1024-byte lane buffer (it falls back to one at a time)."""
    rng = random.Random(14)
    lengths = [0, 1, 700, 765, 766, 767, 1000, 1003, 1004, 1005, 1100, 5000, 3, 128, 2000, 9]
    msgs = [rng.randbytes(n) for n in lengths] + [rng.randbytes(1004)] * 3
    for dst in (b"D" * 255, DST):
        want = b"".join(hash_to_curve_many(msgs, dst))
        assert _native.hash_to_curve(msgs, _dst_prime(dst), 1) == want


def test_h2c_vector_paths_agree_with_portable_on_many_messages(path: str) -> None:
    msgs = _messages(random.Random(13), 8000)
    got = _native.hash_to_curve(msgs, _dst_prime(DST), 2)
    _native.set_cpu_path("portable")
    assert got == _native.hash_to_curve(msgs, _dst_prime(DST), 2)


def test_the_default_path_is_the_fastest_this_cpu_runs() -> None:
    """cpu_paths() lists slowest first; a fresh import picks the last (avx512ifma > avx2 >
    portable), and offers a vector path only where /proc/cpuinfo shows its features."""
    out = subprocess.run(
        [sys.executable, "-c", "from blindmatch import _native as N; "
         "print(N.cpu_path()); print(' '.join(N.cpu_paths()))"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=True,
    ).stdout.split("\n")  # fmt: skip
    paths = out[1].split()
    assert out[0] == paths[-1]
    assert paths[0] == "portable"
    assert paths == [p for p in ("portable", "avx2", "avx512ifma") if p in paths]
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        flags = set(cpuinfo.read_text().split())
        assert ("avx2" in paths) <= ("avx2" in flags)
        assert ("avx512ifma" in paths) <= ({"avx512f", "avx512ifma"} <= flags)


def test_an_unknown_or_absent_path_is_refused() -> None:
    with pytest.raises(ValueError, match="not available"):
        _native.set_cpu_path("avx512")
    assert _native.cpu_path() in PATHS


@pytest.mark.slow
def test_the_build_succeeds_without_ifma_support_in_the_compiler(tmp_path: Path) -> None:
    """A compiler that cannot build the IFMA file (an old gcc) gives an extension without
    that path, not a failed install: the setup.py probe drops bm_ifma.c."""
    old_cc = tmp_path / "old-cc"
    old_cc.write_text(
        '#!/bin/sh\nfor a in "$@"; do case "$a" in *probe.c|*bm_ifma.c) exit 1;; esac; done\n'
        'exec "${REAL_CC:-cc}" "$@"\n'
    )
    old_cc.chmod(0o755)
    env = dict(os.environ, CC=str(old_cc), BLINDMATCH_BUILD_NATIVE="1")
    lib = tmp_path / "lib"
    proc = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(lib),
         "--build-temp", str(tmp_path / "tmp")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "cannot build the AVX-512 IFMA path" in proc.stderr
    (built,) = lib.rglob("_native*")
    code = (
        "import importlib.util, sys; "
        f"s = importlib.util.spec_from_file_location('blindmatch._native', {str(built)!r}); "
        "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
        "print(' '.join(m.cpu_paths()), m.cpu_path())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert "avx512ifma" not in out and out[-1] == out[-2]


def test_the_cpu_path_variable_pins_the_field_arithmetic() -> None:
    """BLINDMATCH_CPU_PATH runs a party as on a CPU with fewer features (or says it can't)."""
    base = {
        k: v for k, v in os.environ.items() if k not in (ENGINE_VARIABLE, "BLINDMATCH_CPU_PATH")
    }
    code = (
        "from blindmatch.crypto import native\n"
        "from blindmatch.errors import UsageError\n"
        "try:\n"
        "    print(native.engine_preference(), native.cpu_path())\n"
        "except UsageError as exc:\n"
        "    print('error:', exc)\n"
    )
    for path in _native.cpu_paths():
        env = dict(base, BLINDMATCH_CPU_PATH=path.upper())
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, timeout=60, cwd=ROOT, check=True)  # fmt: skip
        assert run.stdout.split() == ["native", path]
        version = subprocess.run(
            [sys.executable, "-m", "blindmatch.cli.main", "--version"], capture_output=True,
            text=True, env=env, timeout=60, cwd=ROOT,
        ).stdout  # fmt: skip
        assert f"engine: native (C, {path} field arithmetic)" in version
    env = dict(base, BLINDMATCH_CPU_PATH="avx1024")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60, cwd=ROOT, check=True)  # fmt: skip
    assert run.stdout.startswith("error: BLINDMATCH_CPU_PATH='avx1024' is not a path")
    assert "portable" in run.stdout
    env[ENGINE_VARIABLE] = "python"  # the pure-Python engine has no CPU paths to pin
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60, cwd=ROOT, check=True)  # fmt: skip
    assert run.stdout.split()[0] == "python"
