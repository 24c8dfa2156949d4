"""SecureChannel: pairing handshake plus authenticated, encrypted, ordered records.

Why: the session's bytes say who overlaps with whom (equal keys give equal digests). Anyone who
sees both directions, or who can pose as the partner, learns the overlap too, so the stream runs
inside this channel (or inside TLS, see :mod:`.tcp`). Sans-I/O, like
:class:`~blindmatch.protocol.Session`: feed it wire bytes, send what :meth:`data_to_send`
returns, read application bytes from :meth:`next_app_data`.

Wire format, channel version 2 (both directions; integers big-endian)::

    record   = type:u8 || length:u32 || body[length]
    0x05 HELLO    body = version:u16 (2) || method:u8 || nonce[16]     (exactly 19 bytes)
                         method 1 = pairing code (CPace), 0 = none (inside mutual TLS)
    0x01 SHARE    body = CPace message lv_cat(Y, AD)    (exactly 1 + 32 + 1 + len(AD) bytes)
    0x02 CONFIRM  body = HMAC-SHA512 tag                (exactly 64 bytes)
    0x03 DATA     body = ChaCha20-Poly1305(k_dir, nonce(seq), plaintext, aad = type || length)
                         (17 .. 65,536 + 16 bytes: plaintext 1 .. 65,536 bytes, RFC 8439)
    0x04 CLOSE    body = ChaCha20-Poly1305(k_dir, nonce(seq), "", aad = type || length)
                         (exactly 16 bytes)

    sid        = nonce_initiator || nonce_responder     (CPace's sid, 32 bytes)
    CI         = lv_cat(channel_id, HELLO_initiator, HELLO_responder)   (the hello bodies)
    nonce(seq) = 0x00000000 || seq:u64    seq counts DATA and CLOSE records per direction from
                                          0; it is never sent, so a replayed, reordered,
                                          dropped or forged record fails to decrypt
    k_dir      = HKDF-SHA256(ISK, info = "blindmatch-channel/2 initiator to responder") or
                 "... responder to initiator" (RFC 5869): one key per direction, so a record
                 reflected back to its sender does not decrypt either

Each side sends HELLO at once. The HELLO carries the channel version, so a peer of another
version is refused with a message naming both (a version 1 peer starts with SHARE or DATA
instead), and a fresh nonce, so that CPace runs with a session identifier unique to this
connection (draft-irtf-cfrg-cpace-21 §10.9 recommends one made of both parties' random
strings); CI covers both hellos, which authenticates their version and method bytes as well.
Offline, the nonce is the run identifier of the message files (:mod:`.offline`).

With the partner's HELLO in, each side sends SHARE, then CONFIRM and its DATA records as soon
as it has the partner's SHARE: its data is already under the session key, which only someone
who knows the code can compute (CPace's ISK is a usable key without confirmation;
confirmation adds perfect forward secrecy and a clear "wrong code" error, draft §10.4). It
accepts DATA only after the partner's CONFIRM verified, so a wrong code stops both sides at
the CONFIRM, before any application byte is read. The length is checked against the record cap
as soon as the five header bytes are in, before the body is buffered. CLOSE ends the stream:
an end of stream without it is truncation (:class:`~blindmatch.errors.PeerGoneError`), and any
byte after it is an error.

Without a pairing code (``code=None``, for use inside mutually authenticated TLS, which already
encrypts, authenticates and orders), the HELLOs are followed by no SHARE or CONFIRM and the
DATA and CLOSE bodies are the plaintext itself (CLOSE: empty). The CLOSE record still detects
truncation, which Python's ``ssl`` module can hide (``suppress_ragged_eofs``).

Errors: malformed handshake bytes (not a blindmatch peer, or a different method) raise
:class:`~blindmatch.errors.RemoteProtocolError`; a failed key confirmation or record
authentication, or a bad record header once keyed, raises
:class:`~blindmatch.errors.AuthenticationError` naming the record's sequence number. After an
error the channel is dead, but :meth:`data_to_send` still returns what was queued before it
(our CONFIRM): send it, so the partner reaches the same verdict.
"""

