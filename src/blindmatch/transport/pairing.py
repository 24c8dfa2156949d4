"""One-time pairing codes: the shared secret two people exchange by phone or chat.

Why digits: they survive being read aloud, typed on any keyboard layout and pasted through
any chat tool, and normalizing them is trivial. A code is 15 digits shown in three groups of
five, ``12345-67890-12347``: 14 random digits (log2(10^14) = 46.5 bits, from :mod:`secrets`)
and one Damm check digit (H. M. Damm, 2004), which catches every single-digit typo and every
swap of two adjacent digits *before* the code is spent on a connection.

The entropy only has to resist online guessing: the code feeds a PAKE (:mod:`.pake`), so an
eavesdropper learns nothing to test guesses against, and an active attacker gets exactly one
guess per pairing. A TCP listener stops after 3 failed pairings (so stray traffic cannot end
its run, but guesses stay bounded); every other transport stops at the first. Magic-wormhole
makes the same bet with 16 bits;
we take 46 because a run can be long-lived (offline mode keeps one code for days).

The code is a secret until the session ends: :class:`PairingCode` never shows it in ``repr``,
``str``, f-strings, exceptions or logs. Only :meth:`PairingCode.reveal` does, for the one place
that prints it for the user.
"""

from __future__ import annotations

import hmac
import secrets
import unicodedata
from typing import Final

from ..errors import UsageError
from ..protocol.randomness import Rng, random_below

__all__ = ["CODE_DIGITS", "PairingCode", "damm_check_digit"]

#: Digits in a code, check digit included.
CODE_DIGITS: Final = 15
_RANDOM_DIGITS: Final = CODE_DIGITS - 1
_GROUP: Final = 5

#: The weakly totally anti-symmetric quasigroup of order 10 from Damm's thesis (the table
#: Wikipedia and most implementations use): row = interim digit, column = next digit.
_DAMM: Final = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

#: What people type instead of digits or between groups. Letters that look like digits are
#: read as those digits (as Crockford's base 32 does); everything else is refused.
_LOOKALIKES: Final = {"o": "0", "i": "1", "l": "1"}
_SEPARATORS: Final = frozenset(" \t\r\n-_.,/:")


def damm_check_digit(digits: str) -> str:
    """The Damm check digit of a string of ASCII digits."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][ord(ch) - 48]
    return str(interim)


class PairingCode:
    """A one-time pairing code. Its text is reachable only through :meth:`reveal`.

    Make one with :meth:`generate` (the side that prints it) or :meth:`parse` (the side that
    types it). Two codes compare equal in constant time; codes are not hashable, so they do not
    end up as dictionary keys in someone's debug dump.
    """

    __slots__ = ("_digits",)

    _digits: str

    def __init__(self, digits: str) -> None:
        if len(digits) != CODE_DIGITS or not all("0" <= ch <= "9" for ch in digits):
            raise UsageError(f"a pairing code is {CODE_DIGITS} digits")
        if damm_check_digit(digits) != "0":
            raise UsageError(
                "the pairing code has a typo (its last digit does not check out): "
                "ask the partner to read it out again"
            )
        self._digits = digits

    @classmethod
    def generate(cls, rng: Rng | None = None) -> PairingCode:
        """A fresh code from the OS CSPRNG (``rng`` only for reproducible tests)."""
        if rng is None:
            value = secrets.randbelow(10**_RANDOM_DIGITS)
        else:
            value = random_below(rng, 10**_RANDOM_DIGITS)
        body = f"{value:0{_RANDOM_DIGITS}d}"
        return cls(body + damm_check_digit(body))

    @classmethod
    def parse(cls, text: str) -> PairingCode:
        """Read a code as a person typed it: any case, spaces or dashes, full-width digits.

        Errors say what is wrong without repeating what was typed (it may be most of a
        valid code).
        """
        digits: list[str] = []
        for ch in unicodedata.normalize("NFKC", text).lower():
            if ch in _SEPARATORS:
                continue
            ch = _LOOKALIKES.get(ch, ch)
            if not "0" <= ch <= "9":
                raise UsageError(
                    "a pairing code has only digits, like 12345-67890-12345 "
                    "(spaces and dashes are ignored)"
                )
            digits.append(ch)
        if len(digits) != CODE_DIGITS:
            raise UsageError(
                f"the pairing code has {len(digits)} digits, expected {CODE_DIGITS} "
                f"(three groups of five)"
            )
        return cls("".join(digits))

    def reveal(self) -> str:
        """The code as people read it, ``12345-67890-12345``. Only for showing it to the user."""
        d = self._digits
        return "-".join(d[i : i + _GROUP] for i in range(0, CODE_DIGITS, _GROUP))

    def secret(self) -> bytes:
        """The password-related string (PRS) for the PAKE: the 15 ASCII digits."""
        return self._digits.encode("ascii")

    def __repr__(self) -> str:
        return "PairingCode(<hidden>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PairingCode):
            return NotImplemented
        return hmac.compare_digest(self._digits, other._digits)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[object, ...]:
        # Pickles end up in caches, queues and crash dumps: keep the code out of them.
        raise TypeError("a PairingCode cannot be pickled")
