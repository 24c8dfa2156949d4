"""One checker per vector file: which cases it holds and how an implementation must answer each.

A checker is a generator of ``(case id, check)`` pairs; the runner calls each check and counts
it passed, or failed with the :class:`~blindmatch.errors.ConformanceError` (or any error) it
raised. The test suite runs these same checkers, so the kit and the tests cannot disagree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..crypto import FIELD_PRIME, Scalar, validate_point
from ..crypto.cpace import (
    DSI,
    G_I,
    S_IN_BYTES,
    calculate_generator,
    derive_isk,
    generator_string,
    lv_cat,
    prepend_len,
    scalar_mult,
    scalar_mult_vfy,
    transcript_ir,
)
from ..errors import BlindmatchError, ConformanceError, CryptoError, UsageError
from ..protocol import seeded_rng
from ..transport import CPace, PairingCode, Side
from .builders import (
    channel_inputs,
    channel_transcript,
    session_inputs,
    session_transcript,
    tls_binding_vector,
)
from .implementations import Implementation

__all__ = [
    "CHECKERS",
    "VECTORS_DIR",
    "Check",
    "Checker",
    "VectorSet",
    "case_id",
    "checker_for",
]

#: The vector files shipped with blindmatch (this package's ``vectors`` folder).
VECTORS_DIR = Path(__file__).resolve().parent / "vectors"

#: What a checker yields: a case id and the check, which raises when the case fails.
Check = tuple[str, Callable[[], None]]


class VectorSet:
    """A folder of vector files, each parsed once. Errors name the file."""

    def __init__(self, folder: Path = VECTORS_DIR) -> None:
        self.folder = Path(folder)
        self._cache: dict[str, dict[str, Any]] = {}

    def load(self, name: str) -> dict[str, Any]:
        if name not in self._cache:
            path = self.folder / name
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise ConformanceError(f"{name}: no such file in {self.folder}") from None
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConformanceError(
                    f"{name}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
                ) from None
            if not isinstance(data, dict):
                raise ConformanceError(f"{name}: the top level must be a JSON object")
            self._cache[name] = data
        return self._cache[name]


def case_id(index: int, case: Mapping[str, Any]) -> str:
    """A readable, stable id for case ``index`` of a list: its own id or name if it has one."""
    if "tcId" in case:
        return f"tc{case['tcId']}"
    if "name" in case:
        return str(case["name"]).replace(" ", "-")
    if "msg" in case:
        msg = str(case["msg"])
        label = msg if len(msg) <= 16 else f"{msg[:5]}..{len(msg)}"
        suffix = f"-{case['len_in_bytes']}" if "len_in_bytes" in case else ""
        return f"{index}:{label or 'empty'}{suffix}"
    if "key_type" in case:
        raw = str(case.get("raw"))
        raw = raw if len(raw) <= 40 else raw[:37] + "..."
        return f"#{index} {case['key_type']} {raw!r}"
    return f"#{index}"


def _expect(what: str, got: object, want: object) -> None:
    if got != want:
        raise ConformanceError(f"{what}: got {got!r}, expected {want!r}")


def _hex(data: str) -> bytes:
    try:
        return bytes.fromhex(data)
    except (TypeError, ValueError):
        raise ConformanceError(f"not hexadecimal: {str(data)[:40]!r}") from None


def _le(value: int) -> str:
    return value.to_bytes(32, "little").hex()


# -- normalization (protocol_spec.md §15) ----------------------------------------------------


def check_normalization(
    doc: Mapping[str, Any], impl: Implementation, _: VectorSet
) -> Iterator[Check]:
    """Each cell under the file's ``profile``: key and further keys, or the reason; then, if
    the file has ``record`` cases and the implementation reads a record's keys together, each
    record's keys."""
    profile = str(doc["profile"])
    for i, case in enumerate(doc["vectors"]):

        def check(case: Mapping[str, Any] = case) -> None:
            got = impl.normalize(
                case["key_type"],
                case["raw"],
                region=case.get("region"),
                gmail_rules=bool(case.get("gmail_rules", False)),
                profile=profile,
            )
            if "key" in case:
                _expect("key", got.key if got.key is not None else f"<{got.reason}>", case["key"])
                _expect("more", list(got.more), list(case.get("more", [])))
            else:
                _expect("reason", got.reason if got.key is None else got.key, case["reason"])

        yield case_id(i, case), check
    if "record_keys" not in impl.ops:
        return
    for i, case in enumerate(doc.get("record", [])):

        def check_record(case: Mapping[str, Any] = case) -> None:
            keys = [(str(t), str(v)) for t, v in case["keys"]]
            got = [list(k) for k in impl.record_keys(keys, profile)]
            _expect("record", got, case["record"])

        yield f"record#{i}", check_record


