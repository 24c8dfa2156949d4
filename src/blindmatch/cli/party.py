"""One party of a real run: inputs and policy in, session over a socket or files, outputs out.

Nothing is written until the session has produced its result; then every output file appears
together (or none does), so a failure at any step leaves no partial output.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import getpass
import hashlib
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..accounts.normalize import clear_caches
from ..accounts.policy import Policy, load_policy
from ..accounts.prepare import PreparedParty, prepare_party
from ..driver import Decide, Rejection
from ..errors import BlindmatchError, UsageError
from ..io.atomic import write_private
from ..io.tabular import is_url, read_sql
from ..protocol import (
    Agreement,
    CryptoEngine,
    Disclosure,
    Event,
    InlineEngine,
    OverlapResult,
    PartnerTerms,
    Role,
    Session,
)
from ..protocol.randomness import Rng
from .report import (
    ProgressBars,
    RunInfo,
    check_out_dir,
    check_output_file,
    for_terminal,
    render_matrix,
    shared_run_id,
    warehouse_tables_of,
)
from .runs import (
    FOLLOWUP_FAILED,
    Followups,
    Published,
    followups_from_args,
    publish,
    report_warnings,
)

if TYPE_CHECKING:
    from ..transport import OfflineParty, PairingCode
    from ..transport.mailbox import Mailbox

__all__ = [
    "complete",
    "describe_terms",
    "inputs_fingerprint",
    "make_decider",
    "make_engine",
    "prepare",
    "run_offline",
    "run_online",
]

#: Below this many elements a process pool costs more to start than it saves.
POOL_THRESHOLD = 20_000


def prepare(
    args: argparse.Namespace, bars: ProgressBars | None = None
) -> tuple[PreparedParty, str]:
    """Read the policy and inputs; returns the prepared party and the policy text (for its hash)."""
    if args.policy is not None:
        policy = load_policy(args.policy)
        text = policy.to_toml()  # what was parsed, read once (the path may be a pipe)
    else:
        if not args.label:
            raise UsageError(
                "give --policy FILE, or at least --label NAME (how the partner sees you)"
            )
        policy = Policy.from_dict({"label": args.label}, source="<default policy>")
        text = policy.to_toml()
    prepared = prepare_party(
        sources(args),
        policy,
        progress=bars.rows if bars is not None else None,
        allow_short_rows=args.allow_short_rows,
    )
    if bars is not None:
        bars.rows(prepared.diagnostics.rows)  # progress comes every 16,384 rows: the rest
    for warning in prepared.diagnostics.warnings:  # shown even with --quiet: they explain
        print(f"psi-run: warning: {for_terminal(warning)}", file=sys.stderr)  # a surprise
    # The keys are made: the normalizer's caches would only sit in memory through the session.
    clear_caches()
    return prepared, text


def sources(args: argparse.Namespace) -> list[Any]:
    """The account sources: every --input (paths, ``-`` for stdin), then the --sql query."""
    found: list[Any] = list(args.input or [])
    if args.db is not None and args.sql is None:
        raise UsageError('--db names the database --sql queries: give --sql "SELECT ..." too')
    if args.sql is not None:
        if args.db is None:
            raise UsageError(
                "--sql needs --db: a DuckDB file (crm.duckdb) or a database URL "
                "(postgresql://user@host/db)"
            )
        found.append(read_sql(args.sql, args.db))
    if not found:
        raise UsageError(
            "no accounts to match: give --input FILE (CSV, JSON Lines, Parquet, Excel, Arrow, "
            '.csv.gz/.zst, - for stdin) and/or --sql "SELECT ..." --db DB'
        )
    if sum(1 for s in found if str(s) == "-") > 1:
        raise UsageError("stdin (-) can be given as --input only once")
    return found


def check_out_db(db: str | None) -> None:
    """Refuse an --out-db we could not write before any session starts: a DuckDB file in a
    folder that is missing or not writable, or no pyarrow to shape the tables with."""
    if db is None:
        return
    if importlib.util.find_spec("pyarrow") is None:
        raise UsageError("--out-db needs pyarrow: pip install 'blindmatch[warehouse]'")
    if not is_url(db):
        check_output_file(Path(db), "--out-db")


CODE_VARIABLE = "BLINDMATCH_PAIRING_CODE"


def ask_code() -> PairingCode:
    """The pairing code without putting it on the command line (where `ps` shows it): from
    the environment, or typed at a hidden prompt."""
    from ..transport import PairingCode

    if os.environ.get(CODE_VARIABLE):
        return PairingCode.parse(os.environ[CODE_VARIABLE])
    if sys.stdin.isatty():
        return PairingCode.parse(getpass.getpass("Pairing code from your partner: "))
    raise UsageError(
        f"the receiver needs the pairing code the sender showed: type it at the prompt, or "
        f"set {CODE_VARIABLE} (or pass --code, which other local users can see in `ps`)"
    )


def write_secret(path: Path, text: str) -> None:
    """An owner-only file (0o600), written atomically."""
    write_private(path, text)


def make_engine(
    records: int,
    workers: int | None,
    *,
    executor: str = "local",
    dask_scheduler: str | None = None,
) -> CryptoEngine:
    """The engine ``--executor`` asks for. Dask whatever the size (the user asked for the
    cluster); else the native engine (C threads, no pool to start) unless
    BLINDMATCH_ENGINE=python or it is not built; else a process pool for large inputs and
    this thread for small ones."""
    from ..crypto import native

    if dask_scheduler is not None and executor != "dask":
        raise UsageError("--dask-scheduler goes with --executor dask")
    if executor == "dask":
        from ..cluster import DaskEngine

        return DaskEngine(scheduler=dask_scheduler, workers=workers)

    if native.engine_preference() == "native":
        return native.NativeEngine(threads=workers)
    if workers == 1 or records < POOL_THRESHOLD:
        return InlineEngine()
    from ..parallel import PoolEngine

    return PoolEngine(workers=workers)


def describe_conflict_rule(agreement: Agreement) -> list[str]:
    """The conflicting-names rule as the user accepts it (protocol_spec.md §5.8): in force or
    not, and, with records on both sides, who learns what about whose name-matched accounts.
    Sides are named by label and role, so the text reads the same on both ends."""
    rule = agreement.conflicts
    sender = f"{agreement.sender.label!r} (the sender)"
    receiver = f"{agreement.receiver.label!r} (the receiver)"
    if agreement.conflicts_waived:
        return [
            "  names: conflicting-names rule off: both sides disclose records; set "
            f"refuse_conflicts = true on both sides to run it, which tells {sender} whether "
            f"the name-matched accounts of {receiver} carry a domain/DUNS (protocol_spec.md "
            "§5.8)"
        ]
    if rule is None:
        return []
    lines = [
        "  names: a shared name alone does not match where both accounts carry a domain, "
        "or both a DUNS, that differ (refuse_conflicts, protocol_spec.md §5.8)"
    ]
    if rule.reveals_flavours:
        lines.append(
            "  disclosed by the names rule (both set refuse_conflicts = true, both disclose "
            f"records): {sender} learns, for each of its accounts matched by a name alone, "
            f"which of {', '.join(rule.identifying)} the matched account of {receiver} "
            "carries (never the values)"
        )
    return lines


def describe_terms(event: PartnerTerms) -> str:
    terms = event.terms
    lines = [f"The partner {terms.label!r} proposes:"]
    lines.append(
        f"  keys: {', '.join(event.agreement.key_types)} (normalization {terms.normalization})"
    )
    lines.extend(describe_conflict_rule(event.agreement))
    for pop in terms.populations:
        extra = f", revealing {', '.join(pop.fields)}" if pop.fields else ""
        size = f", at most {pop.size:,} accounts" if pop.size is not None else ""
        lines.append(f"  {pop.name}: {pop.disclosure.value}{extra}{size}")
    if any(p.disclosure is Disclosure.COUNTS for p in terms.populations):
        lines.append(
            "  note: 'counts' holds against a partner that follows the protocol; a partner "
            "that cheats can learn which of its own accounts are in a counts population of "
            "ours where we chose counts too (protocol_spec.md §8)"
        )
    return for_terminal("\n".join(lines))


def make_decider(policy: Policy, *, assume_yes: bool, quiet: bool) -> Decide:
    """Apply the policy's [partner] rules, then ask the user (or take --yes). A rejection is
    worded twice: for our user, and for the partner's (who reads it from its own side)."""

    def decide(event: PartnerTerms) -> Rejection | None:
        objections = policy.objections(event.terms)
        if objections:
            return Rejection(
                "; ".join(o.ours for o in objections), "; ".join(o.theirs for o in objections)
            )
        if event.agreement.tables_differ:
            # Always shown, even with --quiet: it can explain a surprising miss later.
            print(
                "warning: the partner normalizes with different data tables (a Public Suffix "
                "List or free-mail list release); a few keys may not match. Updating blindmatch "
                "on both sides aligns them.",
                file=sys.stderr,
            )
        if not quiet:
            print(describe_terms(event), file=sys.stderr)
        if assume_yes:
            return None
        if not sys.stdin.isatty():
            return Rejection(
                "our side did not confirm the terms (run with --yes to accept them without asking)",
                "the partner did not confirm our terms (it runs without a terminal to ask and "
                "without --yes)",
            )
        answer = input("Accept these terms and start? [y/N] ").strip().lower()
        if answer in ("y", "yes"):
            return None
        return Rejection("declined by the user", "the partner's user declined our terms")

    return decide


