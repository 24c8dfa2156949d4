"""``psi-run map``: one session with each partner of a partners file, all at once.

Theory of operation:

1. *Check everything first.* The partners file (:func:`~blindmatch.workflow.load_partners`),
   every policy, every pairing code, every output directory, the history file and the webhook
   URL are checked, and the input is read and prepared once per distinct policy, before any
   partner is contacted: a mistake in one partner's entry must not surface after the others'
   sessions ran.
2. *One thread per partner.* Each runs the blocking session driver over its transport
   (:data:`RUNNERS`, one entry per way of reaching a partner), so listeners wait for their
   partners while connectors go ahead. The curve work of large inputs is shared out: each
   partner's engine gets its share of ``--workers``.
3. *Each partner on its own.* A partner that fails (unreachable, wrong code, refused terms)
   is reported with its reason and exit code; the others carry on, and each completed one is
   published like a plain run (outputs with deltas, history, alert) in ``OUT_DIR/<name>/``.
4. *One page across partners.* ``index.html`` and ``map-summary.json`` in ``OUT_DIR`` list
   every partner's outcome; the exit code is 0 only if every partner completed.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..accounts.policy import Policy, load_policy
from ..accounts.prepare import PreparedParty, prepare_party
from ..driver import Decide, Rejection
from ..errors import BlindmatchError, InputError, PolicyError, UsageError
from ..protocol import Event, OverlapResult, PartnerTerms, Progress, Role, Session
from ..transport import Connected, PairingCode, run_connector, run_listener
from ..workflow import PartnerSpec, load_partners
from .exits import EXIT_CODES, classify
from .party import CODE_VARIABLE, complete, make_decider, make_engine
from .report import ProgressBars, RunInfo, check_out_dir, for_terminal, shared_run_id
from .runs import Followups, Published, followups_from_args, report_warnings, write_index

__all__ = ["MAP_FORMAT", "RUNNERS", "run_map"]

MAP_FORMAT = "blindmatch-map/1"


class Runner(Protocol):
    """Runs one partner's session over one way of reaching it, to its result."""

    def __call__(
        self,
        spec: PartnerSpec,
        session: Session,
        *,
        code: PairingCode,
        timeout: float,
        connect_retry: float,
        on_event: Callable[[Event], None],
        decide: Decide,
        say: Callable[[str], None],
    ) -> OverlapResult: ...


def _listen(
    spec: PartnerSpec,
    session: Session,
    *,
    code: PairingCode,
    timeout: float,
    connect_retry: float,
    on_event: Callable[[Event], None],
    decide: Decide,
    say: Callable[[str], None],
) -> OverlapResult:
    host, port = spec.address

    def bound(actual: int) -> None:
        say(f"listening on {host}:{actual}")

    return run_listener(
        session, host=host, port=port, code=code, timeout=timeout, on_event=on_event,
        decide=decide, bound=bound,
    )  # fmt: skip


def _connect(
    spec: PartnerSpec,
    session: Session,
    *,
    code: PairingCode,
    timeout: float,
    connect_retry: float,
    on_event: Callable[[Event], None],
    decide: Decide,
    say: Callable[[str], None],
) -> OverlapResult:
    host, port = spec.address
    say(f"connecting to {host}:{port}")
    return run_connector(
        session, host=host, port=port, code=code, timeout=timeout, on_event=on_event,
        decide=decide, connect_retry=connect_retry,
    )  # fmt: skip


#: One runner per key of :data:`blindmatch.workflow.partners.TRANSPORTS`.
RUNNERS: Mapping[str, Runner] = {"listen": _listen, "connect": _connect}


# -- progress ---------------------------------------------------------------------------------

_PHASE_TEXT = {
    "blind": "blinding our accounts",
    "double-blind": "blinding theirs",
    "receive": "receiving results",
}


class MapProgress:
    """One display for every partner: a line each, saying where its session is.

    tqdm bars at fixed positions, redrawn under tqdm's lock (threads feed them); nothing at
    all when quiet or when stderr is not a terminal (a log would fill with redraws).
    """

    def __init__(self, names: list[str], *, quiet: bool) -> None:
        self._on = not quiet and sys.stderr.isatty()
        self._names = names
        self._width = max((len(n) for n in names), default=0)
        self._bars: dict[str, Any] = {}
        self._phase: dict[str, str] = {}
        self._lock = threading.Lock()
        if self._on:
            from tqdm import tqdm  # type: ignore[import-untyped]

            for position, name in enumerate(names):
                self._bars[name] = tqdm(
                    total=1, position=position, leave=True, file=sys.stderr, mininterval=0.2,
                    desc=self._desc(name, "waiting"), bar_format="{desc} {percentage:3.0f}%|{bar}|",
                )  # fmt: skip

    def _desc(self, name: str, text: str) -> str:
        return for_terminal(f"{name:<{self._width}}  {text:<24}")

    @property
    def on(self) -> bool:
        return self._on

    def say(self, name: str) -> Callable[[str], None]:
        """Where a partner's transport reports its steps: its line of the display, or stderr
        when there is no display (a listener's address is worth a line in any log)."""

        def tell(text: str) -> None:
            if self._on:
                self.status(name, text)
            elif text.startswith("listening"):
                print(for_terminal(f"{name}: {text}."), file=sys.stderr, flush=True)

        return tell

    def status(self, name: str, text: str) -> None:
        if not self._on:
            return
        with self._lock:
            bar = self._bars[name]
            bar.set_description_str(self._desc(name, text))
            bar.refresh()

    def feeder(self, name: str) -> Callable[[Event], None]:
        def feed(event: Event) -> None:
            if not self._on:
                return
            if isinstance(event, Connected):
                self.status(name, "connected")
            elif isinstance(event, Progress) and event.total:
                with self._lock:
                    bar = self._bars[name]
                    if self._phase.get(name) != event.phase:
                        self._phase[name] = event.phase
                        bar.reset(total=event.total)
                        bar.set_description_str(
                            self._desc(name, _PHASE_TEXT.get(event.phase, event.phase))
                        )
                    bar.update(event.done - bar.n)

        return feed

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


# -- checking ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Plan:
    spec: PartnerSpec
    policy_key: str
    code: PairingCode
    out_dir: Path


def _code_for(spec: PartnerSpec, where: str) -> tuple[PairingCode, bool]:
    """The partner's pairing code, and whether we made it up (to be shown to the user)."""
    if spec.code_env is not None:
        text = os.environ.get(spec.code_env)
        if not text:
            raise UsageError(
                f"{where}: the environment variable {spec.code_env} (code_env) is not set"
            )
        try:
            return PairingCode.parse(text), False
        except BlindmatchError as exc:
            raise UsageError(f"{where}: the code in {spec.code_env}: {exc}") from None
    if spec.role == "sender" and sys.stderr.isatty():
        return PairingCode.generate(), True
    if spec.role == "receiver" and sys.stdin.isatty():
        return PairingCode.parse(getpass.getpass(f"Pairing code from {spec.name}: ")), False
    raise UsageError(
        f"{where}: no pairing code: set code_env to an environment variable holding the code "
        f"agreed with this partner ({CODE_VARIABLE} is not used by map: one code per partner)"
    )


def _check(
    args: argparse.Namespace,
) -> tuple[list[_Plan], dict[str, Policy], Followups, list[tuple[str, PairingCode]]]:
    specs = load_partners(args.partners)
    followups = followups_from_args(args)
    check_out_dir(args.out_dir)
    policies: dict[str, Policy] = {}
    problems: list[BlindmatchError] = []
    plans: list[_Plan] = []
    shown: list[tuple[str, PairingCode]] = []
    users: dict[str, PartnerSpec | None] = {str(args.policy): None}
    for spec in specs:
        if spec.policy is not None:
            users.setdefault(str(spec.policy), spec)
    for key, user in users.items():
        try:
            policies[key] = load_policy(key)
        except InputError as exc:
            if user is not None:  # say whose policy it is, and where the partner is listed
                exc = PolicyError(
                    f"{exc.message} (the policy of {user.where(args.partners)})",
                    file=exc.file, row=exc.row, column=exc.column,
                )  # fmt: skip
            problems.append(exc)
    for spec in specs:
        where = spec.where(args.partners)
        out_dir = args.out_dir / spec.name
        try:
            check_out_dir(out_dir)
            code, made_up = _code_for(spec, where)
        except BlindmatchError as exc:
            problems.append(exc)
            continue
        if made_up:
            shown.append((spec.name, code))
        plans.append(_Plan(spec, str(spec.policy or args.policy), code, out_dir))
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise UsageError(
            f"{len(problems)} problems before any session started:\n  "
            + "\n  ".join(str(p) for p in problems)
        )
    return plans, policies, followups, shown


# -- running ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """How one partner's run ended."""

    name: str
    published: Published | None = None
    result: OverlapResult | None = None
    label: str = ""
    message: str = ""
    exit_code: int = 0

    @property
    def ok(self) -> bool:
        return self.published is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": "ok" if self.ok else "failed"}
        if self.published is not None and self.result is not None:
            deltas = self.published.deltas
            out.update(
                partner_label=self.result.partner_label,
                overlaps=sum(n for row in self.result.counts.values() for n in row.values()),
                matched_records=len(self.result.matches),
                new_pairs=None if deltas.first_run else len(deltas.new),
                gone_pairs=None if deltas.first_run else len(deltas.gone),
                warnings=list(self.published.warnings),
            )
        else:
            out.update(error=f"{self.label}: {self.message}", exit_code=self.exit_code)
        return out


def _locked(decide: Decide, lock: threading.Lock) -> Decide:
    """One question at a time on the terminal, whichever partner's terms arrive first."""

    def one_at_a_time(event: PartnerTerms) -> str | Rejection | None:
        with lock:
            return decide(event)

    return one_at_a_time


