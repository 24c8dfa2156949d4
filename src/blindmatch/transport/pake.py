"""CPace on X25519: a pairing code becomes a strong session key (draft-irtf-cfrg-cpace).

Why a PAKE: the code has only ~46 bits. Hashing it into a key directly would let anyone who
records the traffic try all codes offline. CPace turns it into a Diffie-Hellman exchange on a
*code-dependent generator*: an eavesdropper learns nothing it can test guesses against, and an
active attacker can test one guess per run, by taking part in it.

Theory of operation (names as in the draft; ``pfc`` is its ``prefix_free_cat``, each part
prefixed with its LEB128 length)::

    gen_str = pfc(DSI, PRS, zero_bytes(len_zpad), CI, sid)       len_zpad fills SHA-512's
    g       = hash_to_curve(gen_str, DST=DSI)                      first 128-byte block
    y       = 32 random bytes (X25519 clamps them, RFC 7748 §5)
    Y       = X25519(y, g);   MSG = pfc(Y, AD)   AD = "blindmatch/1 initiator" | "... responder"
    K       = X25519(y, Y_partner); abort if K is all zero (a small-order share)
    ISK     = SHA-512(pfc(DSI || "_ISK", sid, K) || MSG_initiator || MSG_responder)

with DSI = ``blindmatch/1 cpace``, PRS = the code's digits, CI = a label of the transport
(``blindmatch/1 tcp``, ``blindmatch/1 offline``) so a message of one cannot be replayed into the
other. Both shares may be sent at once (no round trip before the key); the transcript orders
them by role, which the draft allows when roles are fixed ("initiator-responder" setting).

Explicit key confirmation (the draft's "Key confirmation" section recommends it for perfect
forward security, and we need it to tell the user "wrong code" instead of failing later on
garbage): each side sends ``HMAC-SHA256(k_side, pfc("initiator"|"responder", MSG_i, MSG_r))``
with ``k_side = HKDF-SHA256(ikm=ISK, salt="", info="blindmatch/1 cpace confirm " || side)``
(RFC 5869, RFC 2104). Role-specific keys stop a reflected tag from verifying. Each side sends
its tag *before* it can check the partner's, so a wrong code fails on both sides alike.

Deviation from the draft, on purpose: the draft's G_X25519 maps ``SHA-512(gen_str)`` with a
*single* Elligator 2 evaluation and keeps the cofactor. We use RFC 9380's full random-oracle
map (``curve25519_XMD:SHA-512_ELL2_RO_``: two Elligator 2 evaluations added, cofactor cleared)
from :mod:`blindmatch.crypto`, with DSI as the hash-to-curve DST. This is fine because CPace
needs only that g is a generator nobody knows a discrete log of, for every PRS: the RO map
gives that with a uniform distribution on the prime-order subgroup, a stronger property than
the single map's (whose non-uniformity the CPace proof has to absorb), and X25519 clamping
would clear the cofactor anyway. The gain is one vetted, test-vector-checked hash-to-curve
in the codebase instead of two; the cost is that our messages do not match the draft's
CPACE-X25519-SHA512 test vectors, so we name the suite ``blindmatch/1 cpace`` and claim no
interoperability with it.

Sans-I/O: :class:`CPace` produces and consumes whole messages; framing belongs to
:mod:`.channel`.
"""

from __future__ import annotations

import enum
import hmac

from ..crypto import FIELD_PRIME, POINT_BYTES
from ..crypto.cpace import (
    CONFIRM_BYTES,
    DSI,
    calculate_generator,
    confirmation_tag,
    derive_isk,
    derive_key,
    generator_string,
    prefix_free_cat,
    prepend_len,
    read_lv,
    scalar_mult_vfy,
)
from ..errors import AuthenticationError, LocalProtocolError, RemoteProtocolError
from ..protocol.randomness import Rng, system_rng
from .pairing import PairingCode

