"""The partners file of ``psi-run map``: who we map accounts with, and how to reach each one.

A list of ``[[partners]]`` tables::

    [[partners]]
    name = "globex"                 # directory under --out-dir, key of the run history
    role = "receiver"               # our role in the session with this partner
    connect = "globex.example:7337" # exactly one way to reach it (see TRANSPORTS)
    code_env = "GLOBEX_CODE"        # optional: the variable holding the pre-agreed code
    policy = "globex-policy.toml"   # optional: replaces the base policy for this partner

Each way of reaching a partner takes the options the two-party command takes for it, as keys
of the same table: ``listen``/``connect`` take ``tls_cert``, ``tls_key``, ``tls_ca`` and
``tls_pin`` (``--tls-*``); ``wormhole`` (``true`` for the public servers, or the mailbox
server's URL, ``--wormhole-server``) takes ``wormhole_transit`` and ``wormhole_relay_only``;
``mailbox`` (a folder or fsspec URL, ``offline --mailbox``) takes ``mailbox_options``
(``--mailbox-option``), ``mailbox_poll`` (``--poll``) and ``state`` (``--state``). Any
partner may set ``timeout`` (seconds, instead of ``--timeout``).

Everything in the file is checked before any session starts, and every problem found is
reported at once, each naming the file, the line, the partner (its number and name) and the
field, so a typo in the fortieth partner does not surface after thirty-nine sessions ran. What
needs the transports themselves (certificate files, pin syntax, a storage backend) is checked
by the map command right after, also before any session. Ways to reach a partner are a table
(:data:`TRANSPORTS`): a new one is one entry here and one runner in the map command.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "MAX_PARTNERS",
    "TRANSPORTS",
    "MailboxSettings",
    "PartnerSpec",
    "TlsSettings",
    "Way",
    "WormholeSettings",
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
#: magic-wormhole's transit hint syntax (``tcp:HOST:PORT``, IPv6 in brackets, a priority).
_TRANSIT = re.compile(r"^tcp:(\[[0-9A-Fa-f:.]+\]|[^:\[\]\s]+):(\d{1,5})(:priority=[0-9.]+)?$")


def parse_address(text: object) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) as a (host, port) pair; ValueError says why not."""
    if not isinstance(text, str):
        raise ValueError(f"expected HOST:PORT as a string, got {_kind(text)}")
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _wormhole_server(value: object) -> str | None:
    """``true`` (None: the public mailbox server) or a ``ws://``/``wss://`` URL."""
    if value is True:
        return None
    if not isinstance(value, str):
        raise ValueError(
            f"expected true (the public servers) or the mailbox server's URL, got {_kind(value)}"
        )
    if not re.match(r"^wss?://[^/\s]+", value):
        # not echoed: a URL can carry a password
        raise ValueError("expected a ws:// or wss:// URL of a wormhole mailbox server")
    return value


