"""Runs the checkers over implementations and reports per file: passed, failed, and which case.

A failing case never stops the run: each check's error is recorded with its file, its
implementation and its case id, so a report lists every difference at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import BlindmatchError
from .checks import CHECKERS, Checker, VectorSet
from .implementations import Implementation

__all__ = ["FileReport", "Report", "Result", "run_kit"]

#: How many failures of one file and implementation the text report prints.
SHOWN_FAILURES = 10


@dataclass
class Result:
    """One vector file on one implementation."""

    implementation: str
    passed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped: str | None = None

    @property
    def failed(self) -> int:
        return len(self.failures)


@dataclass
class FileReport:
    """Every implementation's result on one file."""

    checker: Checker
    results: list[Result] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.failed == 0 for r in self.results)

    @property
    def checked(self) -> bool:
        return any(r.skipped is None for r in self.results)


@dataclass
class Report:
    vectors: str
    implementations: list[str]
    files: list[FileReport]

    @property
    def ok(self) -> bool:
        """No failure, and at least one file was checked."""
        return all(f.ok for f in self.files) and any(f.checked for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "vectors": self.vectors,
            "implementations": self.implementations,
            "files": [
                {
                    "file": f.checker.file,
                    "section": f.checker.section,
                    "ok": f.ok,
                    "results": [
                        {
                            "implementation": r.implementation,
                            "passed": r.passed,
                            "failed": r.failed,
                            "skipped": r.skipped,
                            "failures": [{"case": c, "error": e} for c, e in r.failures],
                        }
                        for r in f.results
                    ],
                }
                for f in self.files
            ],
        }

    def to_text(self, *, all_failures: bool = False) -> str:
        width = max((len(f.checker.file) for f in self.files), default=0)
        lines: list[str] = []
        for f in self.files:
            status = "FAIL" if not f.ok else "ok  " if f.checked else "skip"
            parts = []
            for r in f.results:
                if r.skipped is not None:
                    parts.append(f"{r.implementation}: skipped ({r.skipped})")
                else:
                    parts.append(f"{r.implementation}: {r.passed} passed, {r.failed} failed")
            lines.append(f"{status} {f.checker.file:<{width}}  " + "; ".join(parts))
            for r in f.results:
                shown = r.failures if all_failures else r.failures[:SHOWN_FAILURES]
                for case, error in shown:
                    lines.append(f"     {f.checker.file} [{r.implementation}] {case}: {error}")
                if len(shown) < len(r.failures):
                    more = len(r.failures) - len(shown)
                    lines.append(f"     ... {more} more failures (--all-failures lists them)")
        total = sum(r.failed for f in self.files for r in f.results)
        passed = sum(r.passed for f in self.files for r in f.results)
        verdict = "CONFORMS" if self.ok else "DOES NOT CONFORM"
        lines.append(f"{verdict}: {passed} cases passed, {total} failed ({self.vectors})")
        return "\n".join(lines) + "\n"


def _run_one(checker: Checker, impl: Implementation, vectors: VectorSet) -> Result:
    result = Result(impl.name)
    with impl.active():
        try:
            doc = vectors.load(checker.file)
            for case, check in checker.run(doc, impl, vectors):
                try:
                    check()
                except (BlindmatchError, KeyError, TypeError, ValueError, IndexError) as exc:
                    result.failures.append((case, _describe(exc)))
                else:
                    result.passed += 1
        except (BlindmatchError, KeyError, TypeError, ValueError, IndexError) as exc:
            # the file itself (missing, not JSON, a top-level field absent)
            result.failures.append(("(file)", _describe(exc)))
    return result


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"malformed case: no field {exc.args[0]!r}"
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, BlindmatchError) else f"{type(exc).__name__}: {text}"


def run_kit(
    implementations: Sequence[Implementation],
    *,
    vectors: VectorSet | None = None,
    checkers: Sequence[Checker] = CHECKERS,
) -> Report:
    """Check every implementation against every file (each engine where it matters)."""
    vectors = vectors or VectorSet()
    files = []
    for checker in checkers:
        report = FileReport(checker)
        able = [i for i in implementations if checker.requires <= i.ops]
        chosen = able if checker.per_engine else able[:1]
        for impl in implementations:
            if impl in chosen:
                report.results.append(_run_one(checker, impl, vectors))
            elif impl in able:
                continue  # engine-independent: checked once, on the first
            else:
                missing = ", ".join(sorted(checker.requires - impl.ops))
                why = f"no {missing}" + (f"; checked on {chosen[0].name}" if chosen else "")
                report.results.append(Result(impl.name, skipped=why))
        files.append(report)
    return Report(str(vectors.folder), [i.name for i in implementations], files)