# -- RFC 9380 ----------------------------------------------------------------------------------


def check_expand_message_xmd(
    doc: Mapping[str, Any], impl: Implementation, _: VectorSet
) -> Iterator[Check]:
    dst = str(doc["dst"]).encode()
    for i, case in enumerate(doc["vectors"]):

        def check(case: Mapping[str, Any] = case) -> None:
            out = impl.expand_message_xmd(case["msg"].encode(), dst, case["len_in_bytes"])
            _expect("uniform_bytes", out.hex(), case["uniform_bytes"])

        yield case_id(i, case), check


def check_hash_to_curve(
    doc: Mapping[str, Any], impl: Implementation, _: VectorSet
) -> Iterator[Check]:
    """u0 and u1, Q0 and Q1 (x by the constant-time map, x and y by the affine one where the
    implementation has it), and P's u-coordinate."""
    dst = str(doc["dst"]).encode()
    for i, case in enumerate(doc["vectors"]):

        def check(case: Mapping[str, Any] = case) -> None:
            msg = case["msg"].encode()
            us = [int(h, 16) for h in case["u"]]
            if "hash_to_field" in impl.ops:
                _expect("u", [_le(u) for u in impl.hash_to_field(msg, dst)], [_le(u) for u in us])
            for u, name in zip(us, ("Q0", "Q1"), strict=True):
                want = (int(case[name]["x"], 16), int(case[name]["y"], 16))
                if "map_to_curve" in impl.ops:
                    _expect(f"{name} (x, y)", impl.map_to_curve(u), want)
                if "elligator2_map" in impl.ops:
                    x = impl.elligator2_map(u.to_bytes(32, "little"))
                    _expect(f"{name}.x", x.hex(), _le(want[0]))
            _expect("P.x", impl.hash_to_curve(msg, dst).hex(), _le(int(case["P"]["x"], 16)))

        yield case_id(i, case), check


# -- RFC 7748 and Wycheproof -------------------------------------------------------------------


def check_x25519_rfc7748(
    doc: Mapping[str, Any], impl: Implementation, _: VectorSet
) -> Iterator[Check]:
    for i, case in enumerate(doc["vectors"]):

        def check(case: Mapping[str, Any] = case) -> None:
            out = impl.x25519(_hex(case["scalar"]), _hex(case["u"]))
            _expect("output", out.hex(), case["output"])

        yield case_id(i, case), check
    iterated = doc["iterated"]
    results: dict[str, str] = {}

    def iterate() -> None:
        k = u = _hex(iterated["start"])
        last = max(int(n) for n in iterated["after"])
        for n in range(1, last + 1):
            k, u = impl.x25519(k, u), k
            if str(n) in iterated["after"]:
                results[str(n)] = k.hex()

    for n in sorted(iterated["after"], key=int):

        def check_iterated(n: str = n) -> None:
            if not results:
                iterate()
            _expect(f"k after {n} iterations", results[n], iterated["after"][n])

        yield f"iterated-{n}", check_iterated


def check_x25519_wycheproof(
    doc: Mapping[str, Any], impl: Implementation, _: VectorSet
) -> Iterator[Check]:
    """The raw function's output; with blindmatch, also that the blinding path refuses the
    small-order points (all-zero shared secret) and that point validation refuses every
    encoding not below p."""
    for i, case in enumerate(doc["vectors"]):

        def check(case: Mapping[str, Any] = case) -> None:
            private, public = _hex(case["private"]), _hex(case["public"])
            _expect("shared", impl.x25519(private, public).hex(), case["shared"])
            if "blindmatch" not in impl.ops:
                return
            zero = "ZeroSharedSecret" in case["flags"]
            scalar = Scalar.from_bytes(private)
            try:
                out = impl.engine().blind(public, [scalar], message="peer points")
            except CryptoError as exc:
                if not zero or "small-order" not in str(exc):
                    raise ConformanceError(f"blinding refused the point: {exc}") from None
            else:
                if zero:
                    raise ConformanceError("blinding accepted a small-order point")
                _expect("blinded", out[0].hex(), case["shared"])
            canonical = int.from_bytes(public, "little") < FIELD_PRIME
            if "NonCanonicalPublic" in case["flags"] and canonical:
                raise ConformanceError("flagged NonCanonicalPublic but its value is below p")
            try:
                validate_point(public, message="peer points", index=0)
                accepted = True
            except CryptoError as exc:
                accepted = "canonical" not in str(exc)
            _expect("canonical encoding accepted", accepted, canonical)

        yield case_id(i, case), check


