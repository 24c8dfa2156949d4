"""The project's own vectors, computed: a session, a channel, a TLS binding, from their inputs.

``tools/make_*_vector.py`` call these with their fixed inputs to write the files; the kit calls
them with the inputs the files state and compares field by field. One piece of code makes a
vector and checks it, so a file cannot hold something no code computes.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from ..crypto import SUITE
from ..crypto.aead import hkdf_sha256
from ..crypto.cpace import (
    DSI,
    S_IN_BYTES,
    calculate_generator,
    derive_isk,
    generator_string,
    lv_cat,
    mac_key,
    mac_tag,
    scalar_mult,
    scalar_mult_vfy,
    transcript_ir,
)
from ..crypto.engine import CryptoEngine
from ..driver import run_pair
from ..errors import ConformanceError
from ..protocol import OverlapResult, Record, Role, Terms, seeded_rng
from ..protocol.agreement import agreement_id
from ..protocol.messages import decode_message
from ..transport import (
    TCP_CHANNEL_ID,
    PairingCode,
    RecordType,
    SecureChannel,
    Side,
    certificate_pins,
    tls_binding,
)

__all__ = [
    "channel_inputs",
    "channel_transcript",
    "records_from_json",
    "records_to_json",
    "session_inputs",
    "session_transcript",
    "tls_binding_vector",
]

SESSION_DESCRIPTION = (
    "blindmatch/2 full session; randomness per protocol_spec.md §12 from "
    "SHAKE-256('blindmatch/1 test rng' || seed); messages are frame bodies in the order sent "
    "by the reference pump (each side's own order is normative, the interleaving is not)"
)
CHANNEL_DESCRIPTION = (
    "blindmatch channel version 2 over TCP (protocol_spec.md §13): CPACE-X25519-SHA512 "
    "of draft-irtf-cfrg-cpace-21 and each side's records in the order sent. Each side's "
    "randomness is SHAKE-256('blindmatch/1 test rng' || seed) read sequentially: the "
    "16-byte hello nonce, then the 32-byte CPace scalar y. Each side queued its "
    "application data and CLOSE before the handshake."
)
TLS_DESCRIPTION = (
    "blindmatch/2 TLS channel binding: binding = 'blindmatch/2 tls-certificates' || "
    "SHA-256(server certificate DER) || SHA-256(client certificate DER); agreement_id "
    "of the session_v1 hellos (sender = TLS server) with that binding appended"
)


# -- session (protocol_spec.md §14) --------------------------------------------------------------


def records_to_json(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Records as the session vectors write them."""
    return [
        {
            "record_id": r.record_id,
            "keys": [list(k) for k in r.keys],
            "populations": sorted(r.populations),
            "fields": dict(r.fields),
        }
        for r in records
    ]


def records_from_json(items: Sequence[Mapping[str, Any]]) -> tuple[Record, ...]:
    """The inverse of :func:`records_to_json`."""
    return tuple(
        Record(
            record_id=str(item["record_id"]),
            keys=tuple((str(k[0]), str(k[1])) for k in item["keys"]),
            populations=frozenset(str(p) for p in item["populations"]),
            fields={str(k): str(v) for k, v in dict(item.get("fields", {})).items()},
        )
        for item in items
    )


def _result(result: OverlapResult) -> dict[str, Any]:
    return {
        "counts": {p: dict(c) for p, c in result.counts.items()},
        "our_sizes": dict(result.our_sizes),
        "partner_sizes": dict(result.partner_sizes),
        "matches": [
            {
                "record_id": m.record_id,
                "our_populations": list(m.our_populations),
                "partner_populations": list(m.partner_populations),
                "key_types": list(m.key_types),
                "partner_fields": [dict(f) for f in m.partner_fields],
            }
            for m in result.matches
        ],
    }


