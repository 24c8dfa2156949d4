"""Exit codes and how each error is reported: one table for every psi-run command.

Kept apart from the argument parsing so the commands that run several sessions (``map``) can
report each partner's failure the same way without importing the command line's entry point.
"""

from __future__ import annotations

from ..errors import (
    AgreementError,
    AuthenticationError,
    ConformanceError,
    CryptoError,
    InputError,
    PeerAbortedError,
    PolicyError,
    ProtocolError,
    TransportError,
    UsageError,
)

__all__ = ["EXIT_CODES", "classify", "exit_code_for"]

#: Documented exit codes (README, "Exit codes").
EXIT_CODES = {
    "ok": 0,
    "internal": 1,
    "usage": 2,
    "input": 3,
    "policy": 4,
    "authentication": 5,
    "peer_gone": 6,
    "protocol": 7,
    "followup": 8,
    "partners": 9,
    "nonconformant": 10,
    "interrupted": 130,
}

#: One table for how each error is reported: (type, what the user reads, exit code). The first
#: matching row wins, so subclasses come before their bases.
_ERROR_TABLE: tuple[tuple[type[BaseException], str, str], ...] = (
    (PolicyError, "policy error", "policy"),
    (AgreementError, "no agreement", "policy"),
    (PeerAbortedError, "partner stopped", "protocol"),
    (InputError, "input error", "input"),
    (UsageError, "error", "usage"),
    (AuthenticationError, "authentication failed", "authentication"),
    (TransportError, "partner unreachable", "peer_gone"),
    (ProtocolError, "protocol violation", "protocol"),
    (CryptoError, "protocol violation", "protocol"),
    # `conformance` could not start checking (a program under test that fails its hello)
    (ConformanceError, "conformance kit", "usage"),
)


def classify(exc: BaseException) -> tuple[str, int]:
    """How an error is reported: what the user reads before its message, and the exit code."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_CODES["interrupted"]
    for kind, label, code in _ERROR_TABLE:
        if isinstance(exc, kind):
            if isinstance(exc, PeerAbortedError) and any(
                f"({why})" in str(exc) for why in ("rejected", "agreement")
            ):
                return label, EXIT_CODES["policy"]  # the partner refused our terms
            return label, EXIT_CODES[code]
    return "error", EXIT_CODES["internal"]


def exit_code_for(exc: BaseException) -> int:
    """Map an error to its documented exit code."""
    return classify(exc)[1]