# -- CPace (draft-irtf-cfrg-cpace-21) ----------------------------------------------------------


def check_cpace(doc: Mapping[str, Any], impl: Implementation, _: VectorSet) -> Iterator[Check]:
    """Appendix A utilities, the B.1 run (the generator through the engine's Elligator 2), the
    B.1.10 points, and that the channel refuses all twelve of them (§13 deviations)."""

    def h(name: str) -> bytes:
        return _hex(doc[name])

    utils = doc["string_utils"]
    for case in utils["prepend_len"]:

        def check_prepend(case: Mapping[str, Any] = case) -> None:
            _expect("prepend_len", prepend_len(_hex(case["input"])).hex(), case["output"])

        yield f"prepend_len-{len(case['input']) // 2}", check_prepend

    def check_lv_cat() -> None:
        inputs = [_hex(x) for x in utils["lv_cat"]["inputs"]]
        _expect("lv_cat", lv_cat(*inputs).hex(), utils["lv_cat"]["output"])

    yield "lv_cat", check_lv_cat
    for n, case in enumerate(utils["transcript_ir"]):

        def check_transcript(case: Mapping[str, Any] = case) -> None:
            inputs = [_hex(x) for x in case["inputs"]]
            _expect("transcript_ir", transcript_ir(*inputs).hex(), case["output"])

        yield f"transcript_ir-{n}", check_transcript

    def check_generator() -> None:
        _expect("DSI", DSI.hex(), doc["DSI"])
        _expect("s_in_bytes", S_IN_BYTES, doc["s_in_bytes"])
        gen_str = generator_string(DSI, h("PRS"), h("CI"), h("sid"), S_IN_BYTES)
        _expect("generator_string", gen_str.hex(), doc["generator_string"])
        zpad = gen_str[len(prepend_len(DSI)) + len(prepend_len(h("PRS"))) :]
        _expect("zpad", zpad.startswith(prepend_len(bytes(doc["zpad_length"]))), True)
        digest = hashlib.sha512(gen_str).digest()[:32]
        _expect("gen_str_hash", digest.hex(), doc["gen_str_hash"])
        decoded = int.from_bytes(digest, "little") & (2**255 - 1)
        _expect("decoded_u", _le(decoded), doc["decoded_u"])
        g = calculate_generator(
            h("PRS"), h("CI"), h("sid"), map_to_curve=impl.engine().elligator2_map
        )
        _expect("g", g.hex(), doc["g"])

    yield "B.1.1-generator", check_generator

    def check_run() -> None:
        g = h("g")
        _expect("Ya", scalar_mult(h("ya"), g).hex(), doc["Ya"])
        _expect("Yb", scalar_mult(h("yb"), g).hex(), doc["Yb"])
        _expect("K (a)", scalar_mult_vfy(h("ya"), h("Yb")).hex(), doc["K"])
        _expect("K (b)", scalar_mult_vfy(h("yb"), h("Ya")).hex(), doc["K"])
        transcript = transcript_ir(h("Ya"), h("ADa"), h("Yb"), h("ADb"))
        _expect("transcript_ir", transcript.hex(), doc["transcript_ir"])
        isk_input = lv_cat(DSI + b"_ISK", h("sid"), h("K")) + transcript
        _expect("isk_input_ir", isk_input.hex(), doc["isk_input_ir"])
        _expect("ISK_IR", derive_isk(h("sid"), h("K"), transcript).hex(), doc["ISK_IR"])
        sid_output = hashlib.sha512(b"CPaceSidOutput" + transcript).digest()
        _expect("sid_output_ir", sid_output.hex(), doc["sid_output_ir"])

    yield "B.1.2-B.1.7-run", check_run
    low = doc["scalar_mult_vfy"]
    for case in low["vectors"]:

        def check_point(case: Mapping[str, Any] = case) -> None:
            u = _hex(case["u"])
            q = scalar_mult_vfy(_hex(low["s"]), u)
            _expect("q", q.hex(), case["q"])
            _expect("aborts", q == G_I, case["draft_aborts_in_message"])
            _expect("canonical", int.from_bytes(u, "little") < FIELD_PRIME, case["canonical"])
            # Our wire allows one encoding per point: the channel refuses all twelve.
            code = PairingCode.generate(seeded_rng(b"draft vectors"))
            responder = CPace(side=Side.RESPONDER, code=code, engine=impl.engine())
            try:
                responder.receive(lv_cat(u, Side.INITIATOR.ad))
            except BlindmatchError as exc:
                reason = "small-order" if case["canonical"] else "canonical"
                if reason not in str(exc):
                    raise ConformanceError(f"refused for another reason: {exc}") from None
            else:
                raise ConformanceError("the channel accepted this share")

        yield f"B.1.10-{case['name']}", check_point