def complete(
    out_dir: Path,
    prepared: PreparedParty,
    info: RunInfo,
    result: OverlapResult,
    *,
    followups: Followups,
    matches_format: str,
    partner: str | None = None,
) -> tuple[OverlapResult, Published]:
    """A session's result with our side's counts added, published (outputs, history, alert)."""
    result = dataclasses.replace(result, records_without_keys=prepared.records_without_keys)
    info.records_in = prepared.diagnostics.rows
    info.records_without_keys = prepared.records_without_keys
    tables = warehouse_tables_of(result, info, id_type=prepared.id_type)
    try:
        done = publish(
            out_dir, result, info, followups=followups, matches_format=matches_format,
            partner=partner, tables=tables,
        )  # fmt: skip
    except OSError as exc:  # checked before the session, but a disk can fill up since
        if isinstance(exc, BlindmatchError):
            raise
        raise UsageError(
            f"cannot write the results into {out_dir}: {exc.strerror or exc}; nothing was written"
        ) from None
    return result, done


def _finish(
    args: argparse.Namespace,
    prepared: PreparedParty,
    info: RunInfo,
    result: OverlapResult,
    followups: Followups,
) -> int:
    result, done = complete(
        args.out_dir, prepared, info, result, followups=followups,
        matches_format=args.matches_format,
    )  # fmt: skip
    if args.json:
        print(json.dumps(done.summary, indent=2, ensure_ascii=False))
    else:
        print(render_matrix(result))
        if not done.deltas.first_run:
            print(f"since the previous run: {len(done.deltas.new)} new, "
                  f"{len(done.deltas.gone)} gone overlaps (new.csv, gone.csv)")  # fmt: skip
        if not args.quiet:
            print("wrote " + ", ".join(str(p) for p in done.written), file=sys.stderr)
            if done.appended:
                print("appended to " + ", ".join(done.appended), file=sys.stderr)
    report_warnings(done)
    return FOLLOWUP_FAILED if done.warnings else 0


