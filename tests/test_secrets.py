"""Secrets stay secret: in reprs, error texts, abort reasons, logs, output files, and when
the command line itself breaks.

A session's secrets (lane scalars, phi, content keys, the shuffle seed, the CPace scalar) are
all raw output of its random stream, so with a seeded stream the tests know every secret
without reading private attributes: no 6-byte window of the first 8 KiB of the stream may
appear, in hex or raw, in anything shown or written. Keys derived from them (ISK, channel
keys) are recomputed through the public CPace API. The pairing code must not appear with or
without its dashes, and neither may the partner's raw keys or, in our outputs, the partner's
keys that did not match.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import stat
import struct
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from test_hostile_support import (
    FIELD_PRIME,
    RECEIVER_LABEL,
    SENDER_LABEL,
    Edit,
    forge_payloads,
    messages,
    new_pair,
    party_records,
    party_terms,
    pump,
    record,
    replace_element,
    replay,
    sender_stream,
    victim_and_frames,
    when,
)

from blindmatch.crypto import SUITE, Scalar, small_order_points
from blindmatch.crypto.cpace import lv_cat
from blindmatch.errors import AuthenticationError, BlindmatchError
from blindmatch.protocol import Role, Session, State, seeded_rng
from blindmatch.protocol.messages import Abort, Blinded, Message, Returned
from blindmatch.protocol.randomness import Rng
from blindmatch.transport import (
    TCP_CHANNEL_ID,
    CPace,
    OfflineParty,
    PairingCode,
    SecureChannel,
    Side,
)

CODE = PairingCode.generate(seeded_rng(b"secrets code"))
_HEX_RUN = re.compile(rb"[0-9a-f]{12,}")
OTHER_CODE = PairingCode.generate(seeded_rng(b"secrets other code"))


class Secrets:
    """Everything that must never be shown, and a checker for texts and bytes."""

    def __init__(self) -> None:
        self.windows: set[bytes] = set()
        self.strings: set[str] = set()

    def add_stream(self, seed: bytes, size: int = 8192) -> Secrets:
        stream = seeded_rng(seed)(size)
        self.windows |= {stream[i : i + 6] for i in range(len(stream) - 5)}
        return self

    def add_bytes(self, *values: bytes) -> Secrets:
        for value in values:
            self.windows |= {value[i : i + 6] for i in range(len(value) - 5)}
        return self

    def add_code(self, code: PairingCode) -> Secrets:
        shown = code.reveal()
        self.strings |= {shown, shown.replace("-", "")}
        self.strings |= {shown[i : i + 8] for i in range(len(shown) - 7)}  # any 8 characters
        return self

    def add_strings(self, values: Iterable[str]) -> Secrets:
        self.strings |= set(values)
        return self

    def leaks(self, text: str | bytes) -> list[str]:
        found = []
        blob = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
        raw = {blob[i : i + 6] for i in range(len(blob) - 5)} & self.windows
        found += [f"secret bytes {w.hex()} (raw)" for w in raw]
        for run in _HEX_RUN.findall(blob.lower()):
            hexed = {bytes.fromhex(run[i : i + 12].decode()) for i in range(0, len(run) - 11, 2)}
            hexed |= {bytes.fromhex(run[i : i + 12].decode()) for i in range(1, len(run) - 11, 2)}
            found += [f"secret bytes {w.hex()} (hex)" for w in hexed & self.windows]
        as_text = blob.decode("utf-8", "replace")
        found += [f"secret string {s!r}" for s in self.strings if s in as_text]
        return found

    def assert_clean(self, *texts: str | bytes) -> None:
        for text in texts:
            leaks = self.leaks(text)
            assert not leaks, f"{leaks} in {str(text)[:300]!r}"


def _key_strings(prefix: str, offset: int) -> set[str]:
    return {v for r in party_records(prefix, offset) for _, v in r.keys}


@functools.cache
def _session_secrets() -> Secrets:
    """Both parties' random streams (seeds from test_hostile_support.new_pair)."""
    return (
        Secrets()
        .add_stream(b"hostile sender")
        .add_stream(b"hostile receiver")
        .add_code(CODE)
        .add_code(OTHER_CODE)
    )


