"""blindmatch: find the accounts two companies share without either one handing its list over.

The protocol core (:mod:`blindmatch.protocol`) is a sans-I/O state machine; account data
(:mod:`blindmatch.accounts`), transports (:mod:`blindmatch.transport`) and the command line
(:mod:`blindmatch.cli`) sit around it. The names below are the supported public API.
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:
    from .driver import run_pair as run_pair
    from .errors import BlindmatchError as BlindmatchError
    from .protocol import Disclosure as Disclosure
    from .protocol import Match as Match
    from .protocol import OverlapResult as OverlapResult
    from .protocol import PopulationTerms as PopulationTerms
    from .protocol import Record as Record
    from .protocol import Role as Role
    from .protocol import Session as Session
    from .protocol import Terms as Terms

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "run_pair": ".driver",
        "BlindmatchError": ".errors",
        "Disclosure": ".protocol",
        "Match": ".protocol",
        "OverlapResult": ".protocol",
        "PopulationTerms": ".protocol",
        "Record": ".protocol",
        "Role": ".protocol",
        "Session": ".protocol",
        "Terms": ".protocol",
    },
)

__version__ = "0.1.0"

__all__ = [
    "BlindmatchError",
    "Disclosure",
    "Match",
    "OverlapResult",
    "PopulationTerms",
    "Record",
    "Role",
    "Session",
    "Terms",
    "__version__",
    "run_pair",
]