# -- the project's own vectors -----------------------------------------------------------------


def _compare(prefix: str, got: Any, want: Any) -> None:
    """Equal, or an error naming the first differing path (and byte, for hex strings)."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(set(want) | set(got), key=str):
            if key not in got:
                raise ConformanceError(f"{prefix}.{key}: missing from the computed vector")
            if key not in want:
                raise ConformanceError(f"{prefix}.{key}: computed but not in the file")
            _compare(f"{prefix}.{key}", got[key], want[key])
    elif isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            raise ConformanceError(f"{prefix}: {len(got)} items computed, {len(want)} in the file")
        for n, (g, w) in enumerate(zip(got, want, strict=True)):
            _compare(f"{prefix}[{n}]", g, w)
    elif got != want:
        if isinstance(got, str) and isinstance(want, str) and len(want) > 64:
            at = next((n for n, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
            at = min(len(got), len(want)) if at is None else at
            raise ConformanceError(
                f"{prefix}: differs from character {at} on ({len(got)} computed, "
                f"{len(want)} in the file)"
            )
        raise ConformanceError(f"{prefix}: computed {got!r}, the file has {want!r}")


def _computed_once(build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """The build, run at the first check that needs it; its error fails every such check."""
    return cache(build)


def check_session(doc: Mapping[str, Any], impl: Implementation, _: VectorSet) -> Iterator[Check]:
    """Re-runs the session from the file's seeds, terms and records on the engine; one case
    per message, the agreement id, and each party's result."""
    fresh = _computed_once(lambda: session_transcript(**session_inputs(doc), engine=impl.engine()))

    def check_inputs() -> None:
        for role in ("sender", "receiver"):
            _compare(role, fresh()[role], doc[role])

    yield "inputs", check_inputs
    for n, message in enumerate(doc["messages"]):

        def check_message(n: int = n) -> None:
            got = fresh()["messages"]
            if n >= len(got):
                raise ConformanceError(f"the session sent only {len(got)} messages")
            _compare("message", got[n], doc["messages"][n])

        yield f"message-{n}-{message.get('from')}-{message.get('type')}", check_message

    def check_count() -> None:
        _expect("messages", len(fresh()["messages"]), len(doc["messages"]))

    yield "message-count", check_count

    def check_agreement() -> None:
        _expect("agreement_id", fresh()["agreement_id"], doc["agreement_id"])

    yield "agreement_id", check_agreement
    for role in ("sender", "receiver"):

        def check_result(role: str = role) -> None:
            _compare(f"results.{role}", fresh()["results"][role], doc["results"][role])

        yield f"result-{role}", check_result


def check_channel(doc: Mapping[str, Any], impl: Implementation, _: VectorSet) -> Iterator[Check]:
    """Re-runs both channels from the file's code and seeds; every intermediate and record."""
    fresh = _computed_once(lambda: channel_transcript(**channel_inputs(doc), engine=impl.engine()))
    for key in doc:
        if key == "records":
            continue

        def check_field(key: str = key) -> None:
            _compare(key, fresh().get(key), doc[key])

        yield key, check_field
    for side in ("initiator", "responder"):
        for n, record in enumerate(doc["records"][side]):

            def check_record(side: str = side, n: int = n) -> None:
                got = fresh()["records"][side]
                if n >= len(got):
                    raise ConformanceError(f"the {side} sent only {len(got)} records")
                _compare(f"records.{side}[{n}]", got[n], doc["records"][side][n])

            yield f"records.{side}[{n}]-{record.get('type')}", check_record

        def check_count(side: str = side) -> None:
            _expect(f"{side} records", len(fresh()["records"][side]), len(doc["records"][side]))

        yield f"records.{side}-count", check_count


