"""Shared builders for the transport tests (no tests here: imported by test_transport_*.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from blindmatch.driver import run_pair
from blindmatch.protocol import (
    Disclosure,
    OverlapResult,
    PopulationTerms,
    Record,
    Role,
    Session,
    Terms,
)
from blindmatch.protocol.randomness import Rng

#: Labels are sent in the hello: the tests check they never appear on the wire in clear.
SENDER_LABEL = "Northwind-Sender-Label"
RECEIVER_LABEL = "Globex-Receiver-Label"


def terms(label: str) -> Terms:
    return Terms(
        label=label,
        normalization="bm-norm/1",
        key_types=("domain",),
        populations=(
            PopulationTerms(name="Customers", disclosure=Disclosure.RECORDS, fields=("Name",)),
            PopulationTerms(name="Prospects", disclosure=Disclosure.COUNTS),
        ),
    )


def records(prefix: str, n: int, offset: int) -> list[Record]:
    """n records with domains d{offset}..; two parties overlap where their ranges do."""
    return [
        Record(
            record_id=f"{prefix}{i}",
            keys=(("domain", f"d{offset + i}.example"),),
            populations=frozenset({"Customers" if i % 3 else "Prospects"}),
            fields={"Name": f"{prefix} account {i}"},
        )
        for i in range(n)
    ]


SENDER_RECORDS = records("s", 12, 0)
RECEIVER_RECORDS = records("r", 10, 6)


def sender(rng: Rng | None = None, *, auto_accept: bool = True) -> Session:
    return Session(
        role=Role.SENDER,
        terms=terms(SENDER_LABEL),
        records=SENDER_RECORDS,
        rng=rng,
        auto_accept=auto_accept,
    )


def receiver(rng: Rng | None = None, *, auto_accept: bool = True) -> Session:
    return Session(
        role=Role.RECEIVER,
        terms=terms(RECEIVER_LABEL),
        records=RECEIVER_RECORDS,
        rng=rng,
        auto_accept=auto_accept,
    )


def expected() -> tuple[OverlapResult, OverlapResult]:
    """(sender's, receiver's) results of the same inputs run in memory."""
    run = run_pair(
        sender_terms=terms(SENDER_LABEL),
        sender_records=SENDER_RECORDS,
        receiver_terms=terms(RECEIVER_LABEL),
        receiver_records=RECEIVER_RECORDS,
    )
    return run.sender, run.receiver


@dataclass
class Outcome:
    """What a function run in a thread returned or raised."""

    value: Any = None
    error: BaseException | None = None
    events: list[Any] = field(default_factory=list)


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, Outcome]:
    """Start ``fn`` in a daemon thread; its result or exception lands in the Outcome."""
    outcome = Outcome()

    def target() -> None:
        try:
            outcome.value = fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outcome.error = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome
