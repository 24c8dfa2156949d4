"""``psi-run map``: one session with each partner of a partners file, all at once.

Theory of operation:

1. *Check everything first.* The partners file (:func:`~blindmatch.workflow.load_partners`),
   every policy, every pairing code, every TLS certificate, key and pin, the storage backend
   of every mailbox and magic-wormhole for wormhole partners, every output directory, the
   history file and the webhook URL are checked, and the input is read and prepared once per
   distinct policy, before any partner is contacted: a mistake in one partner's entry must not
   surface after the others' sessions ran. Codes are made up or asked for last, once nothing
   else is wrong; one code may not serve two partners.
2. *One thread per partner.* Each runs its way of reaching the partner (:data:`RUNNERS`, one
   entry per key of :data:`~blindmatch.workflow.partners.TRANSPORTS`): the blocking session
   driver over TCP or TLS, the wormhole (every partner's rendezvous shares the one Twisted
   reactor thread), or the offline steps through a mailbox (polling, with a state file under
   ``OUT_DIR/.mailbox-state/`` so that rerunning the map resumes it). Every way allows any
   number at once, so all partners run together: listeners wait while connectors go ahead.
   The curve work of large inputs is shared out: each partner's engine gets its share of
   ``--workers``.
3. *Each partner on its own.* A partner that fails (unreachable, wrong code, refused terms,
   a refused certificate, an unreachable mailbox) is reported with its reason and exit code;
   the others carry on, and each completed one is published like a plain run (outputs with
   deltas, history, alert) in ``OUT_DIR/<name>/``.
4. *One page across partners.* ``index.html`` and ``map-summary.json`` in ``OUT_DIR`` list
   every partner's outcome and how it was reached; the exit code is 0 only if every partner
   completed.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..accounts.policy import Policy, load_policy
from ..accounts.prepare import PreparedParty, prepare_party
from ..driver import Decide, Rejection
from ..errors import BlindmatchError, InputError, PolicyError, UsageError
from ..protocol import (
    CryptoEngine,
    Event,
    OverlapResult,
    PartnerTerms,
    Progress,
    Role,
    Session,
)
from ..protocol.agreement import Agreement
from ..protocol.randomness import Rng
from ..transport import (
    Connected,
    Dropped,
    PairingCode,
    TlsContexts,
    WormholeConnected,
    make_tls_contexts,
    run_connector,
    run_listener,
)
from ..transport.tls_identity import parse_pins
from ..workflow import PartnerSpec, load_partners
from ..workflow.partners import MailboxSettings, WormholeSettings
from .exits import EXIT_CODES, classify
from .party import CODE_VARIABLE, complete, inputs_fingerprint, make_decider, make_engine
from .report import (
    ProgressBars,
    RunInfo,
    check_out_dir,
    check_output_file,
    for_terminal,
    shared_run_id,
)
from .runs import Followups, Published, followups_from_args, report_warnings, write_index

__all__ = ["MAP_FORMAT", "MAILBOX_STATE", "RUNNERS", "run_map"]

MAP_FORMAT = "blindmatch-map/1"
#: Under the out-dir: each mailbox partner's offline state (owner-only; kept until its run
#: completes, so that the same map command resumes a mailbox run that timed out).
MAILBOX_STATE = ".mailbox-state"


@dataclass(slots=True, kw_only=True)
class Job:
    """Everything one partner's run needs, whichever way it reaches the partner."""

    plan: _Plan
    party: PreparedParty
    engine: CryptoEngine
    decide: Decide
    on_event: Callable[[Event], None]
    #: a step, for the partner's line of the display
    say: Callable[[str], None]
    #: a step worth a line in any log (where we listen, which server we meet at)
    note: Callable[[str], None]
    timeout: float
    connect_retry: float
    #: the policy text and input files, which a mailbox run's state is bound to
    policy_text: str
    inputs: list[Path]

    @property
    def spec(self) -> PartnerSpec:
        return self.plan.spec

    def session(self, rng: Rng | None = None) -> Session:
        """A session with this partner; ``rng`` for an offline run's replays (None: fresh)."""
        return Session(
            role=Role(self.spec.role), terms=self.party.terms, records=self.party.records,
            rng=rng, engine=self.engine,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Ran:
    """What a runner brings back: the result, the agreement both sides derive the run id from,
    and the transport as run.json names it."""

    result: OverlapResult
    agreement: Agreement | None
    transport: str


#: Runs one partner's session over one way of reaching it, to its result.
Runner = Callable[[Job], Ran]


def _listen(job: Job) -> Ran:
    host, port = job.spec.address
    tls = job.plan.tls

    def bound(actual: int) -> None:
        job.note(f"listening on {host}:{actual}")

    session = job.session()
    result = run_listener(
        session, host=host, port=port, code=job.plan.code, timeout=job.timeout,
        ssl_context=tls.server if tls else None, on_event=job.on_event, decide=job.decide,
        bound=bound,
    )  # fmt: skip
    return Ran(result, session.agreement, "tls" if tls else "pake")


def _connect(job: Job) -> Ran:
    host, port = job.spec.address
    tls = job.plan.tls
    job.say(f"connecting to {host}:{port}")
    session = job.session()
    result = run_connector(
        session, host=host, port=port, code=job.plan.code, timeout=job.timeout,
        ssl_context=tls.client if tls else None, on_event=job.on_event, decide=job.decide,
        connect_retry=job.connect_retry,
    )  # fmt: skip
    return Ran(result, session.agreement, "tls" if tls else "pake")


def _wormhole(job: Job) -> Ran:
    from ..transport.wormhole import PUBLIC_MAILBOX, PUBLIC_TRANSIT, run_wormhole

    settings: WormholeSettings = job.spec.address
    assert job.plan.code is not None  # no TLS with the wormhole
    server = settings.server or PUBLIC_MAILBOX
    job.note(f"meeting the partner through {server}")
    session = job.session()
    result = run_wormhole(
        session, code=job.plan.code, timeout=job.timeout, mailbox=server,
        transit=settings.transit or PUBLIC_TRANSIT, direct=not settings.relay_only,
        on_event=job.on_event, decide=job.decide,
    )  # fmt: skip
    return Ran(result, session.agreement, "wormhole")


def _mailbox(job: Job) -> Ran:
    from ..transport import OfflineParty
    from ..transport.mailbox import DEFAULT_POLL, Mailbox, run_mailbox

    settings: MailboxSettings = job.spec.address
    assert job.plan.code is not None and job.plan.state is not None
    state = job.plan.state
    state.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    job.say("reaching the mailbox")
    mailbox = Mailbox(settings.url, **_storage_options(settings))
    party = OfflineParty(
        state, make_session=job.session, code=job.plan.code,
        fingerprint=inputs_fingerprint(job.inputs, job.policy_text),
        out_dir=state.with_name(state.name + ".outbox"), decide=job.decide,
        on_event=job.on_event, hold_run=True,
    )  # fmt: skip
    result = run_mailbox(
        party, mailbox, role=Role(job.spec.role), inbox=state.with_name(state.name + ".inbox"),
        poll=settings.poll or DEFAULT_POLL, timeout=job.timeout,
        on_wait=lambda _: job.say("waiting in the mailbox"),
    )  # fmt: skip
    # Complete: the state is deleted, and our messages are in the mailbox (put before the
    # result is returned); the local copies would only be leftovers.
    shutil.rmtree(party.out_dir, ignore_errors=True)
    if job.spec.address.state is None:
        shutil.rmtree(state.parent, ignore_errors=True)
    return Ran(result, party.agreement, "mailbox")


def _storage_options(settings: MailboxSettings) -> dict[str, Any]:
    """The storage options as ``--mailbox-option`` gives them: text with ``~`` expanded."""
    return {
        k: os.path.expanduser(v) if isinstance(v, str) else v for k, v in settings.options.items()
    }


#: One runner per key of :data:`blindmatch.workflow.partners.TRANSPORTS`.
RUNNERS: Mapping[str, Runner] = {
    "listen": _listen,
    "connect": _connect,
    "wormhole": _wormhole,
    "mailbox": _mailbox,
}


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
        """Where a partner's transport reports its steps: its line of the display."""
        return lambda text: self.status(name, text)

    def note(self, name: str) -> Callable[[str], None]:
        """A step worth a line in any log: on the display, or as a line on stderr when there
        is none (where a listener waits, which server a wormhole meets at)."""

        def tell(text: str) -> None:
            if self._on:
                self.status(name, text)
            else:
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
        note = self.note(name)

        def feed(event: Event) -> None:
            if isinstance(event, Dropped):
                # As the two-party command does: what an operator looks for when a partner
                # cannot get in (a refused certificate, a wrong code, a port scan).
                guesses = f" [failed pairings: {event.guesses}]" if event.guesses else ""
                note(f"dropped a connection from {event.address}: {event.reason}{guesses}")
            if not self._on:
                return
            if isinstance(event, Connected):
                self.status(name, "connected")
            elif isinstance(event, WormholeConnected):
                self.status(name, f"connected ({event.route})")
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
    out_dir: Path
    #: None with TLS (the certificates authenticate the partner)
    code: PairingCode | None = None
    tls: TlsContexts | None = None
    #: a mailbox partner's offline state file
    state: Path | None = None
    #: whether we made the code up (it is shown to the user, who tells the partner)
    made_up: bool = False


def _code_from_env(spec: PartnerSpec, where: str) -> PairingCode | None:
    """The partner's pre-agreed code from its ``code_env`` variable (None: no code_env)."""
    if spec.code_env is None:
        return None
    text = os.environ.get(spec.code_env)
    if not text:
        raise UsageError(f"{where}: the environment variable {spec.code_env} is not set")
    try:
        return PairingCode.parse(text)
    except BlindmatchError as exc:
        raise UsageError(f"{where}: the code in {spec.code_env}: {exc}") from None


def _code_at_terminal(spec: PartnerSpec, where: str) -> tuple[PairingCode, bool]:
    """Without code_env, as the two-party command does: a sender makes a code up and shows it,
    a receiver asks for it at a hidden prompt. A mailbox run is resumed with the code it began
    with, so there the code is always asked for, never made up."""
    if spec.role == "sender" and spec.transport != "mailbox" and sys.stderr.isatty():
        return PairingCode.generate(), True
    if sys.stdin.isatty() and (spec.role == "receiver" or spec.transport == "mailbox"):
        return PairingCode.parse(getpass.getpass(f"Pairing code for {spec.name}: ")), False
    raise UsageError(
        f"{where}: no pairing code: set code_env to an environment variable holding the code "
        f"agreed with this partner ({CODE_VARIABLE} is not used by map: one code per partner)"
    )


def _check_transport(spec: PartnerSpec, plan: _Plan, partners: Path) -> None:
    """What the partners file alone cannot show: certificates and pins load, the storage
    backend and magic-wormhole are installed, a state file can be written."""
    if spec.tls is not None:
        try:
            parse_pins(spec.tls.pins)
        except UsageError as exc:
            raise UsageError(f"{spec.where(partners, 'tls_pin')}: {exc}") from None
        try:
            plan.tls = make_tls_contexts(
                spec.tls.cert, spec.tls.key, spec.tls.ca, pins=spec.tls.pins
            )
        except InputError as exc:
            field = "tls_ca" if exc.file == os.fspath(spec.tls.ca) else "tls_cert"
            raise InputError(f"{spec.where(partners, field)}: {exc}") from None
    if spec.transport == "wormhole":
        from ..transport.wormhole import start_reactor

        try:
            start_reactor()
        except UsageError as exc:
            raise UsageError(f"{spec.where(partners, 'wormhole')}: {exc}") from None
    if isinstance(spec.address, MailboxSettings):
        _check_mailbox(spec, spec.address, partners)
        if spec.address.state is not None:
            check_output_file(spec.address.state, f"{spec.where(partners, 'state')}:")
            plan.state = spec.address.state
        else:
            plan.state = plan.out_dir.parent / MAILBOX_STATE / spec.name / "run.state"


def _check_mailbox(spec: PartnerSpec, settings: MailboxSettings, partners: Path) -> None:
    """fsspec and the storage's backend are installed (nothing is contacted yet: reaching the
    storage is the partner's run, and may fail on its own)."""
    where = spec.where(partners, "mailbox")
    try:
        import fsspec  # type: ignore[import-untyped]
    except ImportError:
        raise UsageError(
            f"{where}: a mailbox needs fsspec: pip install 'blindmatch[mailbox]'"
        ) from None
    protocol = fsspec.core.split_protocol(settings.url)[0] or "file"
    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as exc:  # not echoed: the URL may carry a password
        raise UsageError(
            f"{where}: no storage backend for {protocol}:// ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'unknown protocol'})"
        ) from None


def _check_codes(plans: list[_Plan], partners: Path) -> list[BlindmatchError]:
    """One code per partner: a partner who knew another's code could stand in for it. And no
    two wormhole partners on one server whose codes map to the same nameplate (the server
    lets only two clients meet on one); a code we make up is made again instead."""
    from ..transport.wormhole import PUBLIC_MAILBOX, wormhole_code

    problems: list[BlindmatchError] = []
    by_secret: dict[bytes, _Plan] = {}
    plates: dict[tuple[str, str], _Plan] = {}
    for plan in sorted(plans, key=lambda p: p.made_up):  # the codes we cannot change first
        if plan.code is None:
            continue
        spec = plan.spec
        server = ""
        if isinstance(spec.address, WormholeSettings):
            server = spec.address.server or PUBLIC_MAILBOX
        while True:
            plate = wormhole_code(plan.code).split("-", 1)[0]
            other = plates.get((server, plate)) if server else None
            if other is None or not plan.made_up:
                break
            plan.code = PairingCode.generate()
        first = by_secret.setdefault(plan.code.secret(), plan)
        if first is not plan:
            problems.append(UsageError(
                f"{spec.where(partners, 'code_env')}: the same pairing code as partner "
                f"{first.spec.name!r} (line {first.spec.line}); each partner needs its own code "
                f"(a partner who knows another's code could stand in for it)"
            ))  # fmt: skip
        elif other is not None:
            problems.append(UsageError(
                f"{spec.where(partners, 'code_env')}: its code and partner {other.spec.name!r}'s "
                f"(line {other.spec.line}) meet on the same wormhole nameplate of the same "
                f"server, which admits only one pair at a time; agree another code with one of "
                f"them, or give it its own server"
            ))  # fmt: skip
        elif server:
            plates[(server, plate)] = plan
    return problems


def _raise(problems: list[BlindmatchError]) -> None:
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise UsageError(
            f"{len(problems)} problems before any session started:\n  "
            + "\n  ".join(str(p) for p in problems)
        )


def _check(args: argparse.Namespace) -> tuple[list[_Plan], dict[str, Policy], Followups]:
    specs = load_partners(args.partners)
    followups = followups_from_args(args)
    check_out_dir(args.out_dir)
    policies: dict[str, Policy] = {}
    problems: list[BlindmatchError] = []
    plans: list[_Plan] = []
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
                    f"{exc.message} (the policy of {user.where(args.partners, 'policy')})",
                    file=exc.file, row=exc.row, column=exc.column,
                )  # fmt: skip
            problems.append(exc)
    for spec in specs:
        plan = _Plan(spec, str(spec.policy or args.policy), args.out_dir / spec.name)
        try:
            check_out_dir(plan.out_dir)
            _check_transport(spec, plan, args.partners)
            if spec.tls is None:
                plan.code = _code_from_env(spec, spec.where(args.partners, "code_env"))
        except BlindmatchError as exc:
            problems.append(exc)
            continue
        plans.append(plan)
    _raise(problems)
    # Only now, with nothing else wrong: make codes up, or ask for them at the terminal.
    for plan in plans:
        if plan.code is None and plan.tls is None:
            plan.code, plan.made_up = _code_at_terminal(plan.spec, plan.spec.where(args.partners))
    _raise(_check_codes(plans, args.partners))
    return plans, policies, followups