def network_events(bars: ProgressBars) -> Callable[[Event], None]:
    """Progress to the bars; each connection a listener turned away, as one line on stderr
    (always: it is what an operator looks for when a partner cannot get in)."""
    from ..transport import Dropped

    def on_event(event: Event) -> None:
        if isinstance(event, Dropped):
            guesses = f" [failed pairings: {event.guesses}]" if event.guesses else ""
            print(
                for_terminal(
                    f"psi-run: dropped a connection from {event.address}: {event.reason}{guesses}"
                ),
                file=sys.stderr,
                flush=True,
            )
        else:
            bars(event)

    return on_event


def run_online(args: argparse.Namespace) -> int:
    from ..transport import (
        PairingCode,
        make_tls_contexts,
        open_listener,
        run_connector,
        run_listener,
    )
    from ..transport.tls_identity import parse_pins

    if args.mailbox:
        mailbox_args = _mailbox_run(args)
        exit_code = run_offline(mailbox_args)
        state = Path(mailbox_args.state)
        if args.state is None and not state.exists():  # complete: our default folder goes too
            shutil.rmtree(state.parent, ignore_errors=True)
        return exit_code
    role = Role(args.role)
    if args.wormhole:
        if args.connect is not None or any((args.tls_cert, args.tls_key, args.tls_ca)):
            raise UsageError(
                "--wormhole connects both sides through the wormhole servers: it takes no "
                "--connect and no TLS (the pairing code authenticates the partner)"
            )
    elif args.wormhole_server or args.wormhole_transit or args.wormhole_relay_only:
        raise UsageError(
            "--wormhole-server, --wormhole-transit and --wormhole-relay-only need --wormhole"
        )
    elif role is Role.RECEIVER and args.connect is None:
        raise UsageError(
            "the receiver needs --connect HOST:PORT (the sender's address), or --wormhole"
        )
    if role is Role.SENDER and args.connect is not None:
        raise UsageError("the sender listens (--listen HOST:PORT); --connect is the receiver's")
    check_out_dir(args.out_dir)
    check_out_db(args.out_db)
    if args.code_file is not None:
        check_output_file(args.code_file, "--code-file")
    followups = followups_from_args(args)
    tls = None
    if args.tls_pin:
        parse_pins(args.tls_pin)  # a typo in a pin is a usage error, whatever else is wrong
    if any((args.tls_cert, args.tls_key, args.tls_ca)):
        if not all((args.tls_cert, args.tls_key, args.tls_ca)):
            raise UsageError("TLS needs all of --tls-cert, --tls-key and --tls-ca")
        tls = make_tls_contexts(args.tls_cert, args.tls_key, args.tls_ca, pins=args.tls_pin)
    elif args.tls_pin:
        raise UsageError("--tls-pin needs TLS: --tls-cert, --tls-key and --tls-ca")
    code = None
    show_code = False
    if tls is None:
        if args.code:
            code = PairingCode.parse(args.code)
        elif role is Role.SENDER and os.environ.get(CODE_VARIABLE):
            code = PairingCode.parse(os.environ[CODE_VARIABLE])  # agreed with the partner
        elif role is Role.SENDER:
            code = PairingCode.generate()
            show_code = True
            if args.code_file is None and not sys.stderr.isatty():
                # A code printed into a captured log would outlive the run: refuse.
                raise UsageError(
                    f"no terminal to show the pairing code on: set {CODE_VARIABLE} (agreed "
                    "with the partner), or pass --code-file PATH (written owner-only)"
                )
        else:
            code = ask_code()
    listening = None
    if role is Role.SENDER and not args.wormhole:
        # Bound before reading: a taken port shows now, and a partner who connects while we
        # read waits in the backlog (pairing starts once we are ready) instead of retrying.
        listening = open_listener(*args.listen)
    try:
        bars = ProgressBars(quiet=args.quiet)
        prepared, policy_text = prepare(args, bars)
    except BaseException:
        if listening is not None:
            listening.close()
        raise
    info = RunInfo(
        role=role.value,
        policy_text=policy_text,
        inputs=[p for p in args.input or [] if str(p) != "-"],
        transport="wormhole" if args.wormhole else "tls" if tls else "pake",
    )
    engine = make_engine(
        len(prepared.records),
        args.workers,
        executor=args.executor,
        dask_scheduler=args.dask_scheduler,
    )
    session = Session(role=role, terms=prepared.terms, records=prepared.records, engine=engine)
    decide = make_decider(prepared.policy, assume_yes=args.yes, quiet=args.quiet)
    common = {
        "code": code,
        "timeout": args.timeout,
        "deadline": args.deadline,
        "on_event": network_events(bars),
        "decide": decide,
    }

    def show() -> None:
        if code is None or not show_code:
            return
        if args.code_file is not None:
            write_secret(args.code_file, code.reveal() + "\n")
            print(f"Pairing code written to {args.code_file}.", file=sys.stderr, flush=True)
        else:
            print(
                f"Pairing code for your partner: {code.reveal()}  (valid for this run only)",
                file=sys.stderr,
                flush=True,
            )

    try:
        if args.wormhole:
            from ..transport.wormhole import PUBLIC_MAILBOX, PUBLIC_TRANSIT, run_wormhole

            assert code is not None  # no TLS with --wormhole
            server = args.wormhole_server or PUBLIC_MAILBOX
            show()
            print(f"Meeting the partner through {server}.", file=sys.stderr, flush=True)
            result = run_wormhole(
                session,
                mailbox=server,
                transit=args.wormhole_transit or PUBLIC_TRANSIT,
                direct=not args.wormhole_relay_only,
                **common,
            )
        elif role is Role.SENDER:
            host, port = args.listen

            def bound(actual: int) -> None:
                print(f"Listening on {host}:{actual}.", file=sys.stderr, flush=True)
                show()

            result = run_listener(
                session, host=host, port=port, ssl_context=tls.server if tls else None,
                bound=bound, server=listening, **common,
            )  # fmt: skip
        else:
            host, port = args.connect
            result = run_connector(
                session, host=host, port=port, ssl_context=tls.client if tls else None,
                connect_retry=args.connect_retry, **common,
            )  # fmt: skip
    finally:
        if listening is not None:
            listening.close()  # run_listener closed it, unless we failed before it ran
        bars.close()
        close = getattr(engine, "close", None)
        if close is not None:
            close()
        if show_code and args.code_file is not None:
            # The code is for this run only; once it is over, the file is only a leftover.
            with contextlib.suppress(FileNotFoundError):
                Path(args.code_file).unlink()
    info.run_id = shared_run_id(session.agreement)
    return _finish(args, prepared, info, result, followups)


