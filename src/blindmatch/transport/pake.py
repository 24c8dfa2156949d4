"""CPace on X25519: a pairing code becomes a strong session key (draft-irtf-cfrg-cpace-21).

Why a PAKE: the code has only ~46 bits. Hashing it into a key directly would let anyone who
records the traffic try all codes offline. CPace turns it into a Diffie-Hellman exchange on a
*code-dependent generator*: an eavesdropper learns nothing it can test guesses against, and an
active attacker can test one guess per run, by taking part in it.

This is the draft's CPACE-X25519-SHA512 exactly, in its initiator-responder setting (the
math is :mod:`blindmatch.crypto.cpace`, names as in the draft)::

    g   = G_X25519.calculate_generator(SHA-512, PRS, CI, sid)       DSI = "CPace255"
    y   = sample_scalar();  Y = scalar_mult(y, g);  send Y with AD
    K   = scalar_mult_vfy(y, Y_partner); abort if K = G.I
    ISK = SHA-512(lv_cat("CPace255_ISK", sid, K) || transcript_ir(Ya, ADa, Yb, ADb))

with PRS = the code's 15 ASCII digits; CI and sid come from the channel (:mod:`.channel`: CI
names the channel version and transport and covers both channel hellos, sid is both hellos'
nonces), and AD = ``blindmatch-channel/2 initiator`` or ``... responder``. blindmatch's labels
ride in CI and AD, so the DSI is the draft's and the draft's vectors check our functions.

Explicit key confirmation (draft §10.4; it gives perfect forward security, and lets us tell
the user "wrong code" instead of failing later on garbage): ``mac_key = SHA-512("CPaceMac" ||
sid || ISK)``, and each side sends ``HMAC-SHA512(mac_key, lv_cat(Y, AD))`` over the message it
sent. Each side sends its tag *before* it can check the partner's, so a wrong code fails on
both sides alike.

One deliberate refusal: the draft's scalar_mult_vfy decodes any 32 bytes (bit 255 cleared,
values reduced modulo p); we refuse a share that is not the canonical encoding (below p), so
one point has one encoding on our wire (protocol_spec.md §13).

Sans-I/O: :class:`CPace` produces and consumes whole messages; framing belongs to
:mod:`.channel`.
"""

from __future__ import annotations

import enum
import hmac

from ..crypto import FIELD_PRIME, POINT_BYTES, SUITE
from ..crypto.aead import hkdf_sha256
from ..crypto.cpace import (
    MAC_BYTES,
    calculate_generator,
    derive_isk,
    is_neutral,
    lv_cat,
    mac_key,
    mac_tag,
    read_lv,
    scalar_mult,
    scalar_mult_vfy,
    transcript_ir,
)
from ..crypto.engine import CryptoEngine, InlineEngine
from ..errors import AuthenticationError, LocalProtocolError, RemoteProtocolError
from ..protocol.randomness import Rng, system_rng
from .pairing import PairingCode

__all__ = ["CONFIRM_BYTES", "CPace", "Side"]

#: Length of a key-confirmation tag (HMAC-SHA512).
CONFIRM_BYTES = MAC_BYTES


class Side(str, enum.Enum):
    """Which end of the channel we are; orders the transcript and picks the key directions.

    Transports map the protocol roles onto it: the side that connects (or, offline, the
    session's receiver) is the initiator (the draft's A).
    """

    INITIATOR = "initiator"
    RESPONDER = "responder"

    @property
    def other(self) -> Side:
        return Side.RESPONDER if self is Side.INITIATOR else Side.INITIATOR

    @property
    def ad(self) -> bytes:
        """The associated data this side puts in its CPace message (ADa or ADb)."""
        return SUITE.cpace_ad(self.value)