def session_transcript(
    *,
    sender_terms: Terms,
    sender_records: Sequence[Record],
    sender_seed: bytes,
    receiver_terms: Terms,
    receiver_records: Sequence[Record],
    receiver_seed: bytes,
    engine: CryptoEngine | None = None,
) -> dict[str, Any]:
    """A whole session between two seeded parties, as the session vector file holds it."""
    run = run_pair(
        sender_terms=sender_terms,
        sender_records=sender_records,
        receiver_terms=receiver_terms,
        receiver_records=receiver_records,
        sender_rng=seeded_rng(sender_seed),
        receiver_rng=seeded_rng(receiver_seed),
        engine=engine,
        record_messages=True,
    )
    hellos = {role: body for role, body in run.messages if decode_message(body).t == "hello"}
    return {
        "description": SESSION_DESCRIPTION,
        "sender": {
            "seed": sender_seed.decode(),
            "terms": sender_terms.wire_map(),
            "records": records_to_json(sender_records),
        },
        "receiver": {
            "seed": receiver_seed.decode(),
            "terms": receiver_terms.wire_map(),
            "records": records_to_json(receiver_records),
        },
        "agreement_id": agreement_id(hellos[Role.SENDER], hellos[Role.RECEIVER]).hex(),
        "messages": [
            {"from": role.value, "type": decode_message(body).t, "hex": body.hex()}
            for role, body in run.messages
        ],
        "results": {"sender": _result(run.sender), "receiver": _result(run.receiver)},
    }


