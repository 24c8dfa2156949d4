"""The architecture as the code must keep it: a sans-I/O core, and a deliberate public API."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import blindmatch

SRC = Path(blindmatch.__file__).parent
#: Nothing in the protocol core or the crypto suite may reach the outside world or the clock.
FORBIDDEN = {
    "socket", "ssl", "select", "selectors", "asyncio", "time", "threading",
    "subprocess", "logging", "concurrent", "multiprocessing", "shutil", "tempfile",
}  # fmt: skip


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _calls_open(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open"
        for node in ast.walk(tree)
    )


CORE = sorted([*(SRC / "protocol").glob("*.py"), *(SRC / "crypto").glob("*.py")])


@pytest.mark.parametrize("path", CORE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_core_does_no_io(path: Path) -> None:
    assert not _imports(path) & FORBIDDEN, f"{path.name} imports {_imports(path) & FORBIDDEN}"
    assert not _calls_open(path), f"{path.name} opens files"


def test_core_files_are_all_checked() -> None:
    assert {p.name for p in CORE} >= {
        "session.py",
        "messages.py",
        "lanes.py",
        "h2c.py",
        "x25519.py",
    }


def test_public_api_is_what_we_intend() -> None:
    assert blindmatch.__all__ == [
        "BlindmatchError",
        "Disclosure",
        "Match",
        "OverlapResult",
        "PopulationTerms",
        "Record",
        "Role",
        "Session",
        "Terms",
        "__version__",
        "run_pair",
    ]


@pytest.mark.parametrize(
    "module",
    ["blindmatch", "blindmatch.protocol", "blindmatch.crypto", "blindmatch.transport",
     "blindmatch.errors", "blindmatch.accounts.outputs", "blindmatch.parallel"],
)  # fmt: skip
def test_every_export_exists_and_all_is_sorted(module: str) -> None:
    """Sorted isort-style (ruff RUF022): CONSTANTS, then Classes, then functions."""
    mod = importlib.import_module(module)
    exported = list(mod.__all__)

    def order(name: str) -> tuple[int, str]:
        bare = name.strip("_")
        kind = 0 if bare.isupper() else 1 if bare[:1].isupper() else 2
        return kind, name

    assert exported == sorted(exported, key=order)
    for name in exported:
        assert hasattr(mod, name), f"{module}.{name} is exported but missing"


def test_every_error_has_one_root() -> None:
    import blindmatch.errors as errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.BlindmatchError)