class CPace:
    """One side of a CPace run with explicit key confirmation.

    Flow: send :attr:`message`; pass the partner's message to :meth:`receive`; send
    :meth:`confirmation`; pass the partner's tag to :meth:`verify`. After ``receive`` the
    session key material is available through :meth:`derive_key`; treat it as unauthenticated
    until ``verify`` returned.

    :param side: our end, see :class:`Side`.
    :param code: the shared pairing code (PRS).
    :param ci: channel identifier (CI): binds the run to one transport and channel version.
    :param sid: session identifier both sides know (the channel's hello nonces).
    :param rng: where the scalar y comes from (the OS CSPRNG unless replaying offline).
    :param engine: whose ``elligator2_map`` computes the generator (constant time).
    """

    def __init__(
        self,
        *,
        side: Side,
        code: PairingCode,
        ci: bytes = b"",
        sid: bytes = b"",
        rng: Rng | None = None,
        engine: CryptoEngine | None = None,
    ) -> None:
        self.side = side
        self._sid = sid
        self._y = (rng or system_rng)(32)  # G_X25519.sample_scalar()
        if len(self._y) != 32:
            raise LocalProtocolError("rng(32) must return 32 bytes")
        map_to_curve = (engine or InlineEngine()).elligator2_map
        g = calculate_generator(code.secret(), ci, sid, map_to_curve=map_to_curve)
        share = scalar_mult(self._y, g)
        if is_neutral(share):  # g of low order: a handful of u values, probability ~2^-250
            raise LocalProtocolError("the pairing code maps to a low-order point; use a new code")
        self._share = share
        #: Our CPace message, lv_cat(Y, AD): send it to the partner.
        self.message = lv_cat(share, side.ad)
        self._isk: bytes | None = None
        self._mac_key = b""
        self._partner: tuple[bytes, bytes] = (b"", b"")
        self.verified = False

    def __repr__(self) -> str:
        return f"CPace(side={self.side.value}, keyed={self._isk is not None})"

    @property
    def message_size(self) -> int:
        """The exact size of a well-formed message from the partner."""
        return len(lv_cat(bytes(POINT_BYTES), self.side.other.ad))

    def receive(self, message: bytes) -> None:
        """Take the partner's message and derive ISK. Raises before any key exists if it is bad."""
        if self._isk is not None:
            raise LocalProtocolError("the partner's pairing message was already received")
        first = read_lv(message, 0)
        second = read_lv(message, first[1]) if first else None
        if first is None or second is None or second[1] != len(message):
            raise RemoteProtocolError(
                "the partner's pairing message is malformed (its length fields do not add up)"
            )
        share, ad = first[0], second[0]
        if ad != self.side.other.ad:
            if ad == self.side.ad:
                raise RemoteProtocolError(
                    f"the partner also acts as the {self.side.value}: one side must connect "
                    f"(or hold the receiver role) and the other listen (the sender role)"
                )
            raise RemoteProtocolError(
                "the partner's pairing message is from another protocol or version"
            )
        if len(share) != POINT_BYTES or int.from_bytes(share, "little") >= FIELD_PRIME:
            raise AuthenticationError(
                "the partner's pairing message does not hold a canonical curve25519 point"
            )
        k = scalar_mult_vfy(self._y, share)
        if is_neutral(k):
            raise AuthenticationError(
                "the partner's pairing message is a small-order point (an attack, not a typo)"
            )
        own = (self._share, self.side.ad)
        theirs = (share, ad)
        ya, ada, yb, adb = (*own, *theirs) if self.side is Side.INITIATOR else (*theirs, *own)
        self._isk = derive_isk(self._sid, k, transcript_ir(ya, ada, yb, adb))
        self._mac_key = mac_key(self._sid, self._isk)
        self._partner = theirs

    @property
    def isk(self) -> bytes:
        """The intermediate session key (64 bytes). Never use it directly as a traffic key."""
        if self._isk is None:
            raise LocalProtocolError("no session key before the partner's pairing message")
        return self._isk

    def derive_key(self, label: bytes, length: int = 32) -> bytes:
        """A key for ``label`` from ISK (HKDF-SHA256, RFC 5869), as the draft recommends."""
        return hkdf_sha256(self.isk, label, length=length)

    def confirmation(self) -> bytes:
        """Our key-confirmation tag Ta (or Tb): send it once :meth:`receive` has run."""
        if self._isk is None:
            raise LocalProtocolError("no confirmation before the partner's pairing message")
        return mac_tag(self._mac_key, self._share, self.side.ad)

    def verify(self, tag: bytes) -> None:
        """Check the partner's tag; a mismatch means the codes differ (or an attack)."""
        if self._isk is None:
            raise LocalProtocolError("no confirmation before the partner's pairing message")
        if not hmac.compare_digest(tag, mac_tag(self._mac_key, *self._partner)):
            raise AuthenticationError(
                "pairing code does not match: the partner entered a different code, or "
                "someone interfered with the connection; no record data was exchanged. "
                "Start again with a new code"
            )
        self.verified = True
