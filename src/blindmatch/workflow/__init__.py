"""Running blindmatch as a routine: many partners, memory of earlier runs, alerts, a report.

* :mod:`.partners`: the ``psi-run map`` partners file, checked whole before any session;
* :mod:`.history`: a local SQLite file of results (never keys or secrets) and the deltas
  between a run and the previous one with the same partner;
* :mod:`.alerts`: a webhook post of what is new, after the results are safely written;
* :mod:`.report_html`: ``report.html``, a self-contained page with the heat map and deltas.

These sit above the protocol and the account data and below the command line: they turn an
:class:`~blindmatch.OverlapResult` into records and pages, and never run a session themselves.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .alerts import AlertError as AlertError
    from .history import Deltas as Deltas
    from .history import History as History
    from .history import compute_deltas as compute_deltas
    from .history import default_history_path as default_history_path
    from .partners import PartnerSpec as PartnerSpec
    from .partners import load_partners as load_partners
    from .report_html import render_index as render_index
    from .report_html import render_report as render_report

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AlertError": ".alerts",
        "Deltas": ".history",
        "History": ".history",
        "compute_deltas": ".history",
        "default_history_path": ".history",
        "PartnerSpec": ".partners",
        "load_partners": ".partners",
        "render_index": ".report_html",
        "render_report": ".report_html",
    },
)

__all__ = [
    "AlertError",
    "Deltas",
    "History",
    "PartnerSpec",
    "compute_deltas",
    "default_history_path",
    "load_partners",
    "render_index",
    "render_report",
]
