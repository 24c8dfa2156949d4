"""Wire messages: msgpack maps in length-prefixed frames, validated before use.

A frame is a 4-byte big-endian length followed by that many bytes of msgpack. The length is
checked against :data:`MAX_FRAME` before anything is buffered, msgpack is decoded with its own
limits, and the decoded map is validated by a strict pydantic model (types, bounds, lengths).
Checks that need the session's context (how many slots an account has, how many accounts a
lane declared) live in the ``check_*`` functions here, so every wire rule sits in this module.
Element arrays travel as one ``bin`` of concatenated fixed-width items, which keeps both the
wire and the decoder cheap for millions of elements.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Annotated, Any, Literal, TypeAlias

import msgpack  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import RemoteProtocolError
from .agreement import DIGEST_BYTES, PROTOCOL_VERSION
from .model import MAX_KEYS_PER_ACCOUNT, MAX_POPULATIONS, NAME_PATTERN, Terms

__all__ = [
    "CHUNK_POINTS",
    "MAX_FRAME",
    "Abort",
    "Accept",
    "Blinded",
    "Confirm",
    "FrameDecoder",
    "Hello",
    "LaneInfo",
    "Lanes",
    "Message",
    "Returned",
    "Tally",
    "decode_message",
    "encode_frame",
    "encode_message",
]

POINT_BYTES = 32
WRAP_BYTES = 48  # a 32-byte content key sealed with ChaCha20-Poly1305 (16-byte tag)
TAG_BYTES = 16
MAX_FRAME = 32 * 1024 * 1024
#: Points per blinded/returned chunk at most: big enough to amortize framing, small enough to
#: stream, and small enough that the in-order reply to a blinded chunk (48 bytes a point with
#: OPRF points) stays far below MAX_FRAME.
CHUNK_POINTS = 8192
MAX_ACCOUNTS = 50_000_000
LaneKind: TypeAlias = Literal["records", "counts"]
LANE_ORDER: tuple[LaneKind, ...] = ("records", "counts")

Bytes32 = Annotated[bytes, Field(min_length=32, max_length=32)]
Seq = Annotated[int, Field(ge=0, le=MAX_ACCOUNTS)]
Count = Annotated[int, Field(ge=1, le=MAX_ACCOUNTS)]


class _Wire(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    v: Literal[2] = PROTOCOL_VERSION

    def to_wire(self) -> dict[str, Any]:
        """The msgpack map, keys in declaration order (the spec's byte-exact layout)."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, Terms):
                value = value.wire_map()
            elif isinstance(value, BaseModel):
                value = value.model_dump(mode="json")
            elif isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
                value = [item.model_dump(mode="json") for item in value]
            out[name] = value
        return out


class Hello(_Wire):
    """First message of each party: a fresh nonce and the terms it proposes."""

    t: Literal["hello"] = "hello"
    role: Literal["sender", "receiver"]
    suite: Annotated[str, Field(max_length=200)]
    nonce: Bytes32
    terms: Terms  # validated by its own (lax) model: its enums arrive as strings


class Accept(_Wire):
    """'I accept the agreement with this id.' Both must arrive before any record data."""

    t: Literal["accept"] = "accept"
    agreement: Bytes32


class Abort(_Wire):
    """'I am stopping, and here is why.' The reason never carries secrets or record data."""

    t: Literal["abort"] = "abort"
    code: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]
    reason: Annotated[str, Field(max_length=500)]