from __future__ import annotations

import enum
import struct
from typing import Final

from ..crypto import AEAD_TAG_BYTES, SUITE, channel_traffic_key, record_nonce
from ..crypto.aead import Aead
from ..crypto.cpace import lv_cat
from ..crypto.engine import CryptoEngine
from ..errors import (
    AuthenticationError,
    BlindmatchError,
    LocalProtocolError,
    PeerGoneError,
    RemoteProtocolError,
)
from ..protocol.randomness import Rng, system_rng
from .pairing import PairingCode
from .pake import CONFIRM_BYTES, CPace, Side

__all__ = [
    "AEAD_TAG_BYTES",
    "CHANNEL_VERSION",
    "HEADER_BYTES",
    "HELLO_NONCE_BYTES",
    "MAX_PLAINTEXT",
    "OFFLINE_CHANNEL_ID",
    "TCP_CHANNEL_ID",
    "WORMHOLE_CHANNEL_ID",
    "RecordType",
    "SecureChannel",
]

#: type:u8 || length:u32
_HEADER: Final = struct.Struct(">BI")
HEADER_BYTES: Final = _HEADER.size
#: Largest plaintext in one DATA record. Big enough that per-record costs vanish next to
#: the curve work, small enough that a forged length cannot make us buffer much.
MAX_PLAINTEXT: Final = 1 << 16
_MAX_SEQ: Final = 2**64 - 1

#: The channel version this code speaks (in every HELLO; labels carry it too).
CHANNEL_VERSION: Final = SUITE.channel_version
#: Channel identifiers, the first part of CPace's CI: a handshake made for one transport
#: fails on the other.
TCP_CHANNEL_ID: Final = SUITE.channel_id("tcp")
OFFLINE_CHANNEL_ID: Final = SUITE.channel_id("offline")
WORMHOLE_CHANNEL_ID: Final = SUITE.channel_id("wormhole")
#: version:u16 || method:u8 || nonce[16]
_HELLO: Final = struct.Struct(">HB16s")
HELLO_NONCE_BYTES: Final = 16
#: A HELLO's length is checked only after its version: a future version may change it.
_MAX_HELLO: Final = 1024
_METHODS: Final = {0: "none", 1: "pairing code"}


def _share_size(side: Side) -> int:
    """The exact size of ``side``'s CPace message lv_cat(Y, AD)."""
    return len(lv_cat(bytes(32), side.ad))


class RecordType(enum.IntEnum):
    """The record types of the channel (the first header byte)."""

    SHARE = 0x01
    CONFIRM = 0x02
    DATA = 0x03
    CLOSE = 0x04
    HELLO = 0x05


