"""Telling a team what is new: a JSON summary POSTed to a webhook after a run.

Posted only after the run's outputs are on disk, and a failed post raises
:class:`AlertError` for the caller to report: the results are never lost for want of a
reachable chat server. Two bodies:

* ``json``: ``{"format": "blindmatch-alert/1", ...}`` with the partner, the run, the counts of
  new and gone overlaps, the changed cells, and the first :data:`MAX_PAIRS` new overlaps as
  (our record id, our population, partner population), for a program to act on;
* ``slack``: ``{"text": ...}``, the body Slack (and Mattermost, Rocket.Chat, Teams' Slack
  compatible hooks) incoming webhooks take, with ``&``, ``<`` and ``>`` escaped as Slack asks
  so a partner-chosen name cannot ping a channel or forge a link.

No partner-revealed field values are sent: a webhook forwards to places our own output files
do not go.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from .. import __version__
from ..errors import BlindmatchError, UsageError
from .history import Deltas

__all__ = ["ALERT_FORMAT", "FORMATS", "MAX_PAIRS", "AlertError", "alert_body", "check_url", "post"]

ALERT_FORMAT = "blindmatch-alert/1"
FORMATS = ("json", "slack")
#: New overlaps listed in a JSON alert (the rest are in new.csv).
MAX_PAIRS = 1000
#: Lines of new overlaps in a Slack message.
_SLACK_LINES = 20


class AlertError(BlindmatchError):
    """The webhook could not be reached or refused the alert (the results are written)."""


def check_url(url: str) -> str:
    """An http(s) URL with a host, checked before the run so a typo fails early."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--webhook must be an http:// or https:// URL, not {url!r}")
    return url


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def alert_body(
    fmt: str, *, deltas: Deltas, summary: Mapping[str, Any], out_dir: str
) -> dict[str, Any]:
    """The JSON object to post for one run."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown webhook format {fmt!r}; choose one of {', '.join(FORMATS)}")
    changed = [c.to_dict() for c in deltas.cells if c.new or c.gone or
               (c.previous is not None and c.count != c.previous)]  # fmt: skip
    if fmt == "json":
        return {
            "format": ALERT_FORMAT,
            "blindmatch_version": __version__,
            "partner": deltas.partner,
            "partner_label": summary.get("partner_label"),
            "our_label": summary.get("our_label"),
            "run_id": summary.get("run_id"),
            "first_run": deltas.first_run,
            "previous_run_id": deltas.previous_run_id,
            "new_pairs": len(deltas.new),
            "gone_pairs": len(deltas.gone),
            "changed_cells": changed,
            "new": [
                {"record_id": r, "our_population": o, "partner_population": p}
                for r, o, p in deltas.new[:MAX_PAIRS]
            ],
            "new_truncated": len(deltas.new) > MAX_PAIRS,
            "out_dir": out_dir,
        }
    who = _slack_escape(f"{deltas.partner} ({summary.get('partner_label', '')})")
    if deltas.first_run:
        total = sum(int(n) for row in summary.get("counts", {}).values() for n in row.values())
        text = f"*blindmatch*: first mapping with {who}: {total} overlaps in the matrix."
    else:
        text = (
            f"*blindmatch*: mapping with {who}: *{len(deltas.new)} new* and "
            f"{len(deltas.gone)} gone overlaps since the previous run."
        )
        for r, o, p in deltas.new[:_SLACK_LINES]:
            text += "\n• " + _slack_escape(f"{r}: {o} × {p}")
        if len(deltas.new) > _SLACK_LINES:
            text += f"\n… and {len(deltas.new) - _SLACK_LINES} more in new.csv"
    return {"text": text}


def post(url: str, body: Mapping[str, Any], *, timeout: float = 10.0) -> int:
    """POST ``body`` as JSON; returns the HTTP status, raises :class:`AlertError` otherwise.

    The message names the host only: a webhook URL's path is often its secret (Slack's are).
    """
    # Imported here: urllib.request pulls http.client and email into every psi-run start-up.
    import urllib.error
    import urllib.request

    host = urllib.parse.urlsplit(url).hostname or "?"
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"blindmatch/{__version__}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the response, and so the connection
        raise AlertError(f"the webhook at {host} refused the alert: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AlertError(f"could not post the alert to {host}: {reason}") from None
    return status
