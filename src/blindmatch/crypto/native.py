"""The native engine: hash-to-curve and X25519 batches in blindmatch's own C extension.

Theory of operation
-------------------
``blindmatch._native`` (csrc/, built by setup.py when a C compiler is there) computes exactly
the functions of :mod:`.h2c` and :mod:`.x25519` over whole batches: the RFC 9380 suite
``curve25519_XMD:SHA-512_ELL2_RO_`` with its own SHA-512, and X25519 (RFC 7748 §5) as a
constant-time Montgomery ladder with the batch's affine conversions sharing one inversion.
The field arithmetic is portable 64-bit C or, on CPUs that have it, AVX2 working on four
points at once or AVX-512 IFMA on eight (the fastest the CPU runs is chosen); :func:`cpu_path`
says which. Every batch runs with the GIL released, spread
over native threads (one per core by default), so no process pool has to start.

:class:`NativeEngine` is a :class:`~.engine.CryptoEngine` returning the same
bytes as ``InlineEngine``, and raising the same errors with the same element indices. The
extension is optional: :func:`available` says whether it loaded, :func:`engine_preference`
reads ``BLINDMATCH_ENGINE`` (``python`` or ``native``; unset means native when available);
``BLINDMATCH_CPU_PATH`` pins the field arithmetic (default: the fastest this CPU runs).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from types import ModuleType
from typing import Final

from ..errors import CryptoError, UsageError
from .h2c import _effective_dst
from .x25519 import POINT_BYTES, Scalar

__all__ = [
    "CPU_PATH_VARIABLE",
    "ENGINE_VARIABLE",
    "NativeEngine",
    "available",
    "cpu_path",
    "cpu_paths",
    "engine_preference",
    "native_module",
    "use_cpu_path",
]

#: The environment variable that forces an engine: ``python`` or ``native``.
ENGINE_VARIABLE: Final = "BLINDMATCH_ENGINE"
_CHOICES: Final = ("python", "native")


def _load() -> tuple[ModuleType | None, str]:
    try:
        # The C extension (csrc/), a leaf module: it imports nothing of blindmatch.
        import blindmatch._native as ext  # type: ignore[import-not-found]
    except ImportError as exc:
        return None, str(exc)
    return ext, ""


_MODULE, _WHY_NOT = _load()

#: The environment variable that pins the field arithmetic (``portable``, ``avx2``,
#: ``avx512ifma``), e.g. to measure what a machine without AVX-512 gets.
CPU_PATH_VARIABLE: Final = "BLINDMATCH_CPU_PATH"


def _pinned_cpu_path() -> str | None:
    """The path ``BLINDMATCH_CPU_PATH`` names, or None if unset; UsageError if it names one
    this machine cannot run."""
    wanted = os.environ.get(CPU_PATH_VARIABLE, "").strip().lower()
    if not wanted or _MODULE is None:
        return None
    paths = tuple(str(p) for p in _MODULE.cpu_paths())
    if wanted not in paths:
        raise UsageError(
            f"{CPU_PATH_VARIABLE}={wanted!r} is not a path this machine runs ({', '.join(paths)})"
        )
    return wanted


with contextlib.suppress(UsageError):  # reported by engine_preference, where it can be
    if (_pin := _pinned_cpu_path()) is not None and _MODULE is not None:
        _MODULE.set_cpu_path(_pin)


def available() -> bool:
    """Whether the C extension was built and loads."""
    return _MODULE is not None


def native_module() -> ModuleType:
    """The loaded extension, or :class:`~blindmatch.errors.UsageError` saying why not."""
    if _MODULE is None:
        raise UsageError(
            f"the native engine is not available ({_WHY_NOT}); reinstall blindmatch where a C "
            f"compiler is present, or set {ENGINE_VARIABLE}=python"
        )
    return _MODULE


def cpu_path() -> str | None:
    """``"avx512ifma"``, ``"avx2"`` or ``"portable"``: the field arithmetic the extension
    runs; None without it."""
    return None if _MODULE is None else str(_MODULE.cpu_path())


def cpu_paths() -> tuple[str, ...]:
    """Every field-arithmetic path this machine can run (``portable`` first); none without
    the extension. The conformance kit checks each of them."""
    return () if _MODULE is None else tuple(str(p) for p in _MODULE.cpu_paths())


@contextlib.contextmanager
def use_cpu_path(path: str) -> Iterator[None]:
    """Run the extension on ``path`` inside the block, then go back to the one it chose. The
    setting is process-wide: for checking each path, not for use while sessions run."""
    module = native_module()
    if path not in cpu_paths():
        raise UsageError(f"CPU path {path!r} is not available here (only {cpu_paths()})")
    chosen = module.cpu_path()
    module.set_cpu_path(path)
    try:
        yield
    finally:
        module.set_cpu_path(chosen)


def engine_preference() -> str:
    """``"native"`` or ``"python"``: what ``BLINDMATCH_ENGINE`` asks for, else native when
    the extension is available. Forcing native where it is not available is an error."""
    wanted = os.environ.get(ENGINE_VARIABLE, "").strip().lower()
    if wanted and wanted not in _CHOICES:
        raise UsageError(f"{ENGINE_VARIABLE} must be python or native, not {wanted!r}")
    if wanted == "native":
        native_module()
    elif wanted == "python" or _MODULE is None:
        return "python"
    _pinned_cpu_path()  # a pin this machine cannot run is an error, not silently ignored
    return "native"


def _default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _dst_prime(dst: bytes) -> bytes:
    dst = _effective_dst(dst)
    return dst + len(dst).to_bytes(1, "big")


def _small_order(message: str, index: int) -> CryptoError:
    return CryptoError(f"{message}: element {index} is a small-order curve25519 point")


class NativeEngine:
    """Batch curve work in C threads; the same bytes and errors as ``InlineEngine``.

    :param threads: native threads per batch (default: every core this process may use).
    """

    def __init__(self, *, threads: int | None = None) -> None:
        self._native = native_module()
        self.threads = threads or _default_threads()
        if self.threads < 1:
            raise UsageError("threads must be at least 1")

    def __repr__(self) -> str:
        return f"NativeEngine(threads={self.threads}, cpu_path={self._native.cpu_path()!r})"

    def hash_blind(
        self, messages: Sequence[bytes], dst: bytes, scalars: Sequence[Scalar]
    ) -> list[bytes]:
        """``X25519(s, hash_to_curve(m, dst))`` for every message, one blob per scalar. The
        cofactor is cleared in full whatever the scalars (the work must not depend on them)."""
        if not scalars:
            return []
        msgs = [m if type(m) is bytes else bytes(m) for m in messages]
        outputs, zero = self._native.hash_blind(
            msgs, _dst_prime(dst), [s.to_bytes() for s in scalars], self.threads
        )
        if zero >= 0:
            raise _small_order("own hashed keys", zero)
        return list(outputs)

    def hash_blind_iter(
        self, batches: Iterable[Sequence[bytes]], dst: bytes, scalars: Sequence[Scalar]
    ) -> Iterator[list[bytes]]:
        for batch in batches:
            yield self.hash_blind(batch, dst, scalars)

    def _blind(
        self,
        points: bytes,
        scalars: Sequence[Scalar],
        message: str,
        prefix: bytes,
        raw: Sequence[bool] | None,
        first: int,
    ) -> list[bytes]:
        if not scalars:
            return []
        whole = len(points) // POINT_BYTES
        head = bytes(points[: whole * POINT_BYTES])
        outputs, zero = self._native.blind(
            head, [s.to_bytes() for s in scalars], self.threads, prefix, raw
        )
        if zero >= 0:
            raise _small_order(message, first + zero)
        if whole * POINT_BYTES != len(points):  # a short last element, as blind_many names it
            raise CryptoError(
                f"{message}: element {first + whole} is {len(points) - whole * POINT_BYTES} "
                f"bytes long, expected {POINT_BYTES}"
            )
        return list(outputs)

    def blind(
        self, points: bytes, scalars: Sequence[Scalar], *, message: str, first: int = 0
    ) -> list[bytes]:
        """X25519 every 32-byte point of ``points`` with every scalar (RFC 7748 §5). Errors
        name an element by its index in the whole message, ``first`` being this batch's first
        (a part of a message on a cluster worker names it as the whole message would)."""
        return self._blind(points, scalars, message, b"", None, first)

    def blind_digests(
        self,
        points: bytes,
        scalars: Sequence[Scalar],
        *,
        message: str,
        digest_prefix: bytes,
        raw: Sequence[bool],
        first: int = 0,
    ) -> list[bytes]:
        """:meth:`blind`, with output ``i`` digested (16-byte SHA-256 of prefix and point)
        unless ``raw[i]``."""
        if len(raw) != len(scalars):
            raise UsageError(f"raw has {len(raw)} flags for {len(scalars)} scalars")
        flags = [bool(r) for r in raw]
        return self._blind(points, scalars, message, bytes(digest_prefix), flags, first)

    def elligator2_map(self, u: bytes) -> bytes:
        """CPace's generator map (:func:`~blindmatch.crypto.elligator.elligator2_map`), in
        constant-time C."""
        if len(u) != POINT_BYTES:
            raise UsageError(f"elligator2_map takes exactly 32 bytes, not {len(u)}")
        return bytes(self._native.elligator2_map(bytes(u)))

    def hash_to_curve(self, messages: Sequence[bytes], dst: bytes) -> list[bytes]:
        """RFC 9380 ``hash_to_curve`` of every message in C, 32-byte u-coordinates (the
        identity as zeros): what :meth:`hash_blind` blinds, exposed for the vectors."""
        blob = self._native.hash_to_curve([bytes(m) for m in messages], _dst_prime(dst), 1)
        return [blob[i : i + POINT_BYTES] for i in range(0, len(blob), POINT_BYTES)]

    def hash_to_field(self, message: bytes, dst: bytes) -> tuple[int, int]:
        """RFC 9380 ``hash_to_field`` (count 2) in C: the field elements u0, u1."""
        u0, u1 = self._native.hash_to_field(bytes(message), _dst_prime(dst))
        return int.from_bytes(u0, "little"), int.from_bytes(u1, "little")

    def x25519(self, scalar: bytes, point: bytes) -> bytes:
        """RFC 7748 ``X25519(scalar, point)`` in C, all zeros for a small-order point (the
        function itself; :meth:`blind` refuses such points)."""
        if len(scalar) != POINT_BYTES or len(point) != POINT_BYTES:
            raise UsageError("x25519 takes a 32-byte scalar and a 32-byte point")
        (out,), _ = self._native.blind(bytes(point), [bytes(scalar)], 1)
        return bytes(out)

    def digests(self, points: bytes, prefix: bytes) -> bytes:
        """Concatenated ``SHA-256(prefix || point)[:16]`` of every 32-byte point."""
        return bytes(self._native.digests(points, prefix))