def test_the_secret_checker_finds_what_it_looks_for() -> None:
    secrets = _session_secrets()
    scalar = seeded_rng(b"hostile receiver")(200)[100:132]
    assert secrets.leaks(f"oops {scalar.hex()}") and secrets.leaks(scalar.hex().upper())
    assert secrets.leaks(b"raw " + scalar)
    assert secrets.leaks(f"code {CODE.reveal().replace('-', '')}")
    assert not secrets.leaks("an ordinary error text, element 3 of chunk 0")


# -- repr and str ----------------------------------------------------------------------------


def _shows(obj: object) -> list[str]:
    return [repr(obj), str(obj), f"{obj}", f"{obj!r}", repr([obj]), repr({"x": obj})]


def test_scalars_show_nothing_even_inside_containers() -> None:
    scalar = Scalar.generate_invertible(seeded_rng(b"repr scalar"))
    inverse = scalar.inverse()
    secrets = Secrets().add_bytes(scalar.to_bytes(), inverse.to_bytes())
    for text in _shows(scalar) + _shows((scalar, inverse)):
        secrets.assert_clean(text)
    with pytest.raises(TypeError):
        vars(scalar)  # __slots__: no __dict__ for a debugger or a logger to dump


def _sessions_in_every_state() -> Iterator[Session]:
    """A sender and receiver driven by hand through START .. DONE, then CLOSED,
    PARTNER_ACCEPTED and ERROR;
    each session is yielded while it is in the state being checked."""
    s, r = new_pair(auto_accept=False, start=False)
    yield s  # START
    s.start()
    r.start()
    yield s  # AWAIT_HELLO
    r.receive_data(s.data_to_send())
    s.receive_data(r.data_to_send())
    yield s  # AWAIT_DECISION
    s.accept()
    yield s  # AWAIT_ACCEPT
    r.accept()
    s.receive_data(r.data_to_send())
    yield s  # EXCHANGE
    pump(s, r)
    yield s  # DONE
    yield r
    a, b = new_pair(auto_accept=False)
    b.receive_data(a.data_to_send())
    b.reject("no")
    yield b  # CLOSED
    d, e = new_pair(auto_accept=False)
    e.receive_data(d.data_to_send())
    d.receive_data(e.data_to_send())
    e.accept()
    d.receive_data(e.data_to_send())
    yield d  # PARTNER_ACCEPTED
    _, c = new_pair()
    with pytest.raises(BlindmatchError):
        c.receive_data(b"\x00\x00\x00\x01\xc1")
    yield c  # ERROR


def test_sessions_in_every_state_show_no_secret() -> None:
    secrets = _session_secrets().add_strings(_key_strings("s", 0) | _key_strings("r", 2))
    partner_secrets = Secrets().add_stream(b"hostile sender").add_stream(b"hostile receiver")
    states = []
    for session in _sessions_in_every_state():
        states.append(session.state)
        secrets.assert_clean(*_shows(session), *_shows(session.agreement))
        while (event := session.next_event()) is not None:
            # a result lists our own matching records: then only the streams count
            (secrets if session.result is None else partner_secrets).assert_clean(repr(event))
    assert set(states) == set(State), states


def _partner_only_keys() -> set[str]:
    """Keys of the sender's records that match none of the receiver's."""
    return _key_strings("s", 0) - _key_strings("r", 2)


def test_a_result_holds_none_of_the_partner_s_unmatched_keys() -> None:
    _, r = new_pair()
    assert replay(r, record().sender) is None and r.result is not None
    partner_only = _partner_only_keys()
    assert partner_only
    shown = repr(r.result) + json.dumps([m.partner_fields for m in r.result.matches], default=dict)
    Secrets().add_strings(partner_only).add_stream(b"hostile sender").assert_clean(shown)


def _channel_pair(
    code_i: PairingCode = CODE, code_r: PairingCode = CODE
) -> tuple[SecureChannel, SecureChannel]:
    return (
        SecureChannel(
            side=Side.INITIATOR, code=code_i, channel_id=TCP_CHANNEL_ID, rng=seeded_rng(b"sec i")
        ),
        SecureChannel(
            side=Side.RESPONDER, code=code_r, channel_id=TCP_CHANNEL_ID, rng=seeded_rng(b"sec r")
        ),
    )


