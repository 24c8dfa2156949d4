"""Structure-aware fuzzing of the sans-I/O Session: copy, swap and repeat items inside messages.

A seeded pair runs once (``run_pair(record_messages=True)``). Each case then takes one side as
the victim, rebuilds it from the same seed (so it expects exactly the recorded partner
messages), decodes one partner message, edits its structure and re-encodes it:

* bytes-typed element arrays (``digests``, ``points``, ``oprf``, ``masks``, ``wraps``,
  ``payloads``) and the 32-byte ``nonce``/``agreement``, cut into their items (digest-, point-,
  wrap- or payload-sized): one item copied over another, two swapped, one repeated (inserted
  again), one dropped, or an item copied from another message of the same type;
* arrays of the hello terms and of ``lanes`` (populations, key types, fields, lanes): the same
  operations on their entries;
* a blinded or returned chunk split in two legal chunks first, and then an item of the first
  copied into the second (a repeat across the chunks of one stream).

The verdicts (protocol_spec.md 5.5, 5.6 and 6): only BlindmatchError subclasses escape; a
session that raised is in ERROR; it then sends exactly one abort, last (``protocol_violation``
or ``agreement``), unless the error is a matching defect (all partner messages in), which is
quiet; a digest copied inside a returned stream is always refused with an abort.

Usage: ``python tools/fuzz_structured.py --cases 100000 --seed 1`` prints how many cases ran
and what they found; exit status 1 if any verdict failed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import msgpack  # type: ignore[import-untyped]

from blindmatch.driver import run_pair
from blindmatch.errors import (
    AgreementError,
    BlindmatchError,
    PeerAbortedError,
    RemoteProtocolError,
)
from blindmatch.protocol import (
    Disclosure,
    PopulationTerms,
    Record,
    Role,
    Session,
    State,
    Terms,
    seeded_rng,
)
from blindmatch.protocol.messages import (
    Abort,
    Confirm,
    FrameDecoder,
    decode_message,
    encode_message,
)
from blindmatch.protocol.transcript import Transcript

OPS = ("copy", "swap", "repeat", "drop", "foreign", "split-copy")
#: width of one item of each bytes-typed field (payloads: per account, from the terms)
WIDTHS = {"digests": 16, "points": 32, "oprf": 32, "wraps": 48, "nonce": 16, "agreement": 16}
PAYLOAD_BYTES = 64


def _terms(label: str) -> Terms:
    return Terms(
        label=label,
        key_types=("domain", "duns"),
        populations=(
            PopulationTerms(name="Customers", disclosure=Disclosure.RECORDS, fields=("Name",)),
            PopulationTerms(name="Prospects", disclosure=Disclosure.COUNTS),
        ),
        payload_bytes=PAYLOAD_BYTES,
    )


def _records(prefix: str, offset: int, n: int = 7) -> list[Record]:
    """Domains d{offset}..; every third record also has a DUNS (two slots: dummies exist)."""
    out = []
    for i in range(n):
        k = offset + i
        keys: tuple[tuple[str, str], ...] = (("domain", f"d{k}.example"),)
        if k % 3 == 0:
            keys += (("duns", f"{100000000 + k}"),)
        pops = [{"Customers"}, {"Prospects"}, {"Customers", "Prospects"}][i % 3]
        out.append(
            Record(
                record_id=f"{prefix}{i}",
                keys=keys,
                populations=frozenset(pops),
                fields={"Name": f"{prefix}-name-{k}"},
            )
        )
    return out


SIDES = {Role.SENDER: ("Fuzz-Sender", "s", 0), Role.RECEIVER: ("Fuzz-Receiver", "r", 3)}


def _session(role: Role, seed: bytes) -> Session:
    label, prefix, offset = SIDES[role]
    return Session(
        role=role,
        terms=_terms(label),
        records=_records(prefix, offset),
        rng=seeded_rng(b"fuzz " + role.value.encode() + seed),
        auto_accept=True,
    )


@cache
def transcript(seed: bytes = b"") -> tuple[tuple[Role, bytes], ...]:
    """(role, body) of every message of a clean seeded run, in the order sent."""
    run = run_pair(
        sender_terms=_terms(SIDES[Role.SENDER][0]),
        sender_records=_records("s", 0),
        receiver_terms=_terms(SIDES[Role.RECEIVER][0]),
        receiver_records=_records("r", 3),
        sender_rng=seeded_rng(b"fuzz sender" + seed),
        receiver_rng=seeded_rng(b"fuzz receiver" + seed),
        record_messages=True,
    )
    return tuple(run.messages)


def _frame(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


# -- mutations ------------------------------------------------------------------------------


def _items(raw: dict[str, Any], name: str) -> int:
    """Item width of bytes field ``name`` of a decoded message."""
    if name in WIDTHS:
        return WIDTHS[name]
    count = raw.get("count") or 1
    return max(1, len(raw[name]) // count)  # masks, payloads: one item per account


def _edit_list(items: list[Any], op: str, rng: random.Random, donor: list[Any]) -> bool:
    """Apply ``op`` to ``items`` in place; False if it cannot apply."""
    n = len(items)
    if op == "foreign":
        if not donor or not n:
            return False
        items[rng.randrange(n)] = rng.choice(donor)
        return True
    if n < (1 if op in ("repeat", "drop") else 2):
        return False
    a, b = rng.sample(range(n), 2) if n >= 2 else (0, 0)
    if op in ("copy", "split-copy"):
        items[b] = items[a]
    elif op == "swap":
        items[a], items[b] = items[b], items[a]
    elif op == "repeat":
        items.insert(rng.randrange(n + 1), items[a])
    elif op == "drop":
        del items[a]
    return True


def _split(blob: bytes, width: int) -> list[bytes]:
    return [blob[at : at + width] for at in range(0, len(blob), width)]


def _targets(raw: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every non-empty bytes field and every array in a decoded message."""
    out: list[tuple[Any, ...]] = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            out += _targets(value, (*path, key))
    elif isinstance(raw, list | tuple):
        out.append(path)
        for n, value in enumerate(raw):
            out += _targets(value, (*path, n))
    elif isinstance(raw, bytes) and raw:
        out.append(path)
    return out