def inputs_fingerprint(
    inputs: Sequence[Path], policy_text: str, *, sql: str | None = None, db: str | None = None
) -> bytes:
    """What an offline run's later steps must be run with: the policy and every input byte
    (a step with other inputs is refused rather than replayed into a different stream)."""
    h = hashlib.sha256(b"blindmatch offline inputs")
    h.update(policy_text.encode("utf-8"))
    if sql is not None:  # the query, not its result: the database may change between steps
        h.update(f"\0sql\0{db}\0{sql}".encode())
    for path in inputs:
        if str(path) == "-":
            raise UsageError(
                "offline runs read their inputs again at every step: give a file, not - (stdin)"
            )
        with path.open("rb") as fh:  # streamed: an export can be larger than memory
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.digest()


def _mailbox_run(args: argparse.Namespace) -> argparse.Namespace:
    """``psi-run run --mailbox URL``: the offline run, every step through the mailbox, with
    its state kept in the out-dir so that running the same command again resumes it."""
    if args.wormhole or args.connect is not None or any((args.tls_cert, args.tls_key, args.tls_ca)):
        raise UsageError(
            "--mailbox exchanges the messages through shared storage: it takes no --connect, "
            "--wormhole or TLS (the pairing code authenticates the partner)"
        )
    if args.code_file is not None:
        raise UsageError(
            "--mailbox needs a pairing code agreed beforehand (--code, the prompt or "
            f"{CODE_VARIABLE}); one side makes it with `psi-run offline --new-code`"
        )
    mailbox = argparse.Namespace(**vars(args))
    if mailbox.state is None and args.out_dir is not None:
        check_out_dir(args.out_dir)
        mailbox.state = Path(args.out_dir) / ".mailbox-state" / "state"
        try:
            mailbox.state.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise UsageError(
                f"--out-dir {args.out_dir}: cannot keep the mailbox state in it ({exc.strerror})"
            ) from None
    mailbox.outbox, mailbox.partner_files, mailbox.new_code = None, [], False
    return mailbox