def run_map(args: argparse.Namespace) -> int:
    """``psi-run map``; see the module docstring."""
    from ..parallel import default_workers

    plans, policies, followups, shown = _check(args)
    prepared: dict[str, tuple[PreparedParty, str]] = {}
    for key, policy in policies.items():
        prefix = f"{Path(key).name}: " if len(policies) > 1 else ""
        bars = ProgressBars(quiet=args.quiet, prefix=prefix)
        try:
            party = prepare_party(list(args.input), policy, progress=bars.rows)
            bars.rows(party.diagnostics.rows)  # progress comes every 16,384 rows: the rest
        finally:
            bars.close()
        prepared[key] = (party, policy.to_toml())
    for name, code in shown:
        print(f"Pairing code for {name}: {code.reveal()}  (valid for this run only)",
              file=sys.stderr, flush=True)  # fmt: skip
    per_partner = max(1, (args.workers or default_workers()) // len(plans))
    progress = MapProgress([p.spec.name for p in plans], quiet=args.quiet)
    outcomes = {p.spec.name: Outcome(p.spec.name) for p in plans}
    ask = threading.Lock()

    def one(plan: _Plan) -> None:
        outcome = outcomes[plan.spec.name]
        party, policy_text = prepared[plan.policy_key]
        engine = make_engine(len(party.records), per_partner)
        try:
            session = Session(
                role=Role(plan.spec.role), terms=party.terms, records=party.records,
                engine=engine,
            )  # fmt: skip
            # With the display on and --yes, each partner's terms go to its report.html rather
            # than between the lines of the display.
            quiet_terms = args.quiet or (progress.on and args.yes)
            decide = make_decider(party.policy, assume_yes=args.yes, quiet=quiet_terms)
            result = RUNNERS[plan.spec.transport](
                plan.spec, session, code=plan.code, timeout=args.timeout,
                connect_retry=args.connect_retry, on_event=progress.feeder(plan.spec.name),
                decide=_locked(decide, ask), say=progress.say(plan.spec.name),
            )  # fmt: skip
            info = RunInfo(
                role=plan.spec.role, policy_text=policy_text, inputs=list(args.input),
                transport="pake",
            )  # fmt: skip
            info.run_id = shared_run_id(session.agreement)
            outcome.result, outcome.published = complete(
                plan.out_dir, party, info, result, followups=followups,
                matches_format=args.matches_format, partner=plan.spec.name,
            )  # fmt: skip
            progress.status(plan.spec.name, "done")
        except Exception as exc:  # noqa: BLE001 - every partner's failure is its own
            outcome.label, outcome.exit_code = classify(exc)
            outcome.message = (
                for_terminal(str(exc)) if isinstance(exc, BlindmatchError)
                else f"internal error ({type(exc).__name__})"
            )  # fmt: skip
            progress.status(plan.spec.name, "failed")
        finally:
            close = getattr(engine, "close", None)
            if close is not None:
                close()

    threads = [
        threading.Thread(target=one, args=(plan,), name=f"map-{plan.spec.name}", daemon=True)
        for plan in plans
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except KeyboardInterrupt:
        progress.close()
        done = [o.name for o in outcomes.values() if o.ok]
        print(
            "psi-run: interrupted; results were written only for: "
            + (", ".join(done) if done else "no partner"),
            file=sys.stderr,
        )
        return EXIT_CODES["interrupted"]
    progress.close()
    data = {"format": MAP_FORMAT, "partners": [outcomes[p.spec.name].to_dict() for p in plans]}
    write_index(args.out_dir, data)
    _print_summary(args, data)
    for outcome in outcomes.values():
        if outcome.published is not None:
            report_warnings(outcome.published, prefix=f"{outcome.name}: ")
    if any(not o.ok for o in outcomes.values()):
        return EXIT_CODES["partners"]
    if any(o.published is not None and o.published.warnings for o in outcomes.values()):
        return EXIT_CODES["followup"]
    return EXIT_CODES["ok"]


def _print_summary(args: argparse.Namespace, data: Mapping[str, Any]) -> None:
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    rows = data["partners"]
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        if row["status"] == "ok":
            change = (
                "first run" if row["new_pairs"] is None
                else f"+{row['new_pairs']} new, -{row['gone_pairs']} gone"
            )  # fmt: skip
            line = (
                f"{row['name']:<{width}}  ok      overlaps {row['overlaps']:>7}  "
                f"matched {row['matched_records']:>7}  {change}"
            )
        else:
            line = f"{row['name']:<{width}}  FAILED  {row['error']} (exit {row['exit_code']})"
        print(for_terminal(line))
    failed = sum(1 for r in rows if r["status"] != "ok")
    print(
        f"{len(rows) - failed} of {len(rows)} partners completed; "
        f"see {args.out_dir / 'index.html'}",
        file=sys.stderr,
    )