class LaneInfo(BaseModel):
    """One lane a party will send: all accounts of one disclosure level."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    lane: LaneKind
    accounts: Seq
    populations: Annotated[
        tuple[Annotated[str, Field(pattern=NAME_PATTERN.pattern)], ...],
        Field(min_length=1, max_length=MAX_POPULATIONS),
    ]


class Lanes(_Wire):
    """Declares the lanes (sizes and mask bit order) that the ``blinded`` messages will fill."""

    t: Literal["lanes"] = "lanes"
    #: key slots per account in all of this party's lanes
    slots: Annotated[int, Field(ge=1, le=MAX_KEYS_PER_ACCOUNT)]
    lanes: Annotated[tuple[LaneInfo, ...], Field(min_length=1, max_length=2)]


class Blinded(_Wire):
    """A chunk of one lane: ``count`` accounts, each ``slots`` blinded points and a mask.

    In the records lane of a party that reveals fields, each account also carries one sealed
    content key per slot (``wraps``) and one fixed-size sealed payload.
    """

    t: Literal["blinded"] = "blinded"
    lane: LaneKind
    seq: Seq
    count: Count
    points: bytes
    masks: bytes
    wraps: bytes = b""
    payloads: bytes = b""


class Returned(_Wire):
    """A chunk of the partner's accounts, blinded a second time under one of our lanes.

    ``lane`` is the returning party's lane whose scalar was applied; ``target`` is the
    recipient's lane the values came from. Records lanes return in the recipient's order with
    ``oprf`` points (for the field keys); counts lanes return shuffled, with the recipient's own
    masks so it can count per population without knowing which account is which.
    """

    t: Literal["returned"] = "returned"
    lane: LaneKind
    target: LaneKind
    seq: Seq
    count: Count
    digests: bytes
    masks: bytes = b""
    oprf: bytes = b""


class Tally(_Wire):
    """Counts computed for the partner, for a lane pair only this party compares (§5.5):
    ``lane`` is the sender's counts lane, ``target`` the recipient's records lane. ``counts``
    is row-major: for each population of the target lane (recipient's), for each population of
    ``lane`` (sender's), how many of the recipient's accounts in the first matched some of the
    sender's in the second."""

    t: Literal["tally"] = "tally"
    lane: Literal["counts"]
    target: Literal["records"]
    counts: Annotated[
        tuple[Annotated[int, Field(ge=0, le=MAX_ACCOUNTS)], ...],
        Field(max_length=MAX_POPULATIONS * MAX_POPULATIONS),
    ]


class Confirm(_Wire):
    """'This is the whole session as I saw it': SHA-256 over every frame both parties sent
    before their confirms (protocol_spec.md §5.7). Results are released only once the
    partner's confirm equals ours."""

    t: Literal["confirm"] = "confirm"
    transcript: Bytes32


class _WirePopulation(BaseModel):
    """A population as the wire carries it: exact msgpack types, every key present."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    name: str
    disclosure: Literal["counts", "records"]
    fields: tuple[str, ...]
    size: int


class _WireTerms(BaseModel):
    """The wire types of the terms map (section 3.1), checked before :class:`Terms` reads it:
    no ``true`` for an integer, no ``"512"`` or ``512.0`` for 512, no bin for a str, no
    missing key, no ``hidden`` population (hidden ones are never sent)."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    label: str
    normalization: str
    normalization_tables: str | None
    key_types: tuple[str, ...]
    populations: tuple[_WirePopulation, ...]
    keys_per_account: int | None
    payload_bytes: int
    #: present only when true (absent: false), so older hellos keep their bytes
    refuse_conflicts: bool = False
    reveal_flavours: bool = False


Message: TypeAlias = Hello | Accept | Abort | Lanes | Blinded | Returned | Tally | Confirm
_TYPES: dict[str, type[_Wire]] = {
    "hello": Hello,
    "accept": Accept,
    "abort": Abort,
    "lanes": Lanes,
    "blinded": Blinded,
    "returned": Returned,
    "tally": Tally,
    "confirm": Confirm,
}


def encode_message(message: Message) -> bytes:
    """The msgpack body of a message (no frame header)."""
    return msgpack.packb(message.to_wire(), use_bin_type=True)  # type: ignore[no-any-return]


def encode_frame(message: Message) -> bytes:
    body = encode_message(message)
    return struct.pack(">I", len(body)) + body


def decode_message(body: bytes) -> Message:
    """Decode and validate one message body, or raise :class:`RemoteProtocolError`.

    Error texts name the message type and the field, never the value, and are made printable
    and bounded: they reach the user's terminal and the abort reason sent back.
    """
    try:
        raw = _unpack(body)
    except _NestedInLargeBody:
        raise RemoteProtocolError(
            f"malformed message: its {len(body)}-byte body nests arrays or maps; only blinded "
            f"and returned messages are that large, and they hold neither"
        ) from None
    except _RepeatedKey:
        raise RemoteProtocolError("malformed message: a msgpack map repeats a key") from None
    except (ValueError, msgpack.UnpackException, TypeError) as exc:
        raise RemoteProtocolError(f"undecodable message: {type(exc).__name__}") from None
    if not isinstance(raw, dict):
        raise RemoteProtocolError("malformed message: not a msgpack map")
    kind = raw.get("t")
    if not isinstance(kind, str) or kind not in _TYPES:
        shown = repr(_printable(kind, 32)) if isinstance(kind, str) else _type_name(kind)
        raise RemoteProtocolError(f"unknown message type {shown}")
    version = raw.get("v")
    # Strictly the integer: msgpack's true and 1.0 compare equal to 1 in Python.
    if type(version) is not int or version != PROTOCOL_VERSION:
        shown = str(version)[:24] if type(version) is int else _type_name(version)
        raise RemoteProtocolError(
            f"{kind} message: protocol version {shown} is not supported "
            f"(this implementation speaks version {PROTOCOL_VERSION})"
        )
    terms = raw.get("terms")
    if kind == "hello" and isinstance(terms, dict):
        # Terms parse leniently (their enums arrive as strings); the wire types are strict.
        _validate(_WireTerms, terms, kind, prefix=("terms",))
    message: Message = _validate(_TYPES[kind], raw, kind)
    return message


#: Hello and lanes bodies stay far below this (terms hold at most 16 populations of 32 field
#: names of 64 characters); only blinded and returned messages, flat maps of bins, are larger.
_SMALL_BODY = 256 * 1024
_UNPACK_LIMITS: dict[str, Any] = {
    "raw": False,
    "use_list": False,
    "strict_map_key": True,
    "max_bin_len": MAX_FRAME,
    "max_str_len": 64 * 1024,
    "max_ext_len": 0,
}


class _NestedInLargeBody(Exception):
    """A large body holds an inner map: no message type allows that."""


class _RepeatedKey(Exception):
    """A map names one key twice: two decoders could keep different values."""


def _unique_map(pairs: Any) -> dict[Any, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        raise _RepeatedKey
    return mapping


def _unpack(body: bytes) -> Any:
    """msgpack with limits. Bodies of nested containers are bounded by :data:`_SMALL_BODY`:
    a Python object per msgpack byte would turn one 32 MiB frame of tiny arrays or maps into
    gigabytes of memory, so larger bodies may hold one flat map and no array at all."""
    if len(body) <= _SMALL_BODY:
        return msgpack.unpackb(
            body,
            max_array_len=4096,
            max_map_len=64,
            object_pairs_hook=_unique_map,
            **_UNPACK_LIMITS,
        )
    maps = 0

    def flat(pairs: Any) -> dict[Any, Any]:
        nonlocal maps
        maps += 1  # inner maps complete first: the second map to complete is nested
        if maps > 1:
            raise _NestedInLargeBody
        return _unique_map(pairs)

    return msgpack.unpackb(
        body, max_array_len=0, max_map_len=16, object_pairs_hook=flat, **_UNPACK_LIMITS
    )


def _validate(model: type[BaseModel], raw: Any, kind: str, prefix: tuple[str, ...] = ()) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        # Name the field and the rule, never the value: it may be the partner's data. Field
        # names can be the partner's too (an extra key), so they are made printable and short.
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(_printable(str(part), 40) for part in (*prefix, *first["loc"]))
        raise RemoteProtocolError(
            f"{kind} message: field {where}: {_printable(first['msg'], 200)}"
        ) from None


def _printable(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, control and format characters replaced by '?'."""
    shown = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return shown + "..." if len(text) > limit else shown


def _type_name(value: object) -> str:
    return "nil" if value is None else f"of type {type(value).__name__}"


class FrameDecoder:
    """Splits a byte stream into message bodies; the length cap is checked before buffering."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buffer = bytearray()
        self._max_frame = max_frame

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        bodies: list[bytes] = []
        while len(self._buffer) >= 4:
            (length,) = struct.unpack_from(">I", self._buffer)
            if length == 0 or length > self._max_frame:
                raise RemoteProtocolError(
                    f"frame of {length} bytes is outside the allowed 1..{self._max_frame}"
                )
            if len(self._buffer) < 4 + length:
                break
            bodies.append(bytes(self._buffer[4 : 4 + length]))
            del self._buffer[: 4 + length]
        return bodies

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still buffered (non-zero at EOF means truncation)."""
        return len(self._buffer)


# -- context checks -----------------------------------------------------------------------


def mask_width(populations: int) -> int:
    return (populations + 7) // 8


def check_blinded(
    msg: Blinded, *, slots: int, populations: int, payload_bytes: int | None, remaining: int
) -> None:
    """Lengths of a ``blinded`` chunk against the lane it claims to fill."""
    where = f"blinded message (lane {msg.lane}, chunk {msg.seq})"
    if msg.count > remaining:
        raise RemoteProtocolError(
            f"{where}: {msg.count} accounts, but only {remaining} remain of the declared lane"
        )
    if msg.count * slots > CHUNK_POINTS:
        raise RemoteProtocolError(
            f"{where}: {msg.count} accounts of {slots} slots is more than {CHUNK_POINTS} points "
            "in one chunk"
        )
    _expect_len(where, "points", msg.points, msg.count * slots * POINT_BYTES)
    _expect_len(where, "masks", msg.masks, msg.count * mask_width(populations))
    check_masks(where, msg.masks, populations)
    if payload_bytes is None:
        _expect_len(where, "wraps", msg.wraps, 0)
        _expect_len(where, "payloads", msg.payloads, 0)
    else:
        _expect_len(where, "wraps", msg.wraps, msg.count * slots * WRAP_BYTES)
        _expect_len(where, "payloads", msg.payloads, msg.count * (payload_bytes + TAG_BYTES))


def check_returned(
    msg: Returned, *, slots: int, populations: int, remaining: int, sealed: bool
) -> None:
    """Lengths of a ``returned`` chunk: in order (with OPRF points if the returning party
    seals fields), or shuffled with masks."""
    where = f"returned message (lane {msg.lane} for {msg.target}, chunk {msg.seq})"
    if msg.count > remaining:
        raise RemoteProtocolError(
            f"{where}: {msg.count} accounts, but only {remaining} remain of our lane"
        )
    _expect_len(where, "digests", msg.digests, msg.count * slots * DIGEST_BYTES)
    if msg.lane == "records":
        _expect_len(where, "oprf", msg.oprf, msg.count * slots * POINT_BYTES if sealed else 0)
        _expect_len(where, "masks", msg.masks, 0)
    else:
        _expect_len(where, "oprf", msg.oprf, 0)
        _expect_len(where, "masks", msg.masks, msg.count * mask_width(populations))
        check_masks(where, msg.masks, populations)


def split_items(blob: bytes, width: int) -> list[bytes]:
    """The fixed-width items of a bytes-typed element array."""
    return [blob[at : at + width] for at in range(0, len(blob), width)]


def refuse_repeats(
    where: str, what: str, items: Sequence[bytes], earlier: AbstractSet[bytes], scope: str
) -> None:
    """Raise :class:`RemoteProtocolError` naming the first of ``items`` that repeats one in
    ``earlier`` (the stream so far) or one before it in ``items``; return if none does."""
    if earlier.isdisjoint(items) and len(set(items)) == len(items):
        return
    seen: set[bytes] = set()
    for n, item in enumerate(items):
        if item in earlier or item in seen:
            raise RemoteProtocolError(f"{where}: {what} {n} repeats one sent earlier in {scope}")
        seen.add(item)


def check_returned_unique(
    msg: Returned, *, digests_seen: set[bytes], oprf_seen: set[bytes]
) -> None:
    """No digest, and no OPRF point, of a ``returned`` chunk repeats one of its stream (the
    chunks of one (lane, target) pair, protocol_spec.md section 6 item 6); then add them to
    the ``*_seen`` sets of the stream.

    Honest values never repeat: they are our distinct points under one scalar of the partner.
    A repeat would let one of the partner's values count twice, or land on one of our dummy
    slots. Whether a chunk repeats depends on its bytes alone, never on our records or
    secrets, so refusing it with an abort tells the partner nothing it did not know.
    """
    where = f"returned message (lane {msg.lane} for {msg.target}, chunk {msg.seq})"
    scope = f"the returned stream of lane {msg.lane} for {msg.target}"
    for what, blob, width, seen in (
        ("digest", msg.digests, DIGEST_BYTES, digests_seen),
        ("oprf point", msg.oprf, POINT_BYTES, oprf_seen),
    ):
        items = split_items(blob, width)
        refuse_repeats(where, what, items, seen, scope)
        seen.update(items)


def check_masks(where: str, masks: bytes, populations: int) -> None:
    width = mask_width(populations)
    limit = 1 << populations
    if width == 1 and masks:
        # One byte per account: zero and too-large masks show in C-speed scans.
        if 0 not in masks and max(masks) < limit:
            return
    for index in range(0, len(masks), width):
        value = int.from_bytes(masks[index : index + width], "little")
        if value == 0 or value >= limit:
            raise RemoteProtocolError(
                f"{where}: account {index // width} has mask {value:#x}, which names no "
                f"declared population"
            )


def _expect_len(where: str, field: str, data: bytes, expected: int) -> None:
    if len(data) != expected:
        raise RemoteProtocolError(
            f"{where}: field {field} has {len(data)} bytes, expected {expected}"
        )