def _channel_secrets(code_i: PairingCode = CODE, code_r: PairingCode = CODE) -> Secrets:
    """The CPace scalars, ISKs and direction keys of _channel_pair, via the public API.

    Each channel draws its 16-byte hello nonce, then its CPace scalar, from its rng; CI and
    sid follow from both hellos (protocol_spec.md §13)."""
    secrets = Secrets().add_stream(b"sec i", 64).add_stream(b"sec r", 64)
    secrets.add_code(code_i).add_code(code_r)
    rng_i, rng_r = seeded_rng(b"sec i"), seeded_rng(b"sec r")
    nonce_i, nonce_r = rng_i(16), rng_r(16)
    hello_i, hello_r = (struct.pack(">HB16s", 2, 1, n) for n in (nonce_i, nonce_r))
    ci, sid = lv_cat(TCP_CHANNEL_ID, hello_i, hello_r), nonce_i + nonce_r
    i = CPace(side=Side.INITIATOR, code=code_i, ci=ci, sid=sid, rng=rng_i)
    r = CPace(side=Side.RESPONDER, code=code_r, ci=ci, sid=sid, rng=rng_r)
    i.receive(r.message)
    r.receive(i.message)
    for pake in (i, r):
        secrets.add_bytes(pake.isk, pake.confirmation())
        for sender in ("initiator", "responder"):
            secrets.add_bytes(pake.derive_key(SUITE.channel_key_label(sender)))
    return secrets


def test_channels_and_cpace_show_no_secret_in_any_state() -> None:
    secrets = _channel_secrets()
    a, b = _channel_pair()
    shown = _shows(a) + _shows(b)
    b.receive_data(a.data_to_send())
    a.receive_data(b.data_to_send())
    b.receive_data(a.data_to_send())
    a.receive_data(b.data_to_send())
    assert a.established and b.established
    a.send(b"hello")
    a.close()
    b.receive_data(a.data_to_send())
    shown += _shows(a) + _shows(b)
    pake = CPace(side=Side.INITIATOR, code=CODE, ci=TCP_CHANNEL_ID, rng=seeded_rng(b"sec i"))
    shown += _shows(pake) + _shows(CODE)
    secrets.assert_clean(*shown)


def test_a_wrong_code_error_shows_neither_code_nor_keys() -> None:
    secrets = _channel_secrets(CODE, OTHER_CODE)
    a, b = _channel_pair(CODE, OTHER_CODE)
    texts = []
    for _ in range(4):  # shuttle until both sides have refused the other's confirmation
        for here, there in ((b, a), (a, b)):
            data = there.data_to_send()
            try:
                if data:
                    here.receive_data(data)
            except AuthenticationError as exc:
                texts.append(str(exc))
            except BlindmatchError:
                pass  # LocalProtocolError: this side already failed
    assert len(texts) == 2 and all("pairing code does not match" in t for t in texts), texts
    secrets.assert_clean(*texts, repr(a), repr(b))


def test_an_offline_party_and_its_files_show_no_seed_or_code(tmp_path: Path) -> None:
    def make(rng: Rng) -> Session:
        return Session(
            role=Role.SENDER,
            terms=party_terms(SENDER_LABEL),
            records=party_records("s", 0),
            rng=rng,
            auto_accept=True,
        )

    party = OfflineParty(
        tmp_path / "state.json", make_session=make, code=CODE, fingerprint=b"inputs"
    )
    written = party.step()
    assert written is not None
    seed = bytes.fromhex(json.loads(party.state_path.read_text())["seed"])
    secrets = Secrets().add_bytes(seed).add_code(CODE)
    secrets.assert_clean(*_shows(party), written.read_bytes())
    assert stat.S_IMODE(written.stat().st_mode) == 0o600


# -- errors and aborts of the rejection paths ------------------------------------------------


