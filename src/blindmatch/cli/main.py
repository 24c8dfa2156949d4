"""``psi-run``: one command on each side of a private account mapping.

    psi-run demo                                  both sides on the bundled sample CRMs
    psi-run inspect FILE [--policy P]             what a file would contribute, locally
    psi-run --role sender   --input F --policy P --out-dir D [--listen HOST:PORT]
    psi-run --role receiver --input F --policy P --out-dir D --connect HOST:PORT --code CODE
    psi-run --role sender|receiver ... --wormhole   both connect out through magic-wormhole
    psi-run offline --role R --input F --policy P --state S --out-dir D [PARTNER_FILE ...]
    psi-run offline ... --mailbox URL              the offline steps through shared storage
    psi-run map --partners PARTNERS.toml --input F --policy P --out-dir D
    psi-run history [--partner NAME]              past runs, per partner
    psi-run report DIR                            rebuild DIR/report.html

The argument parsing and error reporting live here; the session runs through the same
sans-I/O core as the library, with sockets or message files at the edge.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from .. import __version__
from ..errors import BlindmatchError, UsageError
from .exits import EXIT_CODES, classify, exit_code_for

__all__ = ["EXIT_CODES", "classify", "exit_code_for", "main"]

EPILOG = """exit codes:
  0   success                    4   policy error, mismatch or rejection
  1   internal error (a bug)     5   authentication failed (pairing code, certificate)
  2   usage error                6   partner gone: disconnected, unreachable or timed out
  3   input file error           7   protocol violation by the partner
  8   results written, but the history or the --webhook post failed
  9   map: at least one partner failed (the others' results are written)
  130 interrupted (Ctrl-C or SIGTERM)
"""

#: The top-level help names the options every run takes, which live on the subcommands.
RUN_HELP = """every run also takes:
  --history PATH   record the run and write new.csv/gone.csv against the previous run with
                   the same partner (default: $XDG_STATE_HOME/blindmatch/history.sqlite)
  --webhook URL    post a summary of what is new after the results are written
  each out-dir gets summary.json, overlap.csv, new.csv, gone.csv and report.html

"""


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def add_followup_arguments(parser: argparse.ArgumentParser, *, partner_flag: bool) -> None:
    """--history, --webhook and friends, shared by the plain run, offline and map."""
    parser.add_argument(
        "--history",
        type=Path,
        metavar="PATH",
        help="record the run in this history database and compare with the previous run with "
        "the same partner (default: $XDG_STATE_HOME/blindmatch/history.sqlite)",
    )
    if partner_flag:
        parser.add_argument(
            "--partner",
            help="the name this partner's runs are kept under in the history "
            "(default: the label the partner introduces itself with)",
        )
    parser.add_argument(
        "--webhook", metavar="URL", help="after the run, POST a summary of what is new here"
    )
    parser.add_argument(
        "--webhook-format",
        choices=("json", "slack"),
        default="json",
        help='json (default) or slack (a Slack-compatible {"text": ...} message)',
    )


def _short_rows_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-short-rows",
        action="store_true",
        help="read CSV rows with fewer cells than the header as blank-padded (default: refuse)",
    )


def _party_arguments(parser: argparse.ArgumentParser, *, network: bool) -> None:
    # Offline, `--new-code` needs none of the run's arguments: run_offline checks them.
    required = network
    parser.add_argument(
        "--role",
        choices=["sender", "receiver"],
        required=required,
        help="sender listens, receiver connects (offline: just a side name)",
    )
    parser.add_argument(
        "--input",
        "-i",
        action="append",
        type=Path,
        required=required,
        help="CRM export: CSV, JSON Lines or Parquet (repeatable)",
    )
    parser.add_argument(
        "--policy", "-p", type=Path, help="policy TOML (default: standard populations, counts only)"
    )
    parser.add_argument("--label", help="how the partner sees us (without a policy file)")
    parser.add_argument(
        "--out-dir",
        "-o",
        type=Path,
        required=required,
        help="where summary.json, matches.csv and run.json go",
    )
    parser.add_argument("--matches-format", choices=["csv", "jsonl", "parquet"], default="csv")
    _short_rows_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    parser.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="accept the partner's terms without asking (policy checks apply)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes for the curve work (default: all cores; 1: none)",
    )
    add_followup_arguments(parser, partner_flag=True)
    if network:
        parser.add_argument(
            "--listen",
            type=_address,
            default=("0.0.0.0", 7337),
            metavar="HOST:PORT",
            help="sender: where to listen (default 0.0.0.0:7337)",
        )
        parser.add_argument(
            "--connect", type=_address, metavar="HOST:PORT", help="receiver: the sender's address"
        )
        parser.add_argument(
            "--code",
            help="the pairing code (receiver: the one the sender "
            "showed; sender: use this pre-agreed code instead of a new one). Visible in `ps`: "
            "prefer the BLINDMATCH_PAIRING_CODE environment variable or the hidden prompt",
        )
        parser.add_argument(
            "--code-file",
            type=Path,
            help="sender: write the new pairing code to this owner-only file "
            "instead of the terminal (for automation)",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=120.0,
            help="seconds to wait for the partner at any step (default 120)",
        )
        parser.add_argument(
            "--deadline",
            type=float,
            default=None,
            help="seconds the whole run may last, a listener's or the wormhole's wait for the "
            "partner included (default: no limit)",
        )
        parser.add_argument(
            "--connect-retry",
            type=float,
            default=10.0,
            help="receiver: keep retrying a refused connection this long (default 10)",
        )
        parser.add_argument(
            "--wormhole",
            action="store_true",
            help="both sides connect out through magic-wormhole's servers (no open port "
            "needed; needs blindmatch[wormhole])",
        )
        parser.add_argument(
            "--wormhole-server",
            metavar="URL",
            help="--wormhole: the mailbox server (default: the public "
            "ws://relay.magic-wormhole.io:4000/v1)",
        )
        parser.add_argument(
            "--wormhole-transit",
            metavar="HINT",
            help="--wormhole: the transit relay, tcp:HOST:PORT (default: the public "
            "tcp:transit.magic-wormhole.io:4001)",
        )
        parser.add_argument(
            "--wormhole-relay-only",
            action="store_true",
            help="--wormhole: offer no direct connection, only the transit relay (the partner "
            "then never learns our IP addresses)",
        )
        parser.add_argument("--tls-cert", type=Path, help="use TLS: our certificate (PEM)")
        parser.add_argument("--tls-key", type=Path, help="use TLS: our private key (PEM)")
        parser.add_argument("--tls-ca", type=Path, help="use TLS: CA that signed the partner's")
        parser.add_argument(
            "--tls-pin",
            action="append",
            default=[],
            metavar="KIND-sha256:FINGERPRINT",
            help="TLS: accept only a partner whose certificate (cert-sha256:) or public key "
            "(spki-sha256:) has this SHA-256, in hex or base64; repeatable (any one matches)",
        )
    else:
        parser.add_argument(
            "--state",
            type=Path,
            help="local state file (owner-only; deleted when the run completes)",
        )
        parser.add_argument(
            "--outbox",
            type=Path,
            help="where our message files for the partner go (default: blindmatch-outbox "
            "next to the state file)",
        )
        parser.add_argument(
            "--mailbox",
            metavar="URL",
            help="run every step automatically through this shared folder or bucket (local "
            "path, sftp://user@host/path, s3://, gs://, az://; needs blindmatch[mailbox])",
        )
        parser.add_argument(
            "--mailbox-option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a storage option for the mailbox (e.g. key_filename=~/.ssh/id_ed25519); "
            "repeatable",
        )
        parser.add_argument(
            "--poll",
            type=float,
            default=2.0,
            help="mailbox: seconds between looks for the partner's messages (default 2)",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=3600.0,
            help="mailbox: give up after this many seconds without a new message from the "
            "partner (default 3600; the run stays resumable)",
        )
        parser.add_argument(
            "--deadline",
            type=float,
            default=None,
            help="mailbox: seconds the whole run may last (default: no limit)",
        )
        parser.add_argument(
            "--code",
            help="the pairing code both sides agreed on (visible in `ps`: prefer the "
            "BLINDMATCH_PAIRING_CODE environment variable or the hidden prompt)",
        )
        parser.add_argument("--new-code", action="store_true", help="print a fresh pairing code")
        parser.add_argument(
            "partner_files",
            nargs="*",
            type=Path,
            help="message files received from the partner so far",
        )


def _version_text() -> str:
    """The version and the engine that would run (and its CPU path), for bug reports."""
    from ..crypto import native

    try:
        engine = native.engine_preference()
    except UsageError as exc:
        return f"blindmatch {__version__}\nengine: none ({exc})"
    if engine == "native":
        return f"blindmatch {__version__}\nengine: native (C, {native.cpu_path()} field arithmetic)"
    reason = f"{native.ENGINE_VARIABLE}=python" if native.available() else "C extension not built"
    return f"blindmatch {__version__}\nengine: python ({reason})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="psi-run",
        description="Find the accounts two companies share without either one handing its "
        "list over.",
        epilog=RUN_HELP + EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run both parties on the bundled sample CRMs",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--out-dir", "-o", type=Path, default=Path("blindmatch-demo"))
    demo.add_argument("--json", action="store_true", help="print both summaries as JSON")
    demo.add_argument("--quiet", "-q", action="store_true", help="no progress bars")

    inspect = sub.add_parser(
        "inspect",
        help="report what a file would contribute (local only)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inspect.add_argument("files", nargs="+", type=Path)
    inspect.add_argument("--policy", "-p", type=Path)
    inspect.add_argument("--json", action="store_true")
    _short_rows_argument(inspect)

    run = sub.add_parser(
        "run",
        help="one party over the network (the default command)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _party_arguments(run, network=True)

    offline = sub.add_parser(
        "offline",
        help="one party, exchanging message files instead",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _party_arguments(offline, network=False)

    mapping = sub.add_parser(
        "map",
        help="map accounts with every partner in a partners file, concurrently",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _map_arguments(mapping)

    history = sub.add_parser("history", help="list past runs, per partner")
    history.add_argument("--history", type=Path, metavar="PATH", help="the history database")
    history.add_argument("--partner", help="only the runs with this partner")
    history.add_argument("--json", action="store_true", help="print the runs as JSON")

    report = sub.add_parser("report", help="rebuild report.html (or a map's index.html) in DIR")
    report.add_argument("dir", type=Path, metavar="DIR", help="an output directory of a run")

    from ..conformance.command import DESCRIPTION, add_arguments

    conformance = sub.add_parser(
        "conformance",
        help="check blindmatch (or another implementation) against the protocol's vectors",
        description=DESCRIPTION,
    )
    add_arguments(conformance)
    return parser


def _map_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--partners",
        type=Path,
        required=True,
        help="TOML file: a [[partners]] table each, reached by listen, connect (optionally "
        "with TLS), wormhole or mailbox (see the README)",
    )
    parser.add_argument(
        "--input", "-i", action="append", type=Path, required=True,
        help="CRM export: CSV, JSON Lines or Parquet (repeatable), for every partner",
    )  # fmt: skip
    parser.add_argument(
        "--policy", "-p", type=Path, required=True,
        help="base policy TOML (a partner's `policy` replaces it for that partner)",
    )  # fmt: skip
    parser.add_argument(
        "--out-dir", "-o", type=Path, required=True,
        help="results go to OUT_DIR/<partner>/, and index.html across partners",
    )  # fmt: skip
    parser.add_argument("--matches-format", choices=["csv", "jsonl", "parquet"], default="csv")
    parser.add_argument("--json", action="store_true", help="print the map summary as JSON")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    parser.add_argument(
        "--yes", "-y", action="store_true",
        help="accept each partner's terms without asking (policy checks apply)",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=None,
        help="processes for the curve work, shared out between partners (default: all cores)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=120.0,
        help="seconds to wait for a partner at any step (default 120; a partner's `timeout` "
        "in the partners file replaces it)",
    )  # fmt: skip
    parser.add_argument(
        "--connect-retry", type=float, default=10.0,
        help="keep retrying a refused connection this long (default 10)",
    )  # fmt: skip
    add_followup_arguments(parser, partner_flag=False)


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in and args_in[0].startswith("--") and args_in[0] not in ("--help", "--version"):
        args_in.insert(0, "run")  # `psi-run --role sender ...` is the plain form, any order
    parser = build_parser()
    args = parser.parse_args(args_in)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_CODES["usage"]
    # SIGTERM (a service manager, `kill`) stops a run like Ctrl-C: the partner is told, the
    # worker pool shuts down, no partial output, exit code 130.
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if on_main_thread else None
    try:
        with _bulk_allocation():
            return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _bulk_allocation() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the run, a process-wide setting that only
    the program's edge may change. A run allocates millions of long-lived objects (records,
    accounts, slot layouts, messages) and creates no reference cycles worth collecting; left
    on, the collector rescans the whole growing heap again and again, which costs more than
    building the lanes themselves at a million records. Everything else is still freed by
    reference counting."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run(args: argparse.Namespace) -> int:
    debug = bool(os.environ.get("BLINDMATCH_DEBUG"))
    try:
        if args.command == "demo":
            from .demo import run_demo

            return run_demo(out_dir=args.out_dir, as_json=args.json, quiet=args.quiet)
        if args.command == "inspect":
            return _inspect(args)
        if args.command in ("history", "report"):
            from .runs import regenerate_report, show_history

            return show_history(args) if args.command == "history" else regenerate_report(args)
        if args.command == "map":
            from .map import run_map

            return run_map(args)
        if args.command == "conformance":
            from ..conformance.command import run as run_conformance

            return run_conformance(args)
        from .party import run_offline, run_online

        return run_online(args) if args.command == "run" else run_offline(args)
    except KeyboardInterrupt:
        print("psi-run: interrupted; no output was written", file=sys.stderr)
        return EXIT_CODES["interrupted"]
    except BrokenPipeError:
        # The reader of our stdout (`| head`) went away; output files, if any, were written
        # before anything was printed. Python would complain again at exit: point stdout at
        # /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        print("psi-run: standard output was closed before everything was printed", file=sys.stderr)
        return EXIT_CODES["internal"]
    except BlindmatchError as exc:
        from .report import for_terminal  # error texts can quote the partner's names

        print(f"psi-run: {classify(exc)[0]}: {for_terminal(str(exc))}", file=sys.stderr)
        return exit_code_for(exc)
    except Exception as exc:  # a bug: say so plainly, the details only on request
        if debug:
            raise
        print(
            f"psi-run: internal error ({type(exc).__name__}); nothing was written. "
            f"Run again with BLINDMATCH_DEBUG=1 for details and please report it.",
            file=sys.stderr,
        )
        return EXIT_CODES["internal"]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _inspect(args: argparse.Namespace) -> int:
    from ..accounts.policy import load_policy
    from ..accounts.prepare import inspect_sources

    policy = load_policy(args.policy) if args.policy else None
    report = inspect_sources(list(args.files), policy, allow_short_rows=args.allow_short_rows)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.render_text())
    return EXIT_CODES["ok"]


if __name__ == "__main__":
    raise SystemExit(main())