class SecureChannel:
    """One end of a blindmatch channel, as a state machine over bytes.

    :param side: initiator or responder (the transports say which; the two ends must differ).
    :param code: the pairing code, or None for a plaintext-record channel inside TLS.
    :param channel_id: the transport's channel id, e.g. :data:`TCP_CHANNEL_ID` (first part of
        CPace's CI).
    :param nonce: our HELLO nonce (16 bytes); drawn from ``rng`` if omitted. Offline runs pass
        their run identifier.
    :param rng: randomness for the nonce and the CPace scalar (the OS CSPRNG unless replaying
        offline).
    :param engine: the crypto engine whose ``elligator2_map`` derives the CPace generator.
    :param max_plaintext: plaintext per DATA record; the receiving cap is the same.
    """

    def __init__(
        self,
        *,
        side: Side,
        code: PairingCode | None,
        channel_id: bytes,
        nonce: bytes | None = None,
        rng: Rng | None = None,
        engine: CryptoEngine | None = None,
        max_plaintext: int = MAX_PLAINTEXT,
    ) -> None:
        if not 1 <= max_plaintext <= MAX_PLAINTEXT:
            raise LocalProtocolError(f"max_plaintext must be 1..{MAX_PLAINTEXT}")
        self.side = side
        self._max_plaintext = max_plaintext
        self._code = code
        self._channel_id = channel_id
        self._rng = rng or system_rng
        self._engine = engine
        if nonce is None:
            nonce = self._rng(HELLO_NONCE_BYTES)
        if len(nonce) != HELLO_NONCE_BYTES:
            raise LocalProtocolError(f"the channel nonce must be {HELLO_NONCE_BYTES} bytes")
        self._hello = _HELLO.pack(CHANNEL_VERSION, 1 if code is not None else 0, nonce)
        self._pake: CPace | None = None
        self._out = bytearray()
        self._in = bytearray()
        self._app_in = bytearray()
        self._early = bytearray()  # application bytes given before we had keys
        self._send_aead: Aead | None = None
        self._recv_aead: Aead | None = None
        self._send_seq = 0
        self._recv_seq = 0
        plain = code is None
        self._keyed = plain  # we can seal records
        self._hello_received = False
        self._share_received = False
        self._established = False  # the partner proved it knows the code (or TLS did)
        self._close_requested = False
        self._close_sent = False
        self._peer_closed = False
        self._failed: BaseException | None = None
        self._emit(RecordType.HELLO, self._hello)

    def __repr__(self) -> str:
        return (
            f"SecureChannel(side={self.side.value}, method={self.method}, "
            f"established={self._established}, sent={self._send_seq}, "
            f"received={self._recv_seq})"
        )

    # -- state ----------------------------------------------------------------------------------

    @property
    def method(self) -> str:
        """How the partner is authenticated here: ``pairing code`` or ``none`` (TLS does it)."""
        return "pairing code" if self._code is not None else "none"

    @property
    def established(self) -> bool:
        """The partner proved it knows the pairing code (without one: its HELLO arrived)."""
        return self._established

    @property
    def closed(self) -> bool:
        """We called :meth:`close` (the CLOSE record goes out as soon as we have keys)."""
        return self._close_requested

    @property
    def peer_closed(self) -> bool:
        """The partner's CLOSE record arrived and verified: its stream ended cleanly."""
        return self._peer_closed

    @property
    def records_sent(self) -> int:
        """DATA and CLOSE records sealed so far (the next sequence number)."""
        return self._send_seq

    @property
    def records_received(self) -> int:
        """DATA and CLOSE records opened so far (the next expected sequence number)."""
        return self._recv_seq

    @property
    def pending(self) -> int:
        """Bytes of an unfinished record buffered (non-zero at end of stream: truncation)."""
        return len(self._in)

    @property
    def awaiting(self) -> str:
        """What the channel itself needs from the partner next, for error messages."""
        if not self._hello_received:
            return "channel hello"
        if not self._share_received and self._code is not None:
            return "pairing message"
        if not self._established:
            return "pairing confirmation"
        if not self._peer_closed:
            return "data"
        return "nothing"

    # -- sending --------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Queue application bytes; sealed into DATA records (held until we have keys)."""
        self._check_usable()
        if self._close_requested:
            raise LocalProtocolError("send() after close()")
        if not data:
            return
        if not self._keyed:
            self._early += data
            return
        self._seal_data(data)

    def close(self) -> None:
        """End our stream with a CLOSE record. Idempotent."""
        if self._close_requested:
            return
        self._check_usable()
        self._close_requested = True
        if self._keyed:
            self._seal(RecordType.CLOSE, b"")
            self._close_sent = True

    def data_to_send(self) -> bytes:
        """Wire bytes to send now (also after an error: our CONFIRM may be among them)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def _emit(self, rtype: RecordType, body: bytes) -> None:
        self._out += _HEADER.pack(rtype, len(body)) + body

    def _seal(self, rtype: RecordType, plaintext: bytes) -> None:
        if self._send_seq >= _MAX_SEQ:
            raise LocalProtocolError("the channel ran out of sequence numbers")
        if self._send_aead is None:
            self._emit(rtype, plaintext)
        else:
            header = _HEADER.pack(rtype, len(plaintext) + AEAD_TAG_BYTES)
            self._out += header + self._send_aead.seal(
                record_nonce(self._send_seq), plaintext, header
            )
        self._send_seq += 1

    def _seal_data(self, data: bytes) -> None:
        step = self._max_plaintext
        view = memoryview(data)
        for at in range(0, len(data), step):
            self._seal(RecordType.DATA, bytes(view[at : at + step]))

    # -- receiving ------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed wire bytes from the partner. Raises on anything forged, malformed or late."""
        self._check_usable()
        try:
            self._receive(data)
        except BlindmatchError as exc:
            self._failed = exc
            raise

    def next_app_data(self) -> bytes:
        """Application bytes that arrived and verified, in order (``b""`` if none)."""
        out = bytes(self._app_in)
        self._app_in.clear()
        return out

    def receive_eof(self) -> None:
        """The partner's byte stream ended. Fine after its CLOSE record; truncation otherwise."""
        if self._peer_closed or self._failed is not None:
            return
        if not self._established:
            detail = f"during pairing, before its {self.awaiting}"
        else:
            detail = f"after record {self._recv_seq - 1}" if self._recv_seq else "before any record"
            detail = f"without a close record, {detail}"
        if self._in:
            detail += f" and {len(self._in)} bytes into an unfinished record"
        exc = PeerGoneError(
            f"the partner's stream ended {detail} (it disconnected, or the stream was cut)"
        )
        self._failed = exc
        raise exc

    def _check_usable(self) -> None:
        if self._failed is not None:
            raise LocalProtocolError("the channel failed earlier; it cannot be used again")

    def _receive(self, data: bytes) -> None:
        buf = self._in
        buf += data
        pos = 0
        try:
            while len(buf) - pos >= HEADER_BYTES:
                if self._peer_closed:
                    raise AuthenticationError(
                        f"{len(buf) - pos} bytes arrived after the partner's close record"
                    )
                rtype, length = _HEADER.unpack_from(buf, pos)
                self._check_header(rtype, length)
                end = pos + HEADER_BYTES + length
                if end > len(buf):
                    break
                header = bytes(buf[pos : pos + HEADER_BYTES])
                body = bytes(buf[pos + HEADER_BYTES : end])
                pos = end
                self._on_record(RecordType(rtype), header, body)
            if self._peer_closed and pos < len(buf):
                raise AuthenticationError(
                    f"{len(buf) - pos} bytes arrived after the partner's close record"
                )
        finally:
            del buf[:pos]

    def _check_header(self, rtype: int, length: int) -> None:
        """Validate a header before its body is buffered (so a forged length costs nothing)."""
        if not self._hello_received:
            if rtype == RecordType.HELLO:
                if not 2 <= length <= _MAX_HELLO:
                    raise RemoteProtocolError(
                        f"the partner's channel hello is {length} bytes: it is not a "
                        f"blindmatch peer"
                    )
                return
            if rtype in (RecordType.SHARE, RecordType.DATA, RecordType.CLOSE):
                # What a channel version 1 peer sends first (SHARE, or DATA inside TLS).
                raise RemoteProtocolError(
                    f"the partner speaks blindmatch channel version 1 (it started with a "
                    f"{RecordType(rtype).name} record, not a channel hello); we speak channel "
                    f"version {CHANNEL_VERSION}: both sides need a blindmatch release with "
                    f"channel version {CHANNEL_VERSION}"
                )
            raise RemoteProtocolError(
                "the partner did not start with a channel hello: it is not a blindmatch peer"
            )
        if not self._share_received and self._code is not None:
            size = _share_size(self.side.other)
            if rtype != RecordType.SHARE:
                raise RemoteProtocolError(
                    f"expected the partner's pairing message, got a record of type "
                    f"{rtype:#04x} and {length} bytes"
                )
            if length != size:
                raise RemoteProtocolError(
                    f"the partner's pairing message is {length} bytes, expected {size}: "
                    f"another protocol or version"
                )
            return
        if not self._established:
            if rtype != RecordType.CONFIRM or length != CONFIRM_BYTES:
                raise RemoteProtocolError(
                    f"expected the partner's pairing confirmation, got a record of type "
                    f"{rtype:#04x} and {length} bytes"
                )
            return
        tag = AEAD_TAG_BYTES if self._recv_aead is not None else 0
        if rtype == RecordType.DATA and tag < length <= self._max_plaintext + tag:
            return
        if rtype == RecordType.CLOSE and length == tag:
            return
        what = (
            f"record {self._recv_seq} from the partner has type {rtype:#04x} and declares "
            f"{length} bytes (DATA carries 1..{self._max_plaintext} bytes of plaintext)"
        )
        if self._recv_aead is None:
            if rtype in (RecordType.SHARE, RecordType.CONFIRM):
                raise RemoteProtocolError(
                    "the partner uses a pairing code but we do not (TLS only): both sides "
                    "must use the same method"
                )
            raise RemoteProtocolError(f"{what}: the stream is broken")
        raise AuthenticationError(f"{what}: the stream was corrupted or tampered with")

    def _on_record(self, rtype: RecordType, header: bytes, body: bytes) -> None:
        if rtype is RecordType.HELLO:
            self._on_hello(body)
        elif rtype is RecordType.SHARE:
            self._on_share(body)
        elif rtype is RecordType.CONFIRM:
            assert self._pake is not None
            self._pake.verify(body)
            self._established = True
        else:
            plaintext = self._open(header, body)
            if rtype is RecordType.DATA:
                self._app_in += plaintext
            else:
                self._peer_closed = True

    def _on_hello(self, body: bytes) -> None:
        """Check the partner's version and method; with a code, start CPace (we now have sid)."""
        (version,) = struct.unpack_from(">H", body)
        if version != CHANNEL_VERSION:
            raise RemoteProtocolError(
                f"the partner speaks blindmatch channel version {version}; we speak channel "
                f"version {CHANNEL_VERSION}: both sides need a blindmatch release with the "
                f"same channel version"
            )
        if len(body) != _HELLO.size:
            raise RemoteProtocolError(
                f"the partner's channel hello is {len(body)} bytes, expected {_HELLO.size}"
            )
        _, method, nonce = _HELLO.unpack(body)
        ours = 1 if self._code is not None else 0
        if method != ours:
            theirs = _METHODS.get(method, f"an unknown method ({method})")
            raise RemoteProtocolError(
                f"the partner authenticates with {theirs}, we with {_METHODS[ours]}: both "
                f"sides must use the same method (a pairing code, or TLS certificates only)"
            )
        if body == self._hello:
            raise RemoteProtocolError(
                "the partner's channel hello is our own: the connection loops back to us"
            )
        self._hello_received = True
        if self._code is None:
            self._share_received = self._established = True
            return
        hello_i, hello_r = (
            (self._hello, body) if self.side is Side.INITIATOR else (body, self._hello)
        )
        self._pake = CPace(
            side=self.side,
            code=self._code,
            ci=lv_cat(self._channel_id, hello_i, hello_r),
            sid=hello_i[-HELLO_NONCE_BYTES:] + hello_r[-HELLO_NONCE_BYTES:],
            rng=self._rng,
            engine=self._engine,
        )
        self._emit(RecordType.SHARE, self._pake.message)

    def _on_share(self, body: bytes) -> None:
        pake = self._pake
        assert pake is not None
        pake.receive(body)
        self._send_aead = channel_traffic_key(pake.isk, self.side.value)
        self._recv_aead = channel_traffic_key(pake.isk, self.side.other.value)
        self._share_received = True
        self._keyed = True
        self._emit(RecordType.CONFIRM, pake.confirmation())
        if self._early:
            self._seal_data(bytes(self._early))
            self._early.clear()
        if self._close_requested and not self._close_sent:
            self._seal(RecordType.CLOSE, b"")
            self._close_sent = True

    def _open(self, header: bytes, body: bytes) -> bytes:
        seq = self._recv_seq
        if self._recv_aead is None:
            plaintext = body
        else:
            opened = self._recv_aead.open(record_nonce(seq), body, header)
            if opened is None:
                raise AuthenticationError(
                    f"record {seq} from the partner failed authentication: it was forged, "
                    f"corrupted, replayed or reordered, or a record before it was dropped"
                )
            plaintext = opened
        self._recv_seq = seq + 1
        return plaintext