def _bad_point(
    field: str,
    element: bytes,
    index: int,
    pick: Callable[[Message], bool],
    *,
    duplicate_of: int | None = None,
) -> Edit:
    def change(msg: Message) -> Message:
        blob: bytes = getattr(msg, field)
        if duplicate_of is not None:
            new = blob[duplicate_of * 32 : duplicate_of * 32 + 32]
        else:
            new = element
        return msg.model_copy(update={field: replace_element(blob, index, new)})

    return when(pick, change)


def _flip(field: str, stride: int) -> Edit:
    def change(msg: Message) -> Message:
        blob = bytearray(getattr(msg, field))
        for at in range(0, len(blob), stride):
            blob[at] ^= 1
        return msg.model_copy(update={field: bytes(blob)})

    return when(lambda m: isinstance(m, Blinded) and m.lane == "records", change)


REJECTIONS = {
    "non-canonical blinded point": _bad_point(
        "points", (FIELD_PRIME + 1).to_bytes(32, "little"), 2, lambda m: isinstance(m, Blinded)
    ),
    "small-order blinded point": _bad_point(
        "points", small_order_points()[2], 5, lambda m: isinstance(m, Blinded)
    ),
    "duplicate blinded point": _bad_point(
        "points", b"", 1, lambda m: isinstance(m, Blinded), duplicate_of=0
    ),
    "non-canonical oprf point": _bad_point(
        "oprf",
        (2**256 - 1).to_bytes(32, "little"),
        1,
        lambda m: isinstance(m, Returned) and bool(m.oprf),
    ),
    "payload": _flip("payloads", 144),
    "wraps": _flip("wraps", 48),
}


@pytest.mark.parametrize("name", sorted(REJECTIONS))
def test_rejection_errors_and_aborts_show_no_secret(name: str) -> None:
    secrets = _session_secrets().add_strings(_key_strings("s", 0) | _key_strings("r", 2))
    secrets.add_strings(
        {f"{p}-{k}-{i}" for p in "sr" for k in ("name", "owner") for i in range(12)}
    )
    victim, frames = victim_and_frames(edit=REJECTIONS[name])
    exc = replay(victim, frames)
    assert exc is not None
    texts = [str(exc), repr(exc), repr(victim)]
    texts += [m.reason for m in messages(victim.data_to_send()) if isinstance(m, Abort)]
    secrets.assert_clean(*texts)


def test_a_payload_revealing_undeclared_fields_is_refused_without_showing_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import struct

    import msgpack  # type: ignore[import-untyped]

    leaked = {"Salary": "secret-salary-93817", "SSN": "secret-ssn-1234"}
    body = msgpack.packb([leaked])
    plaintext = struct.pack(">I", len(body)) + body + bytes(128 - 4 - len(body))
    quiet = party_terms(RECEIVER_LABEL, reveal=False)
    receiver_frames = record(receiver_terms=quiet).receiver
    forge_payloads(monkeypatch, plaintext)
    _, victim = new_pair(receiver_terms=quiet)
    exc = replay(victim, sender_stream(receiver_frames, receiver_terms=quiet))
    assert exc is not None and "did not declare" in str(exc)
    texts = [str(exc)] + [m.reason for m in messages(victim.data_to_send()) if isinstance(m, Abort)]
    Secrets().add_strings(set(leaked) | set(leaked.values())).assert_clean(*texts)


# -- logging -------------------------------------------------------------------------------