def _get(raw: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        raw = raw[part]
    return raw


def _set(raw: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(raw, path[:-1])[path[-1]] = value


def _thaw(raw: Any) -> Any:
    if isinstance(raw, dict):
        return {k: _thaw(v) for k, v in raw.items()}
    if isinstance(raw, list | tuple):
        return [_thaw(v) for v in raw]
    return raw


def _rechunk(raw: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A blinded or returned chunk as two legal chunks (seq and count adjusted)."""
    count = raw.get("count", 0)
    if raw.get("t") not in ("blinded", "returned") or count < 2:
        return None
    cut = count // 2
    first, second = dict(raw), dict(raw)
    first["count"], second["count"] = cut, count - cut
    second["seq"] = raw["seq"] + 1
    for name, value in raw.items():
        if isinstance(value, bytes) and value:
            width = len(value) // count
            first[name], second[name] = value[: cut * width], value[cut * width :]
    return [first, second]


@dataclass
class Mutation:
    """One structure-aware edit of one partner message (what to report and check)."""

    index: int  # position of the partner message in the partner's stream
    kind: str  # its type
    op: str
    path: str
    bodies: list[bytes]  # what replaces it (two bodies after a split)


def mutate(
    partner: list[bytes], rng: random.Random, *, index: int | None = None, op: str | None = None
) -> Mutation | None:
    """One structure-aware edit of a randomly chosen partner message, or None if the chosen
    operation does not apply to it."""
    index = rng.randrange(len(partner)) if index is None else index
    op = op or rng.choice(OPS)
    raw = _thaw(msgpack.unpackb(partner[index], raw=False))
    kind = raw["t"]
    if op == "split-copy":
        parts = _rechunk(raw)
        if parts is None:
            return None
        fields = [k for k, v in parts[0].items() if isinstance(v, bytes) and v]
        name = rng.choice(fields)
        width = _items(raw, name)
        a_items, b_items = _split(parts[0][name], width), _split(parts[1][name], width)
        b_items[rng.randrange(len(b_items))] = rng.choice(a_items)
        parts[1][name] = b"".join(b_items)
        bodies = [msgpack.packb(p, use_bin_type=True) for p in parts]
        return Mutation(index, kind, op, name, bodies)
    targets = _targets(raw)
    if not targets:
        return None
    path = rng.choice(targets)
    value = _get(raw, path)
    donors = [
        _get(other, path)
        for other in (
            _thaw(msgpack.unpackb(b, raw=False)) for n, b in enumerate(partner) if n != index
        )
        if other["t"] == kind and _has(other, path)
    ]
    if isinstance(value, bytes):
        width = _items(raw, str(path[-1]))
        items = _split(value, width)
        donor = [i for d in donors if isinstance(d, bytes) for i in _split(d, width) if i]
        if not _edit_list(items, op, rng, donor):
            return None
        _set(raw, path, b"".join(items))
    else:
        donor = [i for d in donors if isinstance(d, list) for i in d]
        if not _edit_list(value, op, rng, donor):
            return None
    body = msgpack.packb(raw, use_bin_type=True)
    if body == partner[index]:  # e.g. two equal items swapped: not a mutation
        return None
    return Mutation(index, kind, op, ".".join(map(str, path)), [body])


def _has(raw: Any, path: tuple[Any, ...]) -> bool:
    try:
        _get(raw, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


# -- running and judging ------------------------------------------------------------------


@dataclass
class Outcome:
    verdict: str  # "accepted", "abort", "quiet", "peer-abort", or "FAIL: ..."
    error: str = ""


def run_case(role: Role, mutation: Mutation, seed: bytes = b"") -> Outcome:
    """Feed the victim ``role`` the partner's recorded stream with ``mutation`` applied."""
    partner = [body for r, body in transcript(seed) if r is not role]
    bodies = partner[: mutation.index] + mutation.bodies + partner[mutation.index + 1 :]
    victim = _session(role, seed)
    victim.start()
    # The partner signs its confirm over what it really sent and received, as a cheater would
    # (protocol_spec.md 5.7), so a mutation reaches the checks behind the confirm.
    signer = Transcript(role.other)
    try:
        _sign_received(signer, victim.data_to_send())
        for body in bodies:
            if _is_confirm(body) and victim.agreement is not None:
                value = signer.value(victim.agreement.agreement_id)
                body = encode_message(Confirm(transcript=value))
            else:
                signer.sent(_frame(body))
            victim.receive_data(_frame(body))
            while out := victim.data_to_send():
                _sign_received(signer, out)
    except BlindmatchError as exc:
        return judge(victim, exc, mutation)
    except Exception as exc:  # noqa: BLE001 - the point: nothing else may escape
        return Outcome(f"FAIL: {type(exc).__name__} escaped", str(exc)[:200])
    if victim.state is not State.DONE:
        return Outcome(f"FAIL: stream accepted but session in {victim.state.value}")
    if mutation.kind == "returned" and mutation.op in ("copy", "split-copy", "repeat"):
        if mutation.path == "digests":
            return Outcome("FAIL: a repeated returned digest was accepted")
    return Outcome("accepted")


def _is_confirm(body: bytes) -> bool:
    """Whether a (possibly mutated) partner body is a well-formed confirm to re-sign."""
    try:
        return isinstance(decode_message(body), Confirm)
    except BlindmatchError:
        return False  # malformed: the victim will say so


def _sign_received(signer: Transcript, data: bytes) -> None:
    for body in FrameDecoder().feed(data):
        if decode_message(body).t != "confirm":
            signer.received(body)


def judge(victim: Session, exc: BlindmatchError, mutation: Mutation) -> Outcome:
    text = str(exc)
    if victim.state is not State.ERROR:
        return Outcome(f"FAIL: {type(exc).__name__} left the session {victim.state.value}", text)
    if not text.isprintable() or len(text) > 800:
        return Outcome("FAIL: unprintable or unbounded error text", repr(text[:200]))
    if isinstance(exc, PeerAbortedError):
        return Outcome("peer-abort", text)
    out = victim.data_to_send()
    sent = [decode_message(b) for b in FrameDecoder().feed(out)]
    aborts = [m for m in sent if isinstance(m, Abort)]
    digest_repeat = (
        mutation.kind == "returned"
        and mutation.path == "digests"
        and mutation.op in ("copy", "split-copy")
    )
    if not aborts:
        # Quiet only for a defect found while matching: every partner message was in.
        if victim.waiting_for != "nothing more":
            return Outcome("FAIL: error without an abort before matching", text)
        if digest_repeat:
            return Outcome("FAIL: a repeated returned digest was refused quietly", text)
        return Outcome("quiet", text)
    if len(aborts) != 1 or not isinstance(sent[-1], Abort):
        return Outcome(f"FAIL: after the error the session sent {[m.t for m in sent]}", text)
    want = "agreement" if isinstance(exc, AgreementError) else "protocol_violation"
    if aborts[0].code != want or not isinstance(exc, RemoteProtocolError | AgreementError):
        return Outcome(f"FAIL: abort code {aborts[0].code} for {type(exc).__name__}", text)
    if digest_repeat and "repeats" not in text:
        return Outcome("FAIL: a repeated returned digest refused for another reason", text)
    return Outcome("abort", text)


@dataclass
class Report:
    cases: int = 0
    skipped: int = 0
    verdicts: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    failures: list[tuple[str, Mutation, Outcome]] = field(default_factory=list)
    slowest: float = 0.0


def fuzz(
    cases: int, seed: int, *, progress: Callable[[int], None] | None = None, tx: bytes = b""
) -> Report:
    """Run ``cases`` structure-aware cases, alternating the victim's role."""
    rng = random.Random(seed)
    report = Report()
    streams = {
        role: [body for r, body in transcript(tx) if r is not role]
        for role in (Role.SENDER, Role.RECEIVER)
    }
    while report.cases < cases:
        role = (Role.SENDER, Role.RECEIVER)[report.cases % 2]
        mutation = mutate(streams[role], rng)
        if mutation is None:
            report.skipped += 1
            continue
        began = time.perf_counter()
        outcome = run_case(role, mutation, tx)
        report.slowest = max(report.slowest, time.perf_counter() - began)
        report.cases += 1
        verdict = outcome.verdict if not outcome.verdict.startswith("FAIL") else "FAIL"
        report.verdicts[(role.value, mutation.kind, mutation.op, verdict)] += 1
        if verdict == "FAIL":
            report.failures.append((role.value, mutation, outcome))
        if progress is not None and report.cases % 1000 == 0:
            progress(report.cases)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    report = fuzz(
        args.cases,
        args.seed,
        progress=lambda n: print(f"... {n} cases", file=sys.stderr, flush=True),
    )
    elapsed = time.perf_counter() - began
    print(
        f"{report.cases} structure-aware cases (seed {args.seed}) in {elapsed:.0f} s; "
        f"{report.skipped} draws did not apply; slowest case {report.slowest * 1000:.0f} ms"
    )
    totals: Counter[str] = Counter()
    for (_, _, _, verdict), n in report.verdicts.items():
        totals[verdict] += n
    print("verdicts:", ", ".join(f"{v} {n}" for v, n in sorted(totals.items())))
    by_kind: Counter[tuple[str, str, str]] = Counter()
    for (role, kind, _, verdict), n in report.verdicts.items():
        by_kind[(role, kind, verdict)] += n
    for (role, kind, verdict), n in sorted(by_kind.items()):
        print(f"  {role:8} {kind:8} {verdict:10} {n}")
    print(f"failures: {len(report.failures)}")
    for role, mutation, outcome in report.failures[:20]:
        print(
            f"  {role} victim, {mutation.kind} #{mutation.index} {mutation.op} {mutation.path}: "
            f"{outcome.verdict} {outcome.error}"
        )
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