def check_tls_binding(
    doc: Mapping[str, Any], impl: Implementation, vectors: VectorSet
) -> Iterator[Check]:
    """The binding, pins and agreement id from the file's two certificates and the hellos of
    ``session_v1.json`` in the same folder."""
    fresh = _computed_once(
        lambda: tls_binding_vector(
            _hex(doc["server_certificate_der"]),
            _hex(doc["client_certificate_der"]),
            vectors.load("session_v1.json"),
        )
    )
    for key in doc:

        def check(key: str = key) -> None:
            _compare(key, fresh().get(key), doc[key])

        yield key, check


# -- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checker:
    """How one vector file is checked.

    ``requires``: operations an implementation must have for the file to be checked at all.
    ``per_engine``: whether each engine is checked (else the first one that qualifies).
    """

    file: str
    section: str
    checks: str
    requires: frozenset[str]
    per_engine: bool
    run: Callable[[Mapping[str, Any], Implementation, VectorSet], Iterator[Check]]

    @property
    def name(self) -> str:
        return self.file.removesuffix(".json")


def _ops(*names: str) -> frozenset[str]:
    return frozenset(names)


CHECKERS: tuple[Checker, ...] = (
    Checker(
        "normalization_bm-norm-1.json", "§15",
        "bm-norm/1: raw CRM cell -> normalized key, or the reason there is none",
        _ops("normalize"), False, check_normalization,
    ),
    Checker(
        "normalization_bm-norm-2.json", "§15.9-§15.16",
        "bm-norm/2: raw cell -> key and further keys, or the reason; a record's keys together",
        _ops("normalize"), False, check_normalization,
    ),
    Checker(
        "expand_message_xmd_sha512.json", "§2 (RFC 9380 K.3)",
        "expand_message_xmd with SHA-512",
        _ops("expand_message_xmd"), False, check_expand_message_xmd,
    ),
    Checker(
        "h2c_curve25519_XMD_SHA-512_ELL2_RO.json", "§2 (RFC 9380 J.4.1)",
        "hash_to_field, Elligator 2 and hash_to_curve for curve25519_XMD:SHA-512_ELL2_RO_",
        _ops("hash_to_curve"), True, check_hash_to_curve,
    ),
    Checker(
        "x25519_rfc7748.json", "§2 (RFC 7748 §5.2)",
        "X25519, single and iterated 1 and 1,000 times",
        _ops("x25519"), True, check_x25519_rfc7748,
    ),
    Checker(
        "x25519_wycheproof.json", "§2, §6 (Wycheproof)",
        "X25519 on edge cases; small-order points refused, one encoding per point",
        _ops("x25519"), True, check_x25519_wycheproof,
    ),
    Checker(
        "cpace_x25519_sha512.json", "§13.3 (draft-irtf-cfrg-cpace-21 A, B.1)",
        "CPACE-X25519-SHA512 utilities, generator, shares, ISK, low-order points",
        _ops("blindmatch"), True, check_cpace,
    ),
    Checker(
        "channel_v2.json", "§13.7",
        "the channel under fixed randomness: CPace intermediates, keys and every record",
        _ops("blindmatch"), True, check_channel,
    ),
    Checker(
        "session_v1.json", "§14",
        "a full session: every message, the agreement id, both results",
        _ops("blindmatch"), True, check_session,
    ),
    Checker(
        "session_v1_wide.json", "§14",
        "a full session covering sealing both ways, wide masks, dummies, custom keys",
        _ops("blindmatch"), True, check_session,
    ),
    Checker(
        "session_v1_conflicts.json", "§5.8, §14",
        "a full session under the conflicting-names rule (refuse_conflicts): flavoured name keys",
        _ops("blindmatch"), True, check_session,
    ),
    Checker(
        "tls_binding_v1.json", "§13.1 (TLS mode)",
        "TLS channel binding, certificate pins and the bound agreement id",
        _ops("blindmatch"), False, check_tls_binding,
    ),
)  # fmt: skip


def checker_for(name: str) -> Checker:
    """The checker of a file, by file name or name without ``.json``."""
    for checker in CHECKERS:
        if name in (checker.file, checker.name):
            return checker
    known = ", ".join(c.name for c in CHECKERS)
    raise UsageError(f"no vector file {name!r} in the kit (known: {known})")
