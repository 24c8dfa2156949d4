"""The two-party protocol: a sans-I/O state machine over bytes and events.

Nothing here opens a socket, reads a file, starts a thread or looks at a clock; transports,
files, the command line and process pools live at the edges and call into this package.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ..crypto.engine import CryptoEngine as CryptoEngine
    from ..crypto.engine import InlineEngine as InlineEngine
    from .agreement import SUITE as SUITE
    from .agreement import Agreement as Agreement
    from .agreement import Role as Role
    from .events import AgreementReached as AgreementReached
    from .events import Event as Event
    from .events import PartnerTerms as PartnerTerms
    from .events import Progress as Progress
    from .events import ResultReady as ResultReady
    from .model import Disclosure as Disclosure
    from .model import Match as Match
    from .model import OverlapResult as OverlapResult
    from .model import PopulationTerms as PopulationTerms
    from .model import Record as Record
    from .model import Terms as Terms
    from .randomness import seeded_rng as seeded_rng
    from .session import Session as Session
    from .transitions import TRANSITIONS as TRANSITIONS
    from .transitions import Input as Input
    from .transitions import State as State

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CryptoEngine": "..crypto.engine",
        "InlineEngine": "..crypto.engine",
        "SUITE": ".agreement",
        "Agreement": ".agreement",
        "Role": ".agreement",
        "AgreementReached": ".events",
        "Event": ".events",
        "PartnerTerms": ".events",
        "Progress": ".events",
        "ResultReady": ".events",
        "Disclosure": ".model",
        "Match": ".model",
        "OverlapResult": ".model",
        "PopulationTerms": ".model",
        "Record": ".model",
        "Terms": ".model",
        "seeded_rng": ".randomness",
        "Session": ".session",
        "TRANSITIONS": ".transitions",
        "Input": ".transitions",
        "State": ".transitions",
    },
)

__all__ = [
    "SUITE",
    "TRANSITIONS",
    "Agreement",
    "AgreementReached",
    "CryptoEngine",
    "Disclosure",
    "Event",
    "InlineEngine",
    "Input",
    "Match",
    "OverlapResult",
    "PartnerTerms",
    "PopulationTerms",
    "Progress",
    "Record",
    "ResultReady",
    "Role",
    "Session",
    "State",
    "Terms",
    "seeded_rng",
]
