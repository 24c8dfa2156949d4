"""What the kit checks: an implementation's operations, for blindmatch's engines or a foreign one.

Every checker talks to an :class:`Implementation` through the same few operations (the ones
the external line protocol carries, README.md in the vectors folder), so blindmatch's engines
and another team's program are checked by the same code. The in-process engines also offer
``blindmatch``: whole sessions, channels and bindings, which only blindmatch itself can run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Protocol

from ..accounts.keytypes import normalize_key
from ..accounts.normalize import email_domain, record_keys
from ..crypto import expand_message_xmd, hash_to_curve_many, hash_to_field, native, x25519
from ..crypto import map_to_curve_elligator2 as _map_to_curve
from ..crypto.engine import CryptoEngine, InlineEngine
from ..errors import UsageError

__all__ = [
    "OPS",
    "BlindmatchEngine",
    "Implementation",
    "Normalized",
    "blindmatch_engines",
]

#: Every operation a checker may ask for. ``blindmatch`` means "runs blindmatch's own
#: sessions, channel and bindings in process" and no foreign program offers it.
OPS = (
    "normalize",
    "record_keys",
    "expand_message_xmd",
    "hash_to_field",
    "map_to_curve",
    "elligator2_map",
    "hash_to_curve",
    "x25519",
    "blindmatch",
)


@dataclass(frozen=True)
class Normalized:
    """A normalization answer: the key (and further keys of the cell), or the reason there is
    none."""

    key: str | None = None
    reason: str | None = None
    more: tuple[str, ...] = ()


class Implementation(Protocol):
    """An implementation under test. ``ops`` says which methods it answers; a checker whose
    required operations are missing reports its file as skipped, not as passed."""

    name: str
    ops: frozenset[str]

    def normalize(
        self,
        key_type: str,
        raw: str | None,
        *,
        region: str | None,
        gmail_rules: bool,
        profile: str,
    ) -> Normalized:
        """One cell under a profile (key type ``email_domain``: the domain key of an e-mail)."""
        ...

    def record_keys(self, keys: list[tuple[str, str]], profile: str) -> list[tuple[str, str]]:
        """A record's keys from its cells' keys, read together (bm-norm/2, §15)."""
        ...

    def expand_message_xmd(self, msg: bytes, dst: bytes, length: int) -> bytes: ...

    def hash_to_field(self, msg: bytes, dst: bytes) -> tuple[int, int]:
        """RFC 9380 ``hash_to_field`` with count 2: u0, u1."""
        ...

    def map_to_curve(self, u: int) -> tuple[int, int]:
        """RFC 9380 Elligator 2 on curve25519: the affine point (x, y)."""
        ...

    def elligator2_map(self, u: bytes) -> bytes:
        """The x-coordinate alone, of a 32-byte little-endian u (CPace's map)."""
        ...

    def hash_to_curve(self, msg: bytes, dst: bytes) -> bytes:
        """RFC 9380 ``hash_to_curve``: the 32-byte little-endian u-coordinate."""
        ...

    def x25519(self, scalar: bytes, u: bytes) -> bytes:
        """RFC 7748 X25519, all zeros where the point has small order."""
        ...

    def engine(self) -> CryptoEngine:
        """The engine blindmatch's sessions and channels run on (op ``blindmatch`` only)."""
        ...

    def active(self) -> contextlib.AbstractContextManager[None]:
        """Held while the implementation is being checked (a CPU path, a subprocess)."""
        ...


@dataclass
class BlindmatchEngine:
    """blindmatch itself on one engine: ``python`` (InlineEngine) or ``native-<cpu path>``."""

    name: str
    cpu_path: str | None = None
    ops: frozenset[str] = field(default=frozenset())
    _engine: CryptoEngine | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.cpu_path is None:
            self.ops = frozenset(OPS)
            self._engine = InlineEngine()
        else:
            # The C engine has no separate expand_message_xmd or affine map: those are checked
            # on the python engine, the C ones through the hash_to_field and map they feed.
            self.ops = frozenset(OPS) - {"expand_message_xmd", "map_to_curve"}
            self._engine = native.NativeEngine(threads=1)

    @property
    def _native(self) -> native.NativeEngine:
        assert isinstance(self._engine, native.NativeEngine)
        return self._engine

    def active(self) -> contextlib.AbstractContextManager[None]:
        if self.cpu_path is None:
            return contextlib.nullcontext()
        return native.use_cpu_path(self.cpu_path)

    def engine(self) -> CryptoEngine:
        assert self._engine is not None
        return self._engine

    def normalize(
        self,
        key_type: str,
        raw: str | None,
        *,
        region: str | None,
        gmail_rules: bool,
        profile: str,
    ) -> Normalized:
        if key_type == "email_domain":
            got = email_domain(raw, profile=profile)
        else:
            got = normalize_key(
                key_type, raw, region=region, gmail_rules=gmail_rules, profile=profile
            )
        if got.value is None:
            return Normalized(reason=got.reason)
        return Normalized(key=got.value, more=tuple(got.more))

    def record_keys(self, keys: list[tuple[str, str]], profile: str) -> list[tuple[str, str]]:
        return record_keys(keys, profile)

    def expand_message_xmd(self, msg: bytes, dst: bytes, length: int) -> bytes:
        return expand_message_xmd(msg, dst, length)

    def hash_to_field(self, msg: bytes, dst: bytes) -> tuple[int, int]:
        if self.cpu_path is not None:
            return self._native.hash_to_field(msg, dst)
        u0, u1 = hash_to_field(msg, dst, 2)
        return u0, u1

    def map_to_curve(self, u: int) -> tuple[int, int]:
        return _map_to_curve(u)

    def elligator2_map(self, u: bytes) -> bytes:
        return self.engine().elligator2_map(u)

    def hash_to_curve(self, msg: bytes, dst: bytes) -> bytes:
        if self.cpu_path is not None:
            return self._native.hash_to_curve([msg], dst)[0]
        return hash_to_curve_many([msg], dst)[0]

    def x25519(self, scalar: bytes, u: bytes) -> bytes:
        if self.cpu_path is not None:
            return self._native.x25519(scalar, u)
        return x25519(scalar, u) or bytes(32)


def blindmatch_engines(wanted: str | None = None) -> list[BlindmatchEngine]:
    """blindmatch on every engine this machine has: ``python``, then ``native-<path>`` for
    each CPU path of the C extension. ``wanted`` (``python``, ``native`` or one full name)
    keeps only those."""
    engines = [BlindmatchEngine("python")]
    engines += [BlindmatchEngine(f"native-{p}", cpu_path=p) for p in native.cpu_paths()]
    if wanted is None:
        return engines
    kept = [e for e in engines if e.name == wanted or e.name.split("-")[0] == wanted]
    if not kept:
        names = ", ".join(e.name for e in engines)
        raise UsageError(f"no engine {wanted!r} here (available: {names})")
    return kept