def _mailbox_url(value: object) -> str:
    """A folder path or an fsspec URL (``sftp://``, ``s3://``, ...)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a folder or a storage URL as a string, got {_kind(value)}")
    return value


@dataclass(frozen=True, slots=True)
class Way:
    """One way of reaching a partner: how its value parses, the role it implies (None: any),
    and the option keys that belong to it."""

    parse: Callable[[object], Any]
    role: str | None
    options: tuple[str, ...]
    #: whether the partner may authenticate by TLS certificates instead of a pairing code
    tls: bool = False


_TLS_KEYS: Final = ("tls_cert", "tls_key", "tls_ca", "tls_pin")
#: How each way of reaching a partner parses its value, which role it implies and its options.
TRANSPORTS: Mapping[str, Way] = {
    "listen": Way(parse_address, "sender", _TLS_KEYS, tls=True),
    "connect": Way(parse_address, "receiver", _TLS_KEYS, tls=True),
    "wormhole": Way(_wormhole_server, None, ("wormhole_transit", "wormhole_relay_only")),
    "mailbox": Way(_mailbox_url, None, ("mailbox_options", "mailbox_poll", "state")),
}
_COMMON: Final = ("name", "role", "policy", "code_env", "timeout")
_OPTIONS: Final = tuple(dict.fromkeys(k for way in TRANSPORTS.values() for k in way.options))
_KEYS: Final = tuple(dict.fromkeys((*_COMMON, *TRANSPORTS, *_OPTIONS)))


def partner_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a partner (its out-dir and history key), or None."""
    if not _NAME.match(name) or name.lower() in _RESERVED or name.endswith("."):
        return (
            f"partner name {name!r} must be 1-64 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit (it names the partner's output directory)"
        )
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsSettings:
    """Mutual TLS with this partner, as ``--tls-cert/--tls-key/--tls-ca/--tls-pin`` give it
    (paths resolved against the partners file; pins as written, checked by the map command)."""

    cert: Path
    key: Path
    ca: Path
    pins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class WormholeSettings:
    """Meeting this partner through magic-wormhole, as ``--wormhole-server``,
    ``--wormhole-transit`` and ``--wormhole-relay-only`` give it (None: the public servers, as
    there)."""

    server: str | None = None
    transit: str | None = None
    relay_only: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MailboxSettings:
    """The offline run through shared storage, as ``offline --mailbox`` takes it."""

    #: a folder (resolved against the partners file) or an fsspec URL; it may carry a
    #: password, so it is never shown
    url: str = field(repr=False)
    #: fsspec storage options; may hold credentials, so never shown
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: seconds between looks into the mailbox (None: the offline command's default)
    poll: float | None = None
    #: where this side's state file goes (None: under the map's out-dir)
    state: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerSpec:
    """One partner of a map, as checked from the file."""

    name: str
    role: str
    #: the key of :data:`TRANSPORTS`
    transport: str
    #: its parsed value: (host, port) for listen/connect, a :class:`WormholeSettings` or a
    #: :class:`MailboxSettings`
    address: Any
    #: replaces the base policy for this partner (resolved against the partners file)
    policy: Path | None = None
    code_env: str | None = None
    tls: TlsSettings | None = None
    #: seconds to wait for this partner at any step (None: the command's --timeout)
    timeout: float | None = None
    #: where the table starts in the file, and its position (from 1), for later messages
    line: int = 0
    index: int = 1
    #: the line of each key in the table
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)

    def where(self, file: Path, key: str | None = None) -> str:
        """``FILE, line N (partner #I 'name'[, field 'key'])``: where a message points."""
        line = self.lines.get(key, self.line) if key else self.line
        return _where(file, line, self.index, self.name, key)


def _where(file: Path, line: int, index: int, name: str | None, key: str | None) -> str:
    who = f"partner #{index}" + (f" {name!r}" if name else "")
    if key:
        who += f", field {key!r}"
    return f"{file}, line {line} ({who})" if line else f"{file} ({who})"


def _kind(value: object) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)  # fmt: skip


def _key_lines(text: str) -> list[tuple[int, dict[str, int]]]:
    """For each ``[[partners]]`` table: its header line and the line of each key in it.

    tomllib keeps no positions, so this light scan finds them for error messages only; the
    values themselves always come from tomllib. A sub-table (``[partners.mailbox_options]``)
    counts as its key's line.
    """
    tables: list[tuple[int, dict[str, int]]] = []
    key = re.compile(r"""^\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*[.=]""")
    header = re.compile(r"^\s*\[\[\s*partners\s*\]\]")
    sub = re.compile(r"^\s*\[\s*partners\s*\.\s*([A-Za-z0-9_-]+)\s*\]")
    current: dict[str, int] | None = None
    inner = False
    for number, line in enumerate(text.splitlines(), start=1):
        if header.match(line):
            current, inner = {}, False
            tables.append((number, current))
        elif (m := sub.match(line)) and tables:
            tables[-1][1].setdefault(m.group(1), number)
            inner = True  # the keys below are the sub-table's
        elif line.lstrip().startswith("["):
            current = None  # some other table: keys below are not a partner's
        elif current is not None and not inner and (m := key.match(line)):
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
        spec = _Table(path, index + 1, header, lines, problems).check(table)
        if spec is not None:
            specs.append(spec)
    _check_across(path, specs, problems)
    if problems:
        if len(problems) == 1:
            raise UsageError(problems[0])
        raise UsageError(f"{len(problems)} problems in the partners file:\n  " +
                         "\n  ".join(problems))  # fmt: skip
    return specs


