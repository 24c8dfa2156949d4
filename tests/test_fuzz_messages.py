"""Decoders fed anything: the only outcomes are a valid message or the documented error.

``decode_message`` and ``FrameDecoder`` (protocol_spec.md §4, §6 item 1), the channel's
``SecureChannel.receive_data`` (§13) and ``read_message`` for offline files, each given
random bytes, random msgpack values, and mutations of real frames recorded from a seeded
session: bit flips, truncations, extensions, fields of the wrong type, huge declared lengths
and counts, deep nesting. Nothing else may escape, error texts stay printable and bounded,
and caps are checked before anything is buffered or allocated.
"""

from __future__ import annotations

import functools
import json
import os
import struct
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hostile_support import record

from blindmatch.errors import (
    AuthenticationError,
    BlindmatchError,
    InputError,
    LocalProtocolError,
    PeerGoneError,
    RemoteProtocolError,
    TransportError,
)
from blindmatch.protocol import Role, seeded_rng
from blindmatch.protocol.agreement import PROTOCOL_VERSION
from blindmatch.protocol.messages import (
    CHUNK_POINTS,
    MAX_FRAME,
    Abort,
    Accept,
    Blinded,
    Confirm,
    FrameDecoder,
    Hello,
    Lanes,
    Returned,
    Tally,
    check_blinded,
    decode_message,
    encode_message,
)
from blindmatch.protocol.randomness import Rng
from blindmatch.transport import (
    TCP_CHANNEL_ID,
    MessageFile,
    OfflineParty,
    PairingCode,
    SecureChannel,
    Side,
    read_message,
)
from blindmatch.transport.offline import HEADER_BYTES, MAGIC
from blindmatch.transport.offline import encode_message as encode_file

MESSAGE_TYPES = (Hello, Accept, Abort, Lanes, Blinded, Returned, Tally, Confirm)
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def _bodies() -> list[bytes]:
    """Real message bodies of every type, both directions of a seeded session."""
    transcript = record()
    return [f[4:] for f in transcript.sender + transcript.receiver]


def _check_text(exc: BaseException) -> None:
    text = str(exc)
    assert text.isprintable(), repr(text)
    assert len(text) <= 600, len(text)


def _decode(body: bytes) -> object | None:
    """decode_message's verdict: a message, or None for a RemoteProtocolError."""
    try:
        message = decode_message(body)
    except RemoteProtocolError as exc:
        _check_text(exc)
        return None
    assert isinstance(message, MESSAGE_TYPES)
    assert message.v == PROTOCOL_VERSION
    return message


# -- decode_message ----------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(body: bytes) -> None:
    _decode(body)


MSGPACK_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=25,
)
SMALL_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 2**33)
    | st.text(max_size=8)
    | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
KNOWN_KEYS = [
    "role", "suite", "nonce", "terms", "agreement", "code", "reason", "slots", "lanes", "lane",
    "target", "seq", "count", "points", "masks", "wraps", "payloads", "digests", "oprf",
]  # fmt: skip


@FUZZ
@given(MSGPACK_VALUES)
def test_random_msgpack_values(value: Any) -> None:
    _decode(msgpack.packb(value, use_bin_type=True))


@FUZZ
@given(
    st.fixed_dictionaries(
        {
            "v": st.sampled_from([1, True, 1.0, 2, 0, -1, "1", None, b"\x01"]),
            "t": st.sampled_from(
                ["hello", "accept", "abort", "lanes", "blinded", "returned", "nope", "", {}, [], 7]
            ),
        },
        optional={key: SMALL_VALUES for key in KNOWN_KEYS},
    )
)
def test_message_shaped_maps(raw: dict[str, Any]) -> None:
    """Maps with the right keys and random values: the typed validation must hold."""
    message = _decode(msgpack.packb(raw, use_bin_type=True))
    if message is not None:
        assert raw["v"] == 1 and type(raw["v"]) is int