__all__ = [
    "CONFIRM_BYTES",
    "DSI",
    "CPace",
    "Side",
    "calculate_generator",
    "generator_string",
    "prefix_free_cat",
    "prepend_len",
]

_ZERO_POINT = bytes(POINT_BYTES)


class Side(str, enum.Enum):
    """Which end of the channel we are; orders the transcript and picks the key directions.

    Transports map the protocol roles onto it: the side that connects (or, offline, the
    session's receiver) is the initiator.
    """

    INITIATOR = "initiator"
    RESPONDER = "responder"

    @property
    def other(self) -> Side:
        return Side.RESPONDER if self is Side.INITIATOR else Side.INITIATOR

    @property
    def ad(self) -> bytes:
        """The associated data this side puts in its CPace message."""
        return b"blindmatch/1 " + self.value.encode("ascii")


class CPace:
    """One side of a CPace run with explicit key confirmation.

    Flow: send :attr:`message`; pass the partner's message to :meth:`receive`; send
    :meth:`confirmation`; pass the partner's tag to :meth:`verify`. After ``receive`` the
    session key material is available through :meth:`derive_key`; treat it as unauthenticated
    until ``verify`` returned.

    :param side: our end, see :class:`Side`.
    :param code: the shared pairing code (PRS).
    :param ci: channel identifier: binds the run to one transport.
    :param sid: session identifier, if the caller has established one (may be empty).
    :param rng: where the scalar y comes from (the OS CSPRNG unless replaying offline).
    """

    def __init__(
        self,
        *,
        side: Side,
        code: PairingCode,
        ci: bytes = b"",
        sid: bytes = b"",
        rng: Rng | None = None,
    ) -> None:
        self.side = side
        self._sid = sid
        self._y = (rng or system_rng)(32)
        if len(self._y) != 32:
            raise LocalProtocolError("rng(32) must return 32 bytes")
        g = calculate_generator(code.secret(), ci, sid)
        share = scalar_mult_vfy(self._y, g)
        assert share is not None  # g is in the prime-order subgroup and not the identity
        #: Our CPace message, pfc(Y, AD): send it to the partner.
        self.message = prefix_free_cat(share, side.ad)
        self._isk: bytes | None = None
        self._shares = (b"", b"")
        self.verified = False

    @property
    def message_size(self) -> int:
        """The exact size of a well-formed message from the partner."""
        return len(prefix_free_cat(_ZERO_POINT, self.side.other.ad))

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
        if k is None:
            raise AuthenticationError(
                "the partner's pairing message is a small-order point (an attack, not a typo)"
            )
        msg_i, msg_r = (
            (self.message, message) if self.side is Side.INITIATOR else (message, self.message)
        )
        self._isk = derive_isk(self._sid, k, msg_i, msg_r)
        self._shares = (msg_i, msg_r)

    @property
    def isk(self) -> bytes:
        """The intermediate session key (64 bytes). Never use it directly as a traffic key."""
        if self._isk is None:
            raise LocalProtocolError("no session key before the partner's pairing message")
        return self._isk

    def derive_key(self, label: bytes, length: int = 32) -> bytes:
        """A key for ``label`` from ISK (HKDF-SHA256, RFC 5869), as the draft recommends."""
        return derive_key(self.isk, label, length)

    def _tag(self, side: Side) -> bytes:
        return confirmation_tag(self.isk, side.value, *self._shares)

    def confirmation(self) -> bytes:
        """Our key-confirmation tag: send it once :meth:`receive` has run."""
        return self._tag(self.side)

    def verify(self, tag: bytes) -> None:
        """Check the partner's tag; a mismatch means the codes differ (or an attack)."""
        if not hmac.compare_digest(tag, self._tag(self.side.other)):
            raise AuthenticationError(
                "pairing code does not match: the partner entered a different code, or "
                "someone interfered with the connection; no record data was exchanged. "
                "Start again with a new code"
            )
        self.verified = True
