"""The architecture as the code must keep it: a sans-I/O core, and a deliberate public API."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
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
     "blindmatch.errors", "blindmatch.accounts.outputs", "blindmatch.parallel",
     "blindmatch.io", "blindmatch.io.atomic", "blindmatch.io.writers", "blindmatch.workflow",
     "blindmatch.driver", "blindmatch.conformance"],
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


def test_a_tcp_party_starts_without_the_modules_it_does_not_use() -> None:
    """psi-run over TCP must not pay at start-up for other transports, TLS, webhooks or
    pools: the package facades import lazily (blindmatch._lazy)."""
    code = (
        "import sys\n"
        "import blindmatch.cli.main, blindmatch.cli.party, blindmatch.transport.tcp\n"
        "import blindmatch.crypto.native, blindmatch.accounts.prepare\n"
        "heavy = ('asyncio', 'cryptography.x509', 'urllib.request', 'fsspec', 'wormhole',\n"
        "         'twisted', 'concurrent.futures', 'multiprocessing')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_lazy_names_resolve_once_and_unknown_names_fail_clearly() -> None:
    import blindmatch.driver as driver

    assert "run_blocking" in dir(driver)
    first = driver.run_blocking
    assert driver.__dict__["run_blocking"] is first  # cached in the module after first use
    with pytest.raises(AttributeError, match="blindmatch.driver.*no_such_name"):
        driver.no_such_name  # noqa: B018


def test_every_error_has_one_root() -> None:
    import blindmatch.errors as errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.BlindmatchError)


# -- layers ------------------------------------------------------------------------------------

#: Which blindmatch packages each package may import: arrows point down only (cli at the top,
#: errors at the bottom), so no change in a lower layer can need a higher one.
ALLOWED_IMPORTS = {
    "errors": set(),
    "_lazy": set(),
    "crypto": {"errors", "_lazy"},
    "protocol": {"errors", "_lazy", "crypto"},
    "driver": {"errors", "_lazy", "crypto", "protocol"},
    "parallel": {"errors", "crypto", "protocol"},
    "io": {"errors"},
    "transport": {"errors", "_lazy", "crypto", "protocol", "driver", "io"},
    "accounts": {"errors", "crypto", "protocol", "io"},
    "workflow": {"errors", "_lazy", "crypto", "protocol", "io", "accounts"},
    # the kit checks every layer that computes something a vector fixes, and runs nothing else
    "conformance": {"errors", "_lazy", "crypto", "protocol", "driver", "transport", "accounts"},
    "cli": {
        "errors",
        "crypto",
        "protocol",
        "driver",
        "parallel",
        "io",
        "transport",
        "accounts",
        "workflow",
        "conformance",
    },
}


def _layer(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _blindmatch_imports(path: Path) -> set[str]:
    """The top-level blindmatch packages a module imports (module or function level)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rel = path.relative_to(SRC.parent).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "blindmatch" and len(parts) > 1:
                    found.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                parts = [*base, *(node.module.split(".") if node.module else [])]
            else:
                parts = (node.module or "").split(".")
            if parts[0] != "blindmatch":
                continue
            if len(parts) > 1:
                found.add(parts[1])
            else:  # from blindmatch import x / from .. import x
                found.update(alias.name for alias in node.names)
    return found


ALL_MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", ALL_MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down_the_layers(path: Path) -> None:
    layer = _layer(path)
    if layer in ("__init__", "_native", "__main__"):
        return  # the public facade re-exports from every layer
    assert layer in ALLOWED_IMPORTS, f"{layer} is not placed in a layer: add it to ALLOWED_IMPORTS"
    wrong = {
        m for m in _blindmatch_imports(path) - {layer, "__version__"} if m in ALLOWED_IMPORTS
    } - ALLOWED_IMPORTS[layer]
    assert not wrong, f"{path.relative_to(SRC)} ({layer}) imports {sorted(wrong)}"