@FUZZ
@given(st.data())
def test_real_messages_with_one_field_changed(data: st.DataObject) -> None:
    body = data.draw(st.sampled_from(_bodies()))
    raw = msgpack.unpackb(body, raw=False)
    key = data.draw(st.sampled_from(sorted(raw)))
    action = data.draw(st.sampled_from(["replace", "drop", "add"]))
    if action == "drop":
        del raw[key]
    elif action == "add":
        raw[data.draw(st.text(min_size=1, max_size=12))] = data.draw(MSGPACK_VALUES)
    else:
        raw[key] = data.draw(MSGPACK_VALUES)
    _decode(msgpack.packb(raw, use_bin_type=True))


@FUZZ
@given(st.data())
def test_real_frames_flipped_truncated_and_extended(data: st.DataObject) -> None:
    body = bytearray(data.draw(st.sampled_from(_bodies())))
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "truncate", "extend", "splice"]))
        if kind == "flip" and body:
            at = data.draw(st.integers(0, len(body) - 1))
            body[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "truncate":
            del body[data.draw(st.integers(0, len(body))) :]
        elif kind == "extend":
            body += data.draw(st.binary(min_size=1, max_size=32))
        else:
            other = data.draw(st.sampled_from(_bodies()))
            cut = data.draw(st.integers(0, len(other)))
            body[data.draw(st.integers(0, len(body))) :] = other[cut:]
    _decode(bytes(body))


def test_hello_terms_are_strictly_typed_on_the_wire() -> None:
    """§6 item 1: strict typing everywhere, the terms map included: no true for an integer,
    no "128" or 128.0 for 128, no bin for text, no missing key, no hidden population."""
    hello = next(b for b in _bodies() if decode_message(b).t == "hello")
    raw = msgpack.unpackb(hello, raw=False)
    assert _decode(hello) is not None
    bad: dict[str, Any] = {
        "payload_bytes": ["128", 128.0, True],
        "keys_per_account": [True, "2"],
        "label": [b"Hostile-Sender", 5],
        "key_types": ["domain"],
        "normalization_tables": [b"00" * 8],
    }
    for key, values in bad.items():
        for value in values:
            terms = dict(raw["terms"], **{key: value})
            with pytest.raises(RemoteProtocolError, match=rf"hello message: field terms\.{key}"):
                decode_message(msgpack.packb(dict(raw, terms=terms), use_bin_type=True))
    missing = dict(raw["terms"])
    del missing["keys_per_account"]
    with pytest.raises(RemoteProtocolError, match="terms.keys_per_account"):
        decode_message(msgpack.packb(dict(raw, terms=missing), use_bin_type=True))
    hidden = dict(raw["terms"])
    hidden["populations"] = [{"name": "Secret", "disclosure": "hidden", "fields": []}]
    with pytest.raises(RemoteProtocolError, match="disclosure"):
        decode_message(msgpack.packb(dict(raw, terms=hidden), use_bin_type=True))


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"v": 1, "t": {}}, "unknown message type of type dict"),
        ({"v": 1, "t": [1, 2]}, "unknown message type of type tuple"),
        ({"v": 1, "t": "\x1b[2J" + "x" * 5000}, "unknown message type '?[2Jxxx"),
        ({"v": True, "t": "accept", "agreement": b"a" * 32}, "version of type bool"),
        ({"v": 1.0, "t": "accept", "agreement": b"a" * 32}, "version of type float"),
        ({"v": 2**64 - 1, "t": "accept"}, "protocol version 18446744073709551615"),
        ({"v": 2, "t": "accept", "agreement": b"a" * 32, "\x1b]0;pwn\x07" * 300: 1}, "?]0;pwn?"),
        ({"v": 2, "t": "abort", "code": "x\u202e", "reason": "r"}, "field code"),
    ],
    ids=[
        "dict-type",
        "list-type",
        "escape-type",
        "bool-version",
        "float-version",
        "huge-version",
        "escape-extra-key",
        "bidi-code",
    ],  # fmt: skip
)
def test_malformed_headers_are_named_in_printable_bounded_text(
    raw: dict[Any, Any], needle: str
) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_message(msgpack.packb(raw, use_bin_type=True))
    _check_text(info.value)
    assert needle in str(info.value)


