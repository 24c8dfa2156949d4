"""Events a :class:`~blindmatch.protocol.session.Session` reports to the program driving it."""

from __future__ import annotations

from dataclasses import dataclass

from .agreement import Agreement
from .model import OverlapResult, Terms

__all__ = ["AgreementReached", "Event", "PartnerTerms", "Progress", "ResultReady"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base class of everything ``Session.next_event()`` returns."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerTerms(Event):
    """The partner's proposal arrived. Call ``accept()`` or ``reject(reason)`` next."""

    terms: Terms
    agreement: Agreement


@dataclass(frozen=True, slots=True, kw_only=True)
class AgreementReached(Event):
    """Both parties accepted; record-derived data starts flowing after this."""

    agreement: Agreement


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress(Event):
    """``done`` of ``total`` accounts went through ``phase``.

    Phases: ``blind`` (our accounts hashed and blinded), ``double-blind`` (the partner's
    accounts blinded again), ``receive`` (our double-blinded values came back from the
    partner: each account once per lane of the partner, so this counts values).
    """

    phase: str
    done: int
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ResultReady(Event):
    """What we learned. The session still may have bytes to send: keep flushing."""

    result: OverlapResult