def _check_across(path: Path, specs: list[PartnerSpec], problems: list[str]) -> None:
    """What no single table shows: names, listening addresses, mailboxes and state files
    that two partners share."""
    seen: dict[str, PartnerSpec] = {}
    owners: dict[tuple[str, Any], PartnerSpec] = {}
    for spec in specs:
        first = seen.setdefault(spec.name.lower(), spec)
        if first is not spec:
            problems.append(
                f"{spec.where(path, 'name')}: partner name {spec.name!r} is used twice (first "
                f"at line {first.line}, partner #{first.index}); names must differ, ignoring case"
            )
        claims: list[tuple[str, Any, str]] = []
        if spec.transport == "listen" and spec.address[1] != 0:
            claims.append(("listen", spec.address, "listens on the same address as {}"))
        if isinstance(spec.address, MailboxSettings):
            mixed = "uses the same mailbox as {}; one folder per run, or the messages would mix"
            claims.append(("mailbox", spec.address.url.rstrip("/"), mixed))
            if spec.address.state is not None:
                claims.append(("state", spec.address.state, "keeps its state in the same file "
                               "as {}"))  # fmt: skip
        for key, value, what in claims:
            other = owners.setdefault((key, value), spec)
            if other is not spec:
                whom = f"{other.name!r} (line {other.lines.get(key, other.line)})"
                problems.append(f"{spec.where(path, key)}: {what.format(whom)}")