def test_nothing_logged_during_whole_runs_holds_a_secret(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Every logger at DEBUG through a session, a channel and an offline step: whatever is
    logged (today: nothing) holds no key value, scalar, seed or code."""
    caplog.set_level(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        s, r = new_pair()
        pump(s, r)
        a, b = _channel_pair()
        b.receive_data(a.data_to_send())
        a.receive_data(b.data_to_send())
        b.receive_data(a.data_to_send())
        test_an_offline_party_and_its_files_show_no_seed_or_code(tmp_path)
        victim, frames = victim_and_frames(edit=REJECTIONS["payload"])
        replay(victim, frames)
    finally:
        root.setLevel(old_level)
    secrets = _session_secrets().add_strings(_key_strings("s", 0) | _key_strings("r", 2))
    secrets.add_strings(
        {f"{p}-{k}-{i}" for p in "sr" for k in ("name", "owner") for i in range(12)}
    )
    for rec in caplog.records:
        secrets.assert_clean(rec.getMessage(), repr(rec.args), rec.name)
    assert all(
        not r.name.startswith("blindmatch") or r.levelno < logging.WARNING for r in caplog.records
    ), [r.getMessage() for r in caplog.records]


# -- the command line ------------------------------------------------------------------------


def _write_inputs(tmp: Path) -> dict[str, Path]:
    """Two small CRMs; each has accounts the other must never learn."""
    nw = tmp / "northwind.csv"
    nw.write_text(
        "Account ID,Account Name,Website,Type,Account Owner\n"
        "001A,Acme,acme.com,Customer - Direct,Ada Secretowner\n"
        "001B,Initech,initech.io,Customer - Channel,Bo Secretowner\n"
        "001D,Hidden Gem,northwind-only-secret.de,Customer - Direct,Di Secretowner\n",
        encoding="utf-8",
    )
    gx = tmp / "globex.csv"
    gx.write_text(
        "Record ID,Company name,Company Domain Name,Lifecycle Stage,Company owner\n"
        "9001,ACME,acme.com,customer,Gus Partnerowner\n"
        "9004,Globex Secret,globex-only-secret.com,customer,Jo Partnerowner\n",
        encoding="utf-8",
    )
    policy = """label = "{label}"
[keys]
use = ["domain"]
[populations.Customers]
where = {{ {column} = {values} }}
disclosure = "records"
fields = ["{field}"]
"""
    (tmp / "nw.toml").write_text(
        policy.format(
            label="Northwind",
            column="Type",
            values='["Customer - Direct", "Customer - Channel"]',
            field="Account Owner",
        ),
        encoding="utf-8",
    )
    (tmp / "gx.toml").write_text(
        policy.format(
            label="Globex", column='"Lifecycle Stage"', values='"customer"', field="Company owner"
        ),
        encoding="utf-8",
    )
    return {"nw": nw, "gx": gx, "nw_policy": tmp / "nw.toml", "gx_policy": tmp / "gx.toml"}


def _offline_step(
    files: dict[str, Path],
    side: str,
    tmp: Path,
    incoming: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str]:
    from blindmatch.cli.main import main

    data, policy = ("nw", "nw_policy") if side == "sender" else ("gx", "gx_policy")
    rc = main(
        ["offline", "--role", side, "--input", str(files[data]), "--policy", str(files[policy]),
         "--state", str(tmp / f"{side}.state"), "--out-dir", str(tmp / f"{side}-out"),
         "--outbox", str(tmp / f"{side}-outbox"), "--code", CODE.reveal(), "--yes", "--quiet",
         *map(str, incoming)]
    )  # fmt: skip
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def test_an_offline_cli_run_keeps_code_state_and_partner_keys_private(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process, under a permissive umask: the state files are 0o600 while they exist and
    gone at the end; run.json, summary.json and every other output hold no code and none of
    the partner's unmatched keys or fields; nothing printed holds the code."""
    monkeypatch.delenv("BLINDMATCH_DEBUG", raising=False)
    old_umask = os.umask(0)
    try:
        files = _write_inputs(tmp_path)
        got: dict[str, list[Path]] = {"sender": [], "receiver": []}
        seen: set[Path] = set()
        printed = ""
        for _ in range(8):
            for side, other in (("sender", "receiver"), ("receiver", "sender")):
                out = tmp_path / f"{side}-out"
                if (out / "summary.json").exists():
                    continue
                rc, log = _offline_step(files, side, tmp_path, got[side], capsys)
                printed += log
                assert rc == 0, log
                for state in (tmp_path / f"{side}.state", tmp_path / f"{side}.state.partner"):
                    if state.exists():
                        assert stat.S_IMODE(state.stat().st_mode) == 0o600, state
                        Secrets().add_code(CODE).assert_clean(state.read_bytes())
                outbox = tmp_path / f"{side}-outbox"  # message files are not results
                for new in sorted(set(outbox.glob("*.bmx")) - seen):
                    assert stat.S_IMODE(new.stat().st_mode) == 0o600, new
                    seen.add(new)
                    got[other].append(new)
            if all((tmp_path / f"{s}-out" / "summary.json").exists() for s in got):
                break
    finally:
        os.umask(old_umask)
    for side in got:
        assert not (tmp_path / f"{side}.state").exists()
        assert not (tmp_path / f"{side}.state.partner").exists()
    assert not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.rglob(".*.tmp"))
    Secrets().add_code(CODE).assert_clean(printed)
    nw_out, gx_out = tmp_path / "sender-out", tmp_path / "receiver-out"
    for out, partner_only in (
        (nw_out, {"globex-only-secret", "Jo Partnerowner", "Globex Secret"}),
        (gx_out, {"northwind-only-secret", "Di Secretowner", "Bo Secretowner", "initech"}),
    ):
        run = json.loads((out / "run.json").read_text(encoding="utf-8"))
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        assert run["transport"] == "offline" and summary["counts"]
        for path in out.iterdir():
            if path.suffix == ".bmx":
                continue
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            Secrets().add_code(CODE).add_strings(partner_only).assert_clean(path.read_bytes())
    matches = (nw_out / "matches.csv").read_text(encoding="utf-8")
    assert "Gus Partnerowner" in matches  # the matched partner field did arrive