def test_one_driver_runs_sessions() -> None:
    """Only the driver feeds a session or a channel: every transport is an adapter over it."""
    callers = []
    for path in ALL_MODULES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.ClassDef) and n.name == "Session" for n in ast.walk(tree)):
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("receive_data", "receive_eof")
            ):
                callers.append(str(path.relative_to(SRC)))
                break
    # The kit's channel vector is two bare channels (no session) exchanging one DATA and
    # CLOSE each, pumped by hand exactly as protocol_spec.md §13.7 states: not a transport.
    assert callers == ["conformance/builders.py", "driver/core.py"]


def test_the_session_stays_small() -> None:
    lines = len((SRC / "protocol" / "session.py").read_text(encoding="utf-8").splitlines())
    assert lines <= 400, f"protocol/session.py has {lines} lines"


@pytest.mark.parametrize("path", ALL_MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_process_wide_side_effects_below_the_cli(path: Path) -> None:
    """The garbage collector and the root logger belong to the program that embeds us.
    (Signal handlers are set only in processes we own: the CLI's, and our pool's workers.)"""
    if _layer(path) == "cli":
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else ""
            call = f"{name}.{node.func.attr}"
            assert call not in {
                "gc.disable", "gc.enable", "gc.freeze", "logging.basicConfig",
            }, f"{path.relative_to(SRC)} calls {call}"  # fmt: skip


# -- no import cycles ----------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ALL_MODULES}


def _module_edges(path: Path) -> set[str]:
    """The blindmatch modules ``path`` imports, at module level or inside functions (and under
    ``TYPE_CHECKING``: a cycle there is one refactor away from a real one). ``from pkg import
    name`` points at ``pkg.name`` when that is a module, else at ``pkg`` itself."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = _module_name(path)
    package = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "blindmatch")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != "blindmatch":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    # ``import a.b.c`` also runs a and a.b; only edges to known modules count.
    return {m for m in found if m in MODULES and m != me}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_cycles() -> None:
    """The finder itself: a real cycle is reported, a diamond is not."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}) == []


def test_no_import_cycles() -> None:
    """No module of blindmatch imports, directly or through others, one that imports it back
    (accounts.diagnostics <-> accounts.prepare was one: it forced a function-level import)."""
    graph = {name: _module_edges(path) for name, path in MODULES.items()}
    assert graph["blindmatch.accounts.prepare"] >= {"blindmatch.accounts.diagnostics"}
    assert _cycles(graph) == []


def test_io_knows_nothing_of_the_domain() -> None:
    """io sits below accounts, transports and cli: it may use errors, nothing else of ours."""
    for name, path in MODULES.items():
        if name.startswith("blindmatch.io"):
            outside = {m for m in _module_edges(path) if not m.startswith("blindmatch.io")}
            assert outside <= {"blindmatch.errors"}, f"{name} imports {sorted(outside)}"


def test_one_atomic_write() -> None:
    """Files are replaced atomically in one place: nothing outside io calls os.replace."""
    callers = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("replace", "rename")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "os"
            ):
                callers.append(name)
                break
    assert callers == ["blindmatch.io.atomic"]


#: Third-party cryptography libraries: only the suite (crypto/) may use them, so that a
#: curve, a primitive or an engine changes in one folder.
CRYPTO_LIBRARIES = {"cryptography", "gmpy2"}


def _top_level_imports(path: Path) -> set[str]:
    """Top-level names of every absolute import in a module, module or function level."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", ALL_MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_only_the_crypto_suite_imports_crypto_libraries(path: Path) -> None:
    if _layer(path) == "crypto":
        return
    used = _top_level_imports(path) & CRYPTO_LIBRARIES
    assert not used, f"{path.relative_to(SRC)} imports {sorted(used)}: move that code to crypto/"


def test_the_crypto_import_rule_sees_function_level_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from cryptography.exceptions import InvalidTag\n    import gmpy2.mpz\n"
    )
    assert _top_level_imports(module) & CRYPTO_LIBRARIES == {"cryptography", "gmpy2"}
