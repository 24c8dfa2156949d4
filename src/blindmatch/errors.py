"""The one exception hierarchy of blindmatch.

Every error the library raises on purpose derives from :class:`BlindmatchError`, so an
application can catch everything blindmatch-specific in one place. Where an error is also a
natural builtin (a bad argument is a ``ValueError``), it inherits from that builtin too, so
callers that catch the builtin keep working (the pattern pynacl uses)::

    BlindmatchError
    +-- UsageError (ValueError)           the caller misused the API or the command line
    +-- InputError (ValueError)           an input file, row, column or value is bad
    |   +-- PolicyError                   a policy file or policy object is invalid
    +-- ProtocolError                     the two-party protocol cannot go on
    |   +-- LocalProtocolError            we were asked to do something out of order
    |   +-- RemoteProtocolError           the peer sent bytes that break the protocol
    |   +-- AgreementError                the two parties' terms are incompatible or rejected
    |   +-- PeerAbortedError              the peer stopped the session and told us why
    +-- CryptoError                       a cryptographic check failed (bad point, bad tag)
    +-- TransportError (OSError)          the network or the message files failed us
    |   +-- AuthenticationError           wrong pairing code, bad certificate, forged frame
    |   +-- PeerGoneError                 the peer disconnected or went silent
    |   +-- TransportTimeoutError (TimeoutError)

Messages name *what* is wrong and *where* (file, row, column, field, message type, index), and
never contain secrets: no scalars, pairing codes, session keys or the partner's raw keys.
"""

from __future__ import annotations

__all__ = [
    "AgreementError",
    "AuthenticationError",
    "BlindmatchError",
    "ConformanceError",
    "CryptoError",
    "InputError",
    "LocalProtocolError",
    "PeerAbortedError",
    "PeerGoneError",
    "PolicyError",
    "ProtocolError",
    "RemoteProtocolError",
    "TransportError",
    "TransportTimeoutError",
    "UsageError",
]


class BlindmatchError(Exception):
    """Root of every error blindmatch raises on purpose."""


class UsageError(BlindmatchError, ValueError):
    """The caller used the API or the command line wrongly."""


class InputError(BlindmatchError, ValueError):
    """Bad input data, located as precisely as we can.

    ``str(err)`` reads ``file:row:column: message``; the parts are also attributes so programs
    can report them their own way.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.row = row
        self.column = column
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class PolicyError(InputError):
    """A policy (TOML file or object) is invalid; names the file and the key at fault."""


class ProtocolError(BlindmatchError):
    """The two-party protocol cannot continue. The session that raised it is dead."""


class LocalProtocolError(ProtocolError):
    """We were asked to do something the protocol state does not allow (our own misuse)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something that breaks the protocol: names the message and the index."""


class AgreementError(ProtocolError):
    """The parties' terms are incompatible (version, normalization, keys) or were rejected."""


class PeerAbortedError(ProtocolError):
    """The peer sent an abort message; its reason is in the text."""


class CryptoError(BlindmatchError):
    """A cryptographic check failed: a point that is not acceptable, a tag that does not verify."""


class TransportError(BlindmatchError, OSError):
    """The channel to the peer failed (network, message files)."""


class AuthenticationError(TransportError):
    """The peer could not be authenticated: wrong pairing code, bad certificate, forged frame."""


class PeerGoneError(TransportError):
    """The peer disconnected, or stopped answering, before the session finished."""


class TransportTimeoutError(TransportError, TimeoutError):
    """A network wait exceeded its deadline."""


class ConformanceError(BlindmatchError):
    """A conformance check could not run or did not hold: a vector file that is missing or
    malformed, a value that differs from the vector, an implementation under test that broke
    the kit's line protocol. Names the file, the case and the field."""