class _Table:
    """The checks of one ``[[partners]]`` table; each problem goes to ``problems``."""

    def __init__(
        self, path: Path, index: int, header: int, lines: dict[str, int], problems: list[str]
    ) -> None:
        self.path, self.index, self.header, self.lines = path, index, header, lines
        self.problems = problems
        self.name: str | None = None

    def at(self, key: str | None = None) -> str:
        line = self.lines.get(key, self.header) if key else self.header
        return _where(self.path, line, self.index, self.name, key)

    def bad(self, key: str | None, message: str) -> None:
        self.problems.append(f"{self.at(key)}: {message}")

    def string(self, table: Mapping[str, Any], key: str) -> str | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            self.bad(key, f"{key!r} must be a non-empty string, not {_kind(value)}")
            return None
        return value

    def seconds(self, table: Mapping[str, Any], key: str) -> float | None:
        if key not in table:
            return None
        value = table[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not value > 0
        ):
            self.bad(key, f"{key!r} must be a positive number of seconds, not {value!r}")
            return None
        return float(value)

    def check(self, table: object) -> PartnerSpec | None:
        if not isinstance(table, dict):
            self.bad(None, "each partner must be a [[partners]] table")
            return None
        before = len(self.problems)
        name = self.string(table, "name")
        if name is not None and not partner_name_problem(name):
            self.name = name
        if "name" not in table:
            self.bad(None, "no 'name' (it names the partner's output directory)")
        elif name is not None and (why := partner_name_problem(name)):
            self.bad("name", why)
        for key in table:
            if key not in _KEYS:
                self.bad(key, f"unknown key {key!r} (known: {', '.join(_KEYS)})")
        role = self.string(table, "role")
        if "role" not in table:
            self.bad(None, "no 'role' (sender or receiver)")
        elif role is not None and role not in ("sender", "receiver"):
            self.bad("role", f"role must be 'sender' or 'receiver', not {role!r}")
            role = None
        transport, address = self._transport(table, role)
        tls = self._tls(table, transport)
        code_env = self.string(table, "code_env")
        if code_env is not None and not _ENV.match(code_env):
            self.bad("code_env", f"code_env {code_env!r} is not a variable name")
        policy = self.string(table, "policy")
        timeout = self.seconds(table, "timeout")
        if len(self.problems) > before or name is None or role is None or transport is None:
            return None
        return PartnerSpec(
            name=name,
            role=role,
            transport=transport,
            address=address,
            policy=self.path.parent / policy if policy is not None else None,
            code_env=code_env,
            tls=tls,
            timeout=timeout,
            line=self.header,
            index=self.index,
            lines=dict(self.lines),
        )

    def _transport(self, table: Mapping[str, Any], role: str | None) -> tuple[str | None, Any]:
        ways = [k for k in TRANSPORTS if k in table]
        if not ways:
            self.bad(None, f"needs exactly one of {', '.join(TRANSPORTS)} (how to reach it)")
            return None, None
        if len(ways) > 1:
            self.bad(ways[1], f"give exactly one of {', '.join(ways)}, not several")
            return None, None
        transport = ways[0]
        way = TRANSPORTS[transport]
        for key in _OPTIONS:
            if key in table and key not in way.options:
                takers = [k for k, w in TRANSPORTS.items() if key in w.options]
                self.bad(key, f"{key!r} applies to {' and '.join(takers)} only, not to "
                         f"{transport}")  # fmt: skip
        try:
            value = way.parse(table[transport])
        except ValueError as exc:
            self.bad(transport, str(exc))
            return None, None
        if way.role is not None and role is not None and role != way.role:
            self.bad(transport, f"a {role} cannot {transport}: with {transport!r} our role is "
                     f"{way.role!r} (the sender listens, the receiver connects)")  # fmt: skip
        if transport == "wormhole":
            return transport, self._wormhole(table, value)
        if transport == "mailbox":
            return transport, self._mailbox(table, value)
        return transport, value

    def _wormhole(self, table: Mapping[str, Any], server: str | None) -> WormholeSettings:
        transit = self.string(table, "wormhole_transit")
        if transit is not None and not _TRANSIT.match(transit):
            self.bad("wormhole_transit",
                     f"expected the transit relay as tcp:HOST:PORT, got {transit!r}")  # fmt: skip
        relay_only = table.get("wormhole_relay_only", False)
        if not isinstance(relay_only, bool):
            self.bad("wormhole_relay_only", f"must be true or false, not {relay_only!r}")
        return WormholeSettings(server=server, transit=transit, relay_only=relay_only is True)

    def _mailbox(self, table: Mapping[str, Any], url: str) -> MailboxSettings:
        if "://" not in url:  # a folder: relative to this file, like the policy
            url = str(self.path.parent / Path(url).expanduser())
        options: dict[str, Any] = {}
        given = table.get("mailbox_options", {})
        if not isinstance(given, dict):
            self.bad("mailbox_options", "must be a table of storage options, e.g. { username "
                     '= "northwind", key_filename = "~/.ssh/id_ed25519" }')  # fmt: skip
        else:
            for key, value in given.items():
                if isinstance(value, (dict, list)) or not key.strip():
                    self.bad("mailbox_options", f"storage option {key!r} must be a single "
                             "value (text, number or true/false)")  # fmt: skip
                else:
                    options[key] = value
        poll = self.seconds(table, "mailbox_poll")
        state = self.string(table, "state")
        return MailboxSettings(
            url=url,
            options=options,
            poll=poll,
            state=self.path.parent / Path(state).expanduser() if state is not None else None,
        )

    def _tls(self, table: Mapping[str, Any], transport: str | None) -> TlsSettings | None:
        given = [k for k in _TLS_KEYS if k in table]
        if not given or transport is None or not TRANSPORTS[transport].tls:
            return None  # a tls_* key with another way was reported already
        if "code_env" in table:
            self.bad("code_env", "code_env is not used with TLS: the certificates authenticate "
                     "the partner (drop code_env, or the tls_* fields to use a code)")  # fmt: skip
        pins_value = table.get("tls_pin", [])
        pins = [pins_value] if isinstance(pins_value, str) else pins_value
        if not isinstance(pins, list) or not all(isinstance(p, str) and p for p in pins):
            self.bad("tls_pin", "must be a pin or a list of pins, each cert-sha256:<fingerprint> "
                     "or spki-sha256:<fingerprint>")  # fmt: skip
            pins = []
        paths = {k: self.string(table, k) for k in ("tls_cert", "tls_key", "tls_ca") if k in table}
        missing = [k for k in ("tls_cert", "tls_key", "tls_ca") if k not in table]
        if missing:
            self.bad(given[0], f"TLS needs all of tls_cert, tls_key and tls_ca; missing: "
                     f"{', '.join(missing)}")  # fmt: skip
            return None
        cert, key, ca = paths["tls_cert"], paths["tls_key"], paths["tls_ca"]
        if cert is None or key is None or ca is None:
            return None
        return TlsSettings(
            cert=self.path.parent / Path(cert).expanduser(),
            key=self.path.parent / Path(key).expanduser(),
            ca=self.path.parent / Path(ca).expanduser(),
            pins=tuple(pins),
        )
