"""The kit's command line: ``python -m blindmatch.conformance`` and ``psi-run conformance``.

Both take the same arguments (:func:`add_arguments`) and run :func:`run`; the exit code is 0
when every checked file passed, :data:`EXIT_NONCONFORMANT` when any case failed (or nothing
could be checked), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ..errors import BlindmatchError, UsageError

__all__ = ["EXIT_NONCONFORMANT", "add_arguments", "build_parser", "main", "run"]

#: A case failed, or no file could be checked.
EXIT_NONCONFORMANT = 10
EXIT_USAGE = 2

DESCRIPTION = (
    "Check an implementation of the blindmatch protocol against the published vector files: "
    "blindmatch itself on every engine this machine has (python and the C engine on each CPU "
    "path), or another program over the JSON-lines protocol of the vectors README."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vectors", type=Path, metavar="DIR", default=None,
        help="a folder holding the vector files (default: the copy inside the blindmatch "
        "package, blindmatch/conformance/vectors)",
    )  # fmt: skip
    parser.add_argument(
        "--only", action="append", metavar="NAME", default=None,
        help="check only this file (name with or without .json; repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--engine", metavar="ENGINE", default=None,
        help="only this blindmatch engine: python, native, or native-<cpu path>",
    )  # fmt: skip
    parser.add_argument(
        "--external", metavar="COMMAND", default=None,
        help="check this program instead of blindmatch (a command line, split as the shell "
        "would; it speaks the JSON-lines protocol of the vectors README)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=30.0,
        help="seconds to wait for each answer of --external (default 30)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--list", action="store_true", help="list the vector files and exit")
    parser.add_argument(
        "--all-failures", action="store_true", help="print every failing case, not the first 10"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m blindmatch.conformance", description=DESCRIPTION
    )
    add_arguments(parser)
    return parser


def _list(out: TextIO, as_json: bool) -> None:
    from .checks import CHECKERS

    rows = [
        {
            "file": c.file,
            "section": c.section,
            "checks": c.checks,
            "requires": sorted(c.requires),
            "per_engine": c.per_engine,
        }
        for c in CHECKERS
    ]
    if as_json:
        json.dump(rows, out, indent=1)
        out.write("\n")
        return
    width = max(len(c.file) for c in CHECKERS)
    for row in rows:
        out.write(f"{row['file']:<{width}}  {row['section']:<40}  {row['checks']}\n")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the kit as ``args`` say; print the report to ``out`` (stdout). Raises
    :class:`~blindmatch.errors.BlindmatchError` when it cannot start (bad folder, name, engine,
    or an external program that does not answer its hello)."""
    # imported here: psi-run builds this parser on every start, the checks need every layer
    from .checks import CHECKERS, VECTORS_DIR, VectorSet, checker_for
    from .external import ExternalImplementation
    from .implementations import Implementation, blindmatch_engines
    from .runner import run_kit

    out = out or sys.stdout
    if args.list:
        _list(out, args.json)
        return 0
    checkers = [checker_for(name) for name in args.only] if args.only else list(CHECKERS)
    folder = args.vectors or VECTORS_DIR
    if not folder.is_dir():
        raise UsageError(f"--vectors {folder}: not a directory")
    implementations: list[Implementation]
    if args.external is not None:
        if args.engine is not None:
            raise UsageError("--engine applies to blindmatch, not to --external")
        try:
            command = shlex.split(args.external)
        except ValueError as exc:
            raise UsageError(f"--external: {exc}") from None
        implementations = [ExternalImplementation(command, timeout=args.timeout)]
    else:
        implementations = list(blindmatch_engines(args.engine))
    report = run_kit(implementations, vectors=VectorSet(folder), checkers=checkers)
    if args.json:
        json.dump(report.to_json(), out, indent=1)
        out.write("\n")
    else:
        out.write(report.to_text(all_failures=args.all_failures))
    return 0 if report.ok else EXIT_NONCONFORMANT


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except BlindmatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