@pytest.mark.parametrize("failure", [RuntimeError, KeyError, MemoryError, KeyboardInterrupt])
def test_an_internal_error_prints_no_traceback_and_no_secret(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    failure: type[BaseException],
) -> None:
    """A bug deep inside a run (here: reading the inputs raises, its message full of
    secrets) is reported as an internal error, exit code 1, with neither a traceback nor the
    exception's text; Ctrl-C is exit code 130."""
    from blindmatch.accounts import prepare as prepare_module

    monkeypatch.delenv("BLINDMATCH_DEBUG", raising=False)
    files = _write_inputs(tmp_path)
    secret_text = f"boom {CODE.reveal()} northwind-only-secret.de {'ab' * 32}"

    def explode(*args: object, **kwargs: object) -> None:
        raise failure(secret_text)

    monkeypatch.setattr(prepare_module, "scan", explode)
    rc, printed = _offline_step(files, "sender", tmp_path, [], capsys)
    if failure is KeyboardInterrupt:
        assert rc == 130 and "interrupted" in printed
    else:
        assert rc == 1 and "internal error" in printed
        assert failure.__name__ in printed
    assert "Traceback" not in printed and 'File "' not in printed
    Secrets().add_code(CODE).add_strings({"northwind-only-secret", "ab" * 16, "boom"}).assert_clean(
        printed
    )
    assert not (tmp_path / "sender-out").exists()
    assert not (tmp_path / "sender.state").exists()


def test_partner_names_cannot_drive_the_terminal() -> None:
    """The partner chooses its label, population and field names; NAME_PATTERN keeps C0
    controls out, but C1 controls (8-bit CSI) and bidi overrides pass it. What psi-run
    prints from them is made printable."""
    from blindmatch.cli.party import describe_terms
    from blindmatch.cli.report import for_terminal, render_matrix
    from blindmatch.protocol import Disclosure, PartnerTerms, PopulationTerms, Terms

    evil = "Acme\u009b2J\u202egnp.exe"
    terms = Terms(
        label=evil,
        key_types=("domain",),
        populations=(PopulationTerms(name=evil, disclosure=Disclosure.RECORDS, fields=(evil,)),),
    )
    s, r = new_pair()
    pump(s, r)
    assert s.agreement is not None
    shown = describe_terms(PartnerTerms(terms=terms, agreement=s.agreement))
    assert "\u009b" not in shown and "\u202e" not in shown and "Acme?2J?gnp.exe" in shown
    assert s.result is not None
    import dataclasses

    result = dataclasses.replace(
        s.result,
        partner_label=evil,
        partner_sizes={evil: 1},
        partner_disclosure={evil: Disclosure.RECORDS},
        counts={p: {evil: 0} for p in s.result.counts},
    )
    matrix = render_matrix(result)
    assert matrix.replace("\n", "").isprintable(), repr(matrix)
    assert for_terminal("line one\nline\x1b[2J two") == "line one\nline?[2J two"
