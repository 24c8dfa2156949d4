"""The partners file of ``psi-run map``: who we map accounts with, and how to reach each one.

A list of ``[[partners]]`` tables::

    [[partners]]
    name = "globex"                 # directory under --out-dir, key of the run history
    role = "receiver"               # our role in the session with this partner
    connect = "globex.example:7337" # exactly one way to reach it (see TRANSPORTS)
    code_env = "GLOBEX_CODE"        # optional: the variable holding the pre-agreed code
    policy = "globex-policy.toml"   # optional: replaces the base policy for this partner

Everything is checked before any session starts, and every problem found is reported at once,
each naming the file and line, so a typo in the fortieth partner does not surface after
thirty-nine sessions ran. Ways to reach a partner are a table (:data:`TRANSPORTS`): a new one
(a relay, a mailbox) is one entry that parses its value, and the map runner one function.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "MAX_PARTNERS",
    "TRANSPORTS",
    "PartnerSpec",
    "load_partners",
    "parse_address",
    "partner_name_problem",
]

#: A partners file is a short list; thousands of sessions at once is no longer a map.
MAX_PARTNERS = 256
MAX_FILE_BYTES = 1024 * 1024
#: Names become directories and history keys: portable file names, nothing to escape.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_RESERVED = {"con", "prn", "aux", "nul", "index.html", "map-summary.json"}


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) as a (host, port) pair; ValueError says why not."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


#: How each way of reaching a partner parses its value, and which role it implies (None: any).
TRANSPORTS: Mapping[str, tuple[Callable[[str], Any], str | None]] = {
    "listen": (parse_address, "sender"),
    "connect": (parse_address, "receiver"),
}
_KEYS = ("name", "role", "policy", "code_env", *TRANSPORTS)
#: Ways announced in the issue but not built yet: a clearer error than "unknown key".
_LATER = ("wormhole", "mailbox")


def partner_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a partner (its out-dir and history key), or None."""
    if not _NAME.match(name) or name.lower() in _RESERVED or name.endswith("."):
        return (
            f"partner name {name!r} must be 1-64 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit (it names the partner's output directory)"
        )
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerSpec:
    """One partner of a map, as checked from the file."""

    name: str
    role: str
    #: the key of :data:`TRANSPORTS` and its parsed value, e.g. ("connect", ("host", 7337))
    transport: str
    address: Any
    #: replaces the base policy for this partner (resolved against the partners file)
    policy: Path | None = None
    code_env: str | None = None
    #: where the table starts in the file, for later messages
    line: int = 0

    def where(self, file: Path) -> str:
        return f"{file}, line {self.line} (partner {self.name!r})"


def _key_lines(text: str) -> list[tuple[int, dict[str, int]]]:
    """For each ``[[partners]]`` table: its header line and the line of each key in it.

    tomllib keeps no positions, so this light scan finds them for error messages only; the
    values themselves always come from tomllib.
    """
    tables: list[tuple[int, dict[str, int]]] = []
    key = re.compile(r"""^\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=""")
    header = re.compile(r"^\s*\[\[\s*partners\s*\]\]")
    current: dict[str, int] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if header.match(line):
            current = {}
            tables.append((number, current))
        elif line.lstrip().startswith("["):
            current = None  # some other table: keys below are not a partner's
        elif current is not None and (m := key.match(line)):
            name = next(g for g in m.groups() if g is not None)
            current.setdefault(name, number)
    return tables