def _offline_args(args: argparse.Namespace) -> None:
    """The arguments an offline run needs (``--new-code`` alone needs none of them)."""
    missing = [
        flag
        for flag, value in (
            ("--role", args.role),
            ("--input (or --sql)", args.input or args.sql),
            ("--out-dir", args.out_dir),
            ("--state", args.state),
        )
        if not value
    ]
    if missing:
        raise UsageError(f"an offline run needs {', '.join(missing)}")
    if args.mailbox and args.partner_files:
        raise UsageError(
            "with --mailbox the partner's messages come from the mailbox: pass no message files"
        )


def _storage_options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--mailbox-option expects KEY=VALUE, got {key.strip()!r}")
        options[key.strip()] = os.path.expanduser(value)
    return options


def run_offline(args: argparse.Namespace) -> int:
    from ..transport import OfflineParty, PairingCode

    if args.new_code:
        print(PairingCode.generate().reveal())
        return 0
    _offline_args(args)
    if args.code:
        code = PairingCode.parse(args.code)
    elif os.environ.get(CODE_VARIABLE) or sys.stdin.isatty():
        code = ask_code()
    else:
        raise UsageError(
            "offline runs need the pairing code: one side runs `psi-run offline --new-code` "
            f"and tells the other by phone; give it at the prompt or in {CODE_VARIABLE}"
        )
    role = Role(args.role)
    check_out_dir(args.out_dir)
    check_output_file(args.state, "--state")
    check_out_db(args.out_db)
    outbox = args.outbox or Path(args.state).parent / "blindmatch-outbox"
    if outbox.resolve() == Path(args.out_dir).resolve():
        raise UsageError("--outbox must not be --out-dir: message files are not results")
    mailbox = None
    if args.mailbox:
        from ..transport.mailbox import Mailbox

        # Reach the mailbox before the (possibly long) preparation.
        mailbox = Mailbox(args.mailbox, **_storage_options(args.mailbox_option))
    followups = followups_from_args(args)
    bars = ProgressBars(quiet=args.quiet)
    prepared, policy_text = prepare(args, bars)

    # The engine's output does not depend on it (PoolEngine equals InlineEngine), so the
    # replays stay deterministic; a large run gets every core, as online.
    engine = make_engine(len(prepared.records), args.workers)

    def make_session(rng: Rng) -> Session:
        return Session(
            role=role,
            terms=prepared.terms,
            records=prepared.records,
            rng=rng,
            engine=engine,
        )

    def on_event(event: Event) -> None:
        bars(event)

    party = OfflineParty(
        args.state,
        make_session=make_session,
        code=code,
        fingerprint=inputs_fingerprint(args.input or [], policy_text, sql=args.sql, db=args.db),
        out_dir=outbox,
        decide=make_decider(prepared.policy, assume_yes=args.yes, quiet=args.quiet),
        on_event=on_event,
        hold_run=mailbox is not None,
    )
    try:
        result = _offline_steps(args, party, role, mailbox, bars)
    finally:
        close = getattr(engine, "close", None)
        if close is not None:
            close()
    if result is None:
        return 0
    info = RunInfo(
        role=role.value,
        policy_text=policy_text,
        inputs=list(args.input or []),
        transport="mailbox" if mailbox is not None else "offline",
        run_id=shared_run_id(party.agreement),
    )
    return _finish(args, prepared, info, result, followups)


def _offline_steps(
    args: argparse.Namespace,
    party: OfflineParty,
    role: Role,
    mailbox: Mailbox | None,
    bars: ProgressBars,
) -> OverlapResult | None:
    """Run every step through the mailbox, or this one step by hand: the result, or None."""
    if mailbox is not None:
        from ..transport.mailbox import run_mailbox

        def on_wait(what: str) -> None:
            if not args.quiet:
                print(f"psi-run: {what}", file=sys.stderr, flush=True)

        try:
            return run_mailbox(
                party,
                mailbox,
                role=role,
                inbox=Path(str(args.state) + ".inbox"),
                poll=args.poll,
                timeout=args.timeout,
                deadline=args.deadline,
                on_wait=on_wait,
            )
        finally:
            bars.close()
    written = party.step(list(args.partner_files))
    bars.close()
    if party.result is None and written is not None:
        print(
            f"Send {written} to your partner. When their next file arrives, run this command "
            f"again with it added.",
            file=sys.stderr,
        )
    elif written is not None:
        print(
            f"Send {written} to your partner: it is the last message they need. This side is "
            f"complete.",
            file=sys.stderr,
        )
    return party.result