# -- caps before allocation ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"\x82\xa1v\x01\xa1t\xc6\x80\x00\x00\x00",  # bin 32: 2 GiB announced, 0 present
        b"\x82\xa1v\x01\xa1t\xc6\x01\xff\xff\x00" + b"x" * 64,  # bin of ~32 MiB, 64 bytes there
        b"\x82\xa1v\x01\xa1t\xdb\x7f\xff\xff\xff",  # str 32: 2 GiB
        b"\x82\xa1v\x01\xa1t\xdd\xff\xff\xff\xff",  # array of 4 G entries
        b"\xdf\xff\xff\xff\xff",  # map of 4 G entries
        b"\xc9\x7f\xff\xff\xff\x01",  # ext 32 (no ext types at all)
        b"\x91" * 200_000 + b"\xc0",  # nesting 200,000 deep
    ],
    ids=["bin-2GiB", "bin-32MiB", "str-2GiB", "array-4G", "map-4G", "ext", "deep"],
)
def test_announced_sizes_fail_fast_without_allocating(body: bytes) -> None:
    started = time.perf_counter()
    tracemalloc.start()
    try:
        with pytest.raises(RemoteProtocolError):
            decode_message(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 8 * 1024 * 1024, peak


def _nested_body(kind: str) -> bytes:
    """A frame-sized body (32 MiB) of tiny containers inside a blinded-looking map."""
    if kind == "maps":
        inner = b"\x81\xa0\xc0"  # {"": nil}: 3 bytes -> a dict of ~200 bytes
        block = b"\xdd" + (4096).to_bytes(4, "big") + inner * 4096
    else:
        inner = b"\x91\xc0"  # [nil]: 2 bytes -> a tuple
        block = b"\xdd" + (4096).to_bytes(4, "big") + inner * 4096
    n = min((MAX_FRAME - 64) // len(block), 4096)
    return b"\x83\xa1v\x01\xa1t\xa7blinded\xa1x\xdc" + n.to_bytes(2, "big") + block * n


@pytest.mark.parametrize("kind", ["maps", "arrays"])
def test_a_frame_of_tiny_containers_does_not_become_gigabytes(kind: str) -> None:
    """Before the fix, 32 MiB of one-entry maps decoded into ~2 GB of dicts in ~6 s."""
    body = _nested_body(kind)
    assert len(body) > 30 * 1024 * 1024
    started = time.perf_counter()
    tracemalloc.start()
    try:
        with pytest.raises(RemoteProtocolError, match="undecodable|nests"):
            decode_message(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 64 * 1024 * 1024, f"{peak / 2**20:.0f} MiB"


@pytest.mark.parametrize("large", [False, True], ids=["small-body", "large-body"])
def test_a_map_that_repeats_a_key_is_refused(large: bool) -> None:
    """Two decoders could keep different values of a repeated key (first or last wins) and so
    read one hello differently under the same agreement id."""
    points = bytes(32 * (10_000 if large else 1))
    good = encode_message(
        Blinded(lane="counts", seq=0, count=len(points) // 32, points=points, masks=b"")
    )
    assert decode_message(good).t == "blinded"
    # the same map with "seq" twice: fixmap header + 1 and one more pair at the end
    assert good[0] & 0xF0 == 0x80
    twice = bytes([good[0] + 1]) + good[1:] + b"\xa3seq\x05"
    with pytest.raises(RemoteProtocolError, match="repeats a key"):
        decode_message(twice)


def test_nested_maps_in_a_large_body_are_refused() -> None:
    inner = b"\x8f" + b"".join(bytes([0xA1, 0x61 + i]) + b"\xc0" for i in range(15))
    body = b"\x84\xa1v\x01\xa1t\xa7blinded\xa1x" + inner + b"\xa1p\xc6" + struct.pack(">I", 300_000)
    body += bytes(300_000)
    with pytest.raises(RemoteProtocolError, match="nests arrays or maps"):
        decode_message(body)


def test_a_large_valid_message_still_decodes() -> None:
    points = bytes(range(32)) * 200_000  # 6.4 MB
    blinded = Blinded(lane="records", seq=0, count=100_000, points=points, masks=b"\x01" * 100_000)
    assert decode_message(encode_message(blinded)) == blinded


@pytest.mark.parametrize("slots", [1, 2, 16])
def test_a_blinded_chunk_holds_at_most_chunk_points_points(slots: int) -> None:
    """Otherwise its in-order reply (48 bytes a point with OPRF points) could pass MAX_FRAME
    and no receiver could take it."""

    def chunk(count: int) -> Blinded:
        points = bytes(count * slots * 32)
        return Blinded(lane="records", seq=0, count=count, points=points, masks=b"\x01" * count)

    fits = CHUNK_POINTS // slots
    check_blinded(chunk(fits), slots=slots, populations=1, payload_bytes=None, remaining=10**6)
    with pytest.raises(RemoteProtocolError, match=f"more than {CHUNK_POINTS} points in one chunk"):
        check_blinded(
            chunk(fits + 1), slots=slots, populations=1, payload_bytes=None, remaining=10**6
        )
    assert 48 * CHUNK_POINTS + 4096 < MAX_FRAME


# -- FrameDecoder ------------------------------------------------------------------------------


def test_a_frame_header_announcing_4_gib_fails_before_buffering() -> None:
    decoder = FrameDecoder()
    with pytest.raises(RemoteProtocolError, match="4294967295 bytes"):
        decoder.feed(b"\xff\xff\xff\xff")
    decoder = FrameDecoder()
    with pytest.raises(RemoteProtocolError, match="frame of 33554433 bytes"):
        decoder.feed((MAX_FRAME + 1).to_bytes(4, "big") + b"x" * 10)
    assert FrameDecoder().feed(MAX_FRAME.to_bytes(4, "big") + b"x") == []  # legal: waits
    with pytest.raises(RemoteProtocolError, match="frame of 0 bytes"):
        FrameDecoder().feed(b"\x00\x00\x00\x00")


@FUZZ
@given(st.data())
def test_any_split_of_a_real_stream_gives_the_same_bodies(data: st.DataObject) -> None:
    bodies = _bodies()[:9]
    stream = b"".join(len(b).to_bytes(4, "big") + b for b in bodies)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    decoder = FrameDecoder()
    got: list[bytes] = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += decoder.feed(stream[a:b])
    assert got == bodies and decoder.pending == 0


@FUZZ
@given(st.lists(st.binary(max_size=40), max_size=6))
def test_frame_decoder_random_input(chunks: list[bytes]) -> None:
    decoder = FrameDecoder()
    try:
        for chunk in chunks:
            for body in decoder.feed(chunk):
                _decode(body)
    except RemoteProtocolError as exc:
        _check_text(exc)
    assert decoder.pending <= sum(map(len, chunks))


# -- SecureChannel -----------------------------------------------------------------------------

CODE = PairingCode.generate(seeded_rng(b"fuzz channel code"))


def _channel(side: Side = Side.RESPONDER) -> SecureChannel:
    rng = seeded_rng(b"fuzz channel " + side.value.encode())
    return SecureChannel(side=side, code=CODE, channel_id=TCP_CHANNEL_ID, rng=rng)


@functools.cache
def _initiator_wire() -> bytes:
    """What the initiator sends in a whole run: HELLO, SHARE, CONFIRM, DATA records, CLOSE."""
    a, b = _channel(Side.INITIATOR), _channel(Side.RESPONDER)
    a.send(b"first application bytes")  # held until the keys exist
    wire = a.data_to_send()  # HELLO
    b.receive_data(wire)
    a.receive_data(b.data_to_send())  # the responder's HELLO and SHARE: SHARE, CONFIRM, DATA
    a.send(b"x" * 70_000)  # two more DATA records
    a.close()
    return wire + a.data_to_send()


def _feed_channel(chunks: list[bytes], *, eof: bool) -> None:
    channel = _channel()
    try:
        for chunk in chunks:
            channel.receive_data(chunk)
            channel.next_app_data()
        if eof:
            channel.receive_eof()
    except (AuthenticationError, RemoteProtocolError, PeerGoneError) as exc:
        _check_text(exc)
        with pytest.raises(LocalProtocolError):
            channel.receive_data(b"\x03")


def test_the_recorded_channel_stream_is_accepted() -> None:
    channel = _channel()
    channel.receive_data(_initiator_wire())
    assert channel.established and channel.peer_closed
    assert channel.next_app_data() == b"first application bytes" + b"x" * 70_000


@FUZZ
@given(st.lists(st.binary(max_size=80), max_size=5), st.booleans())
def test_channel_random_bytes(chunks: list[bytes], eof: bool) -> None:
    _feed_channel(chunks, eof=eof)


@FUZZ
@given(st.data(), st.booleans())
def test_channel_mutated_stream(data: st.DataObject, eof: bool) -> None:
    wire = bytearray(_initiator_wire())
    kind = data.draw(st.sampled_from(["flip", "truncate", "extend", "drop", "duplicate"]))
    at = data.draw(st.integers(0, len(wire) - 1))
    if kind == "flip":
        wire[at] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncate":
        del wire[at:]
    elif kind == "extend":
        wire[at:at] = data.draw(st.binary(min_size=1, max_size=40))
    elif kind == "drop":
        del wire[at : at + data.draw(st.integers(1, 64))]
    else:
        wire[at:at] = wire[at : at + data.draw(st.integers(1, 64))]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=4)))
    chunks = [bytes(wire[a:b]) for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    _feed_channel(chunks, eof=eof)


@pytest.mark.parametrize("rtype", [0x01, 0x02, 0x03, 0x04, 0x05, 0x7F])
def test_channel_headers_announcing_4_gib_fail_before_buffering(rtype: int) -> None:
    wire = _initiator_wire()
    hello_end = 5 + int.from_bytes(wire[1:5], "big")
    share_end = hello_end + 5 + int.from_bytes(wire[hello_end + 1 : hello_end + 5], "big")
    # before the hello, during pairing, and after the SHARE
    for prefix in (b"", wire[:hello_end], wire[:share_end]):
        channel = _channel()
        with pytest.raises((RemoteProtocolError, AuthenticationError)):
            channel.receive_data(prefix + bytes([rtype]) + b"\xff\xff\xff\xff")
        assert channel.pending <= len(prefix) + 5


# -- offline message files -----------------------------------------------------------------


def _bmx(payload: bytes = b"channel bytes", **fields: Any) -> bytes:
    values: dict[str, Any] = {
        "role": Role.SENDER,
        "step": 1,
        "run_id": b"r" * 16,
        "peer_run_id": bytes(16),
        "payload": payload,
    }
    values.update(fields)
    return encode_file(**values)


_SCRATCH: dict[str, Path] = {}


def _scratch(factory: pytest.TempPathFactory, name: str = "files") -> Path:
    """A folder under pytest's temporary root, one per name for the whole run (examples
    reuse their file names; pytest removes old roots)."""
    if name not in _SCRATCH or not _SCRATCH[name].exists():
        _SCRATCH[name] = factory.mktemp(f"fuzz-{name}")
    return _SCRATCH[name]


def _read(path: Path) -> MessageFile | None:
    try:
        return read_message(path)
    except InputError as exc:
        _check_text(exc)
        return None


@FUZZ
@given(st.binary(max_size=200))
def test_random_files(tmp_path_factory: pytest.TempPathFactory, content: bytes) -> None:
    path = _scratch(tmp_path_factory) / "random.bmx"
    path.write_bytes(content)
    _read(path)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_mutated_message_files(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    good = bytearray(_bmx(data.draw(st.binary(max_size=64))))
    kind = data.draw(st.sampled_from(["flip", "truncate", "extend"]))
    at = data.draw(st.integers(0, len(good) - 1))
    if kind == "flip":
        good[at] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncate":
        del good[at:]
    else:
        good[at:at] = data.draw(st.binary(min_size=1, max_size=16))
    path = _scratch(tmp_path_factory) / "mutated.bmx"
    path.write_bytes(bytes(good))
    assert _read(path) is None  # every change is caught: magic, header, length or checksum


def test_a_file_announcing_an_enormous_payload_is_refused_without_reading_it(
    tmp_path: Path,
) -> None:
    header = struct.pack(">4sBH16s16sQ", MAGIC, 1, 1, b"r" * 16, bytes(16), 2**63)
    path = tmp_path / "huge.bmx"
    path.write_bytes(header + bytes(32) + b"payload")
    started = time.perf_counter()
    with pytest.raises(InputError, match="announces 9223372036854775808 payload bytes"):
        read_message(path)
    assert time.perf_counter() - started < 1.0
    assert len(header) + 32 == HEADER_BYTES


def test_a_valid_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "ok.bmx"
    path.write_bytes(_bmx(b"abc"))
    message = read_message(path)
    assert message.payload == b"abc" and message.step == 1 and message.role is Role.SENDER


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX only")
def test_a_fifo_or_device_is_refused_without_blocking(tmp_path: Path) -> None:
    """A named pipe passed as a partner file used to block read_message forever."""
    fifo = tmp_path / "partner.bmx"
    os.mkfifo(fifo)
    outcome: list[BaseException | MessageFile] = []

    def read() -> None:
        try:
            outcome.append(read_message(fifo))
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():  # unblock the reader so the thread can end, then fail
        with open(fifo, "wb"):
            pass
        worker.join(5)
        pytest.fail("read_message blocked on a FIFO")
    (result,) = outcome
    assert isinstance(result, InputError) and "not a regular file" in str(result)
    with pytest.raises(InputError, match="not a regular file"):
        read_message("/dev/null")
    with pytest.raises(InputError, match="cannot read"):
        read_message(tmp_path)


# -- the offline state file (ours, but files get damaged) -----------------------------------


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=70),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _offline_party(state: Path) -> OfflineParty:
    from test_hostile_support import SENDER_LABEL, party_records, party_terms

    from blindmatch.protocol import Session

    def make(rng: Rng) -> Session:
        return Session(
            role=Role.SENDER,
            terms=party_terms(SENDER_LABEL),
            records=party_records("s", 0),
            rng=rng,
            auto_accept=True,
        )

    return OfflineParty(state, make_session=make, code=CODE, fingerprint=b"inputs")


@pytest.mark.parametrize(
    "content",
    [b"[]", b"null", b'"text"', b"7", b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe\x00", b"{"],
    ids=["list", "null", "string", "number", "deep", "binary", "truncated"],
)
def test_a_damaged_state_file_is_named_not_a_crash(tmp_path: Path, content: bytes) -> None:
    """A state file that is not a JSON object used to crash the step (AttributeError,
    RecursionError): now it is a TransportError naming the file."""
    state = tmp_path / "state.json"
    state.write_bytes(content)
    with pytest.raises(TransportError, match="state.json is damaged") as info:
        _offline_party(state).step()
    _check_text(info.value)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_state_file_with_fields_of_any_type_is_named_not_a_crash(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    directory = _scratch(tmp_path_factory, "state")
    state = directory / "state.json"
    good: dict[str, Any] = {
        "format": "blindmatch-offline-state/1",
        "role": "sender",
        "seed": "00" * 32,
        "fingerprint": b"inputs".hex(),
        "run_id": "11" * 16,
        "partner_run_id": None,
        "created": 1.0,
        "expires": 4e9,
        "step": 0,
        "sent": [],
        "sent_sha256": "",
        "consumed": [],
        "partner_sha256": "",
        "decision": None,
    }
    key = data.draw(st.sampled_from(sorted(good)))
    good[key] = data.draw(JSON_VALUES)
    state.write_text(json.dumps(good), encoding="utf-8")
    try:
        _offline_party(state).step()
    except BlindmatchError as exc:
        _check_text(exc)
    finally:
        for leftover in directory.iterdir():
            leftover.unlink()