# -- running ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """How one partner's run ended."""

    name: str
    #: how the partner is reached: listen, connect, listen+tls, connect+tls, wormhole, mailbox
    transport: str = ""
    published: Published | None = None
    result: OverlapResult | None = None
    label: str = ""
    message: str = ""
    exit_code: int = 0

    @property
    def ok(self) -> bool:
        return self.published is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "status": "ok" if self.ok else "failed",
            "transport": self.transport,
        }  # fmt: skip
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

    plans, policies, followups = _check(args)
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
    for plan in plans:
        if plan.made_up and plan.code is not None:
            print(f"Pairing code for {plan.spec.name}: {plan.code.reveal()}  (valid for this "
                  "run only)", file=sys.stderr, flush=True)  # fmt: skip
    per_partner = max(1, (args.workers or default_workers()) // len(plans))
    progress = MapProgress([p.spec.name for p in plans], quiet=args.quiet)
    outcomes = {
        p.spec.name: Outcome(p.spec.name, transport=p.spec.transport + ("+tls" if p.tls else ""))
        for p in plans
    }
    ask = threading.Lock()

    def one(plan: _Plan) -> None:
        name = plan.spec.name
        outcome = outcomes[name]
        party, policy_text = prepared[plan.policy_key]
        engine = make_engine(len(party.records), per_partner)
        try:
            # With the display on and --yes, each partner's terms go to its report.html rather
            # than between the lines of the display.
            quiet_terms = args.quiet or (progress.on and args.yes)
            decide = make_decider(party.policy, assume_yes=args.yes, quiet=quiet_terms)
            job = Job(
                plan=plan, party=party, engine=engine, decide=_locked(decide, ask),
                on_event=progress.feeder(name), say=progress.say(name),
                note=progress.note(name), timeout=plan.spec.timeout or args.timeout,
                connect_retry=args.connect_retry, policy_text=policy_text,
                inputs=list(args.input),
            )  # fmt: skip
            ran = RUNNERS[plan.spec.transport](job)
            info = RunInfo(
                role=plan.spec.role, policy_text=policy_text, inputs=list(args.input),
                transport=ran.transport,
            )  # fmt: skip
            info.run_id = shared_run_id(ran.agreement)
            outcome.result, outcome.published = complete(
                plan.out_dir, party, info, ran.result, followups=followups,
                matches_format=args.matches_format, partner=name,
            )  # fmt: skip
            progress.status(name, "done")
        except Exception as exc:  # noqa: BLE001 - every partner's failure is its own
            outcome.label, outcome.exit_code = classify(exc)
            outcome.message = (
                for_terminal(str(exc)) if isinstance(exc, BlindmatchError)
                else f"internal error ({type(exc).__name__})"
            )  # fmt: skip
            progress.status(name, "failed")
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