def session_inputs(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`session_transcript` that a session vector states."""
    return {
        f"{role}_{what}": value
        for role in ("sender", "receiver")
        for what, value in (
            ("terms", Terms.model_validate(doc[role]["terms"])),
            ("records", records_from_json(doc[role]["records"])),
            ("seed", str(doc[role]["seed"]).encode()),
        )
    }


# -- channel (protocol_spec.md §13.7) ------------------------------------------------------------


def _split_records(wire: bytes) -> list[dict[str, str]]:
    out, at = [], 0
    while at < len(wire):
        rtype, length = struct.unpack_from(">BI", wire, at)
        out.append({"type": RecordType(rtype).name, "hex": wire[at : at + 5 + length].hex()})
        at += 5 + length
    return out


def _run_channels(
    code: PairingCode,
    seeds: Mapping[Side, bytes],
    application: Mapping[Side, bytes],
    engine: CryptoEngine | None,
) -> dict[Side, bytes]:
    """Both channels, shuttled until both CLOSE records arrived; each side's whole stream."""
    channels = {
        side: SecureChannel(
            side=side,
            code=code,
            channel_id=TCP_CHANNEL_ID,
            rng=seeded_rng(seeds[side]),
            engine=engine,
        )
        for side in Side
    }
    for side, channel in channels.items():
        channel.send(application[side])  # held until the keys exist
        channel.close()
    wire = {side: b"" for side in Side}
    i, r = channels[Side.INITIATOR], channels[Side.RESPONDER]
    for _ in range(10):
        to_r, to_i = i.data_to_send(), r.data_to_send()
        wire[Side.INITIATOR] += to_r
        wire[Side.RESPONDER] += to_i
        r.receive_data(to_r)
        i.receive_data(to_i)
    if not (i.peer_closed and r.peer_closed):
        raise ConformanceError("channel vector: the two channels did not both reach CLOSE")
    for side, channel in ((Side.INITIATOR, r), (Side.RESPONDER, i)):
        if channel.next_app_data() != application[side]:
            raise ConformanceError(f"channel vector: the {side.value}'s data did not arrive")
    return wire


def channel_transcript(
    *,
    prs: str,
    seeds: Mapping[Side, bytes],
    application: Mapping[Side, bytes],
    engine: CryptoEngine | None = None,
) -> dict[str, Any]:
    """The channel vector: every CPace intermediate from the functions of
    :mod:`blindmatch.crypto.cpace`, and the records two real channels sent.

    ``prs`` is the pairing code's 15 digits. The intermediates are computed apart from the
    channel's state; a caller compares both (the records carry the shares and tags)."""
    code = PairingCode(prs)
    map_to_curve = engine.elligator2_map if engine is not None else None
    party: dict[Side, dict[str, str]] = {}
    hellos: dict[Side, bytes] = {}
    scalars: dict[Side, bytes] = {}
    for side in Side:
        rng = seeded_rng(seeds[side])
        nonce, y = rng(16), rng(32)  # the order the channel draws them
        hellos[side] = struct.pack(">HB16s", SUITE.channel_version, 1, nonce)
        scalars[side] = y
        party[side] = {"seed": seeds[side].hex(), "nonce": nonce.hex(), "y": y.hex()}
    prs_bytes = prs.encode("ascii")
    ci = lv_cat(TCP_CHANNEL_ID, hellos[Side.INITIATOR], hellos[Side.RESPONDER])
    sid = hellos[Side.INITIATOR][-16:] + hellos[Side.RESPONDER][-16:]
    gen_str = generator_string(DSI, prs_bytes, ci, sid, S_IN_BYTES)
    if map_to_curve is None:
        g = calculate_generator(prs_bytes, ci, sid)
    else:
        g = calculate_generator(prs_bytes, ci, sid, map_to_curve=map_to_curve)
    shares = {side: scalar_mult(scalars[side], g) for side in Side}
    k = scalar_mult_vfy(scalars[Side.INITIATOR], shares[Side.RESPONDER])
    if k != scalar_mult_vfy(scalars[Side.RESPONDER], shares[Side.INITIATOR]):
        raise ConformanceError("channel vector: the two sides' K differ")
    ad = {side: side.ad for side in Side}
    transcript = transcript_ir(
        shares[Side.INITIATOR], ad[Side.INITIATOR], shares[Side.RESPONDER], ad[Side.RESPONDER]
    )
    isk = derive_isk(sid, k, transcript)
    key = mac_key(sid, isk)
    for side in Side:
        label = SUITE.channel_key_label(side.value)
        party[side] |= {
            "hello": hellos[side].hex(),
            "AD": ad[side].hex(),
            "Y": shares[side].hex(),
            "tag": mac_tag(key, shares[side], ad[side]).hex(),
            "traffic_key_info": label.decode("ascii"),
            "traffic_key": hkdf_sha256(isk, label).hex(),
            "application_data": application[side].decode("ascii"),
        }
    wire = _run_channels(code, seeds, application, engine)
    return {
        "description": CHANNEL_DESCRIPTION,
        "channel_id": TCP_CHANNEL_ID.decode("ascii"),
        "PRS": prs,
        "DSI": DSI.decode("ascii"),
        "initiator": party[Side.INITIATOR],
        "responder": party[Side.RESPONDER],
        "CI": ci.hex(),
        "sid": sid.hex(),
        "generator_string": gen_str.hex(),
        "gen_str_hash": hashlib.sha512(gen_str).digest()[:32].hex(),
        "g": g.hex(),
        "K": k.hex(),
        "transcript_ir": transcript.hex(),
        "ISK": isk.hex(),
        "mac_key": key.hex(),
        "records": {side.value: _split_records(wire[side]) for side in Side},
    }


def channel_inputs(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`channel_transcript` that a channel vector states."""
    return {
        "prs": str(doc["PRS"]),
        "seeds": {side: bytes.fromhex(doc[side.value]["seed"]) for side in Side},
        "application": {
            side: str(doc[side.value]["application_data"]).encode("ascii") for side in Side
        },
    }


# -- TLS channel binding (protocol_spec.md §13.1) ------------------------------------------------


def tls_binding_vector(
    server_der: bytes, client_der: bytes, session: Mapping[str, Any]
) -> dict[str, Any]:
    """The binding vector of two DER certificates, with the hellos of a session vector."""
    binding = tls_binding(server_der, client_der)
    hellos = {
        m["from"]: bytes.fromhex(m["hex"]) for m in session["messages"] if m["type"] == "hello"
    }
    return {
        "description": TLS_DESCRIPTION,
        "server_certificate_der": server_der.hex(),
        "client_certificate_der": client_der.hex(),
        "server_pins": [str(p) for p in certificate_pins(server_der)],
        "client_pins": [str(p) for p in certificate_pins(client_der)],
        "binding": binding.hex(),
        "agreement_id": agreement_id(hellos["sender"], hellos["receiver"], binding).hex(),
    }
