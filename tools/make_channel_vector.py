"""Generate the channel test vector of protocol_spec.md §13 (CPace and the first frames).

Runs a TCP-mode channel between an initiator and a responder with a fixed pairing code and
seeded randomness, each sending one DATA record and CLOSE, and writes every record of each
direction, with every CPace intermediate (hellos, CI, sid, generator string, g, shares, K, ISK,
mac_key, tags, traffic keys), to ``tests/vectors/channel_v2.json`` and the same JSON into
``protocol_spec.md`` between the channel-vector markers. The intermediates are computed here
from the functions of :mod:`blindmatch.crypto.cpace`, independently of the channel's state, and
checked against the records the channel sent. ``tests/test_channel_vector.py`` re-runs it and
checks the file and the spec byte for byte.

    python tools/make_channel_vector.py          # rewrite both files
    python tools/make_channel_vector.py --check  # exit 1 if either is stale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

from blindmatch.crypto import SUITE
from blindmatch.crypto.aead import hkdf_sha256
from blindmatch.crypto.cpace import (
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
from blindmatch.protocol import seeded_rng
from blindmatch.transport import TCP_CHANNEL_ID, PairingCode, RecordType, SecureChannel, Side

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "protocol_spec.md"
FILE = ROOT / "tests" / "vectors" / "channel_v2.json"
MARKERS = ("<!-- channel-vector:begin -->", "<!-- channel-vector:end -->")

CODE_SEED = b"blindmatch-channel/2 vector code"
SEEDS = {
    Side.INITIATOR: b"blindmatch-channel/2 vector initiator",
    Side.RESPONDER: b"blindmatch-channel/2 vector responder",
}
APPLICATION = {
    Side.INITIATOR: b"first bytes from the initiator",
    Side.RESPONDER: b"first bytes from the responder",
}


def _records(wire: bytes) -> list[dict[str, str]]:
    out, at = [], 0
    while at < len(wire):
        rtype, length = struct.unpack_from(">BI", wire, at)
        out.append({"type": RecordType(rtype).name, "hex": wire[at : at + 5 + length].hex()})
        at += 5 + length
    return out


def _run() -> dict[Side, bytes]:
    """Both channels, shuttled until both CLOSE records arrived; each side's whole stream."""
    channels = {
        side: SecureChannel(
            side=side, code=_code(), channel_id=TCP_CHANNEL_ID, rng=seeded_rng(SEEDS[side])
        )
        for side in Side
    }
    for side, channel in channels.items():
        channel.send(APPLICATION[side])  # held until the keys exist
        channel.close()
    wire = {side: b"" for side in Side}
    i, r = channels[Side.INITIATOR], channels[Side.RESPONDER]
    for _ in range(10):
        to_r, to_i = i.data_to_send(), r.data_to_send()
        wire[Side.INITIATOR] += to_r
        wire[Side.RESPONDER] += to_i
        r.receive_data(to_r)
        i.receive_data(to_i)
    assert i.peer_closed and r.peer_closed
    assert i.next_app_data() == APPLICATION[Side.RESPONDER]
    assert r.next_app_data() == APPLICATION[Side.INITIATOR]
    return wire


def _code() -> PairingCode:
    return PairingCode.generate(seeded_rng(CODE_SEED))


def build() -> dict[str, Any]:
    prs = _code().secret()
    party: dict[Side, dict[str, str]] = {}
    hellos: dict[Side, bytes] = {}
    scalars: dict[Side, bytes] = {}
    for side in Side:
        rng = seeded_rng(SEEDS[side])
        nonce, y = rng(16), rng(32)  # the order the channel draws them
        hellos[side] = struct.pack(">HB16s", SUITE.channel_version, 1, nonce)
        scalars[side] = y
        party[side] = {"seed": SEEDS[side].hex(), "nonce": nonce.hex(), "y": y.hex()}
    ci = lv_cat(TCP_CHANNEL_ID, hellos[Side.INITIATOR], hellos[Side.RESPONDER])
    sid = hellos[Side.INITIATOR][-16:] + hellos[Side.RESPONDER][-16:]
    gen_str = generator_string(DSI, prs, ci, sid, S_IN_BYTES)
    g = calculate_generator(prs, ci, sid)
    shares = {side: scalar_mult(scalars[side], g) for side in Side}
    k = scalar_mult_vfy(scalars[Side.INITIATOR], shares[Side.RESPONDER])
    assert k == scalar_mult_vfy(scalars[Side.RESPONDER], shares[Side.INITIATOR])
    ad = {side: side.ad for side in Side}
    transcript = transcript_ir(
        shares[Side.INITIATOR], ad[Side.INITIATOR], shares[Side.RESPONDER], ad[Side.RESPONDER]
    )
    isk = derive_isk(sid, k, transcript)
    key = mac_key(sid, isk)
    for side in Side:
        party[side] |= {
            "hello": hellos[side].hex(),
            "AD": ad[side].hex(),
            "Y": shares[side].hex(),
            "tag": mac_tag(key, shares[side], ad[side]).hex(),
            "traffic_key_info": SUITE.channel_key_label(side.value).decode("ascii"),
            "traffic_key": hkdf_sha256(isk, SUITE.channel_key_label(side.value)).hex(),
            "application_data": APPLICATION[side].decode("ascii"),
        }
    wire = _run()
    records = {side.value: _records(wire[side]) for side in Side}
    for side in Side:  # the channel sent exactly what the formulas say
        sent = records[side.value]
        assert [r["type"] for r in sent] == ["HELLO", "SHARE", "CONFIRM", "DATA", "CLOSE"]
        assert sent[0]["hex"][10:] == party[side]["hello"]
        assert bytes.fromhex(sent[1]["hex"])[5:] == lv_cat(shares[side], ad[side])
        assert sent[2]["hex"][10:] == party[side]["tag"]
    return {
        "description": (
            "blindmatch channel version 2 over TCP (protocol_spec.md §13): CPACE-X25519-SHA512 "
            "of draft-irtf-cfrg-cpace-21 and each side's records in the order sent. Each side's "
            "randomness is SHAKE-256('blindmatch/1 test rng' || seed) read sequentially: the "
            "16-byte hello nonce, then the 32-byte CPace scalar y. Each side queued its "
            "application data and CLOSE before the handshake."
        ),
        "channel_id": TCP_CHANNEL_ID.decode("ascii"),
        "PRS": prs.decode("ascii"),
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
        "records": records,
    }


def render(vector: dict[str, Any]) -> str:
    return json.dumps(vector, indent=1) + "\n"


def _spec_with(text: str, vector: dict[str, Any]) -> str:
    begin, end = MARKERS
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    block = (
        f"{begin}\nGenerated by `tools/make_channel_vector.py`; identical to "
        f"`tests/vectors/{FILE.name}`.\n\n```json\n{render(vector)}```\n{end}"
    )
    return head + block + tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args()
    vector = build()
    spec = SPEC.read_text(encoding="utf-8")
    want_spec = _spec_with(spec, vector)
    stale = [
        p
        for p, now, want in ((FILE, _read(FILE), render(vector)), (SPEC, spec, want_spec))
        if now != want
    ]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run tools/make_channel_vector.py")
        return 1 if stale else 0
    FILE.write_text(render(vector), encoding="utf-8")
    SPEC.write_text(want_spec, encoding="utf-8")
    return 0


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


if __name__ == "__main__":
    sys.exit(main())