def load_partners(path: Path) -> list[PartnerSpec]:
    """Read and check a partners file; raises :class:`UsageError` listing every problem."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"--partners {path}: file not found") from None
    except IsADirectoryError:
        raise UsageError(f"--partners {path}: is a directory, not a partners file") from None
    except OSError as exc:
        raise UsageError(f"--partners {path}: cannot read it: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise UsageError(f"--partners {path}: larger than 1 MiB, not a partners file")
    try:
        text = raw.decode("utf-8-sig")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise UsageError(f"{path}: a partners file must be UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    problems: list[str] = []
    for extra in data:
        if extra != "partners":
            problems.append(f"{path}: unknown top-level key {extra!r} (expected [[partners]])")
    tables = data.get("partners")
    if not isinstance(tables, list) or not tables:
        problems.append(f"{path}: no [[partners]] tables: list at least one partner")
        tables = []
    if len(tables) > MAX_PARTNERS:
        problems.append(f"{path}: {len(tables)} partners, at most {MAX_PARTNERS} per map")
    partner_lines = _key_lines(text)
    specs: list[PartnerSpec] = []
    for index, table in enumerate(tables):
        header, lines = partner_lines[index] if index < len(partner_lines) else (0, {})
        spec = _check_table(path, index, table, header, lines, problems)
        if spec is not None:
            specs.append(spec)
    seen: dict[str, PartnerSpec] = {}
    bound: dict[Any, PartnerSpec] = {}
    for spec in specs:
        first = seen.setdefault(spec.name.lower(), spec)
        if first is not spec:
            problems.append(
                f"{path}, line {spec.line}: partner name {spec.name!r} is used twice (first at "
                f"line {first.line}); names must differ, ignoring case"
            )
        if spec.transport == "listen":
            other = bound.setdefault(spec.address, spec)
            if other is not spec and spec.address[1] != 0:
                problems.append(
                    f"{path}, line {spec.line}: partner {spec.name!r} listens on the same "
                    f"address as {other.name!r} (line {other.line})"
                )
    if problems:
        if len(problems) == 1:
            raise UsageError(problems[0])
        raise UsageError(f"{len(problems)} problems in the partners file:\n  " +
                         "\n  ".join(problems))  # fmt: skip
    return specs


def _check_table(
    path: Path,
    index: int,
    table: object,
    header: int,
    lines: dict[str, int],
    problems: list[str],
) -> PartnerSpec | None:
    def at(key: str | None = None) -> str:
        line = lines.get(key, header) if key else header
        return f"{path}, line {line}" if line else f"{path}, partner #{index + 1}"

    if not isinstance(table, dict):
        problems.append(f"{at()}: each partner must be a [[partners]] table")
        return None
    before = len(problems)
    for key in table:
        if key in _LATER:
            problems.append(
                f"{at(key)}: {key!r} is not supported by this version of blindmatch yet; "
                f"use one of: {', '.join(TRANSPORTS)}"
            )
        elif key not in _KEYS:
            problems.append(f"{at(key)}: unknown key {key!r} (known: {', '.join(_KEYS)})")
    strings: dict[str, str] = {}
    for key in ("name", "role", "policy", "code_env", *TRANSPORTS):
        if key in table:
            value = table[key]
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{at(key)}: {key!r} must be a non-empty string")
            else:
                strings[key] = value
    name = strings.get("name")
    if "name" not in table:
        problems.append(f"{at()}: partner #{index + 1} has no 'name'")
    elif name is not None and (why := partner_name_problem(name)):
        problems.append(f"{at('name')}: {why}")
    role = strings.get("role")
    if "role" not in table:
        problems.append(f"{at()}: partner {name or index + 1!r} has no 'role' (sender or receiver)")
    elif role is not None and role not in ("sender", "receiver"):
        problems.append(f"{at('role')}: role must be 'sender' or 'receiver', not {role!r}")
    ways = [k for k in (*TRANSPORTS, *_LATER) if k in table]
    if not ways:
        problems.append(
            f"{at()}: partner {name or index + 1!r} needs exactly one of {', '.join(TRANSPORTS)}"
        )
    elif len(ways) > 1:
        problems.append(f"{at(ways[1])}: give exactly one of {', '.join(ways)}, not several")
    transport = ways[0] if len(ways) == 1 and ways[0] in TRANSPORTS else None
    address: Any = None
    if transport is not None and transport in strings:
        parse, implied = TRANSPORTS[transport]
        try:
            address = parse(strings[transport])
        except ValueError as exc:
            problems.append(f"{at(transport)}: {transport}: {exc}")
        if implied is not None and role is not None and role != implied:
            problems.append(
                f"{at(transport)}: a {role} cannot {transport}: with {transport!r} our role is "
                f"{implied!r} (the sender listens, the receiver connects)"
            )
    code_env = strings.get("code_env")
    if code_env is not None and not _ENV.match(code_env):
        problems.append(f"{at('code_env')}: code_env {code_env!r} is not a variable name")
    policy = strings.get("policy")
    policy_path = (path.parent / policy) if policy is not None else None
    if len(problems) > before or name is None or role is None or transport is None:
        return None
    return PartnerSpec(
        name=name,
        role=role,
        transport=transport,
        address=address,
        policy=policy_path,
        code_env=code_env,
        line=header,
    )
