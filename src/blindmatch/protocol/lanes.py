"""From records to lanes: accounts, key slots, masks and sealed payloads.

*Accounts.* Records of one party that share any key value are one account (union-find over
keys), so no key value appears twice on the wire and counts are of accounts, not of keys or of
duplicate CRM rows.

*Slots.* Every account is sent as exactly ``slots`` points: its keys (by key-type priority) and
random dummy points for the rest, in a random order. The partner therefore cannot tell how many
keys an account has, nor which slot holds which key type.

*Lanes.* One lane per disclosure level, each blinded under its own scalar, so that what the
partner can learn about a lane is exactly what that level allows: an account that belongs to a
records-level and a counts-level population is sent once in each lane, and the two copies cannot
be linked. A lane's mask bits name only that lane's populations.

*Payloads.* In the records lane, an account's revealed fields are sealed under a random content
key, and that key is sealed once per slot under a key derived from the slot's OPRF value
H(k)^phi. A partner can derive it only for keys it holds itself.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field

import msgpack  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import InputError, RemoteProtocolError
from .messages import LaneKind
from .model import Disclosure, Record, Terms
from .randomness import Rng, shuffle

__all__ = [
    "Account",
    "OwnLane",
    "build_accounts",
    "build_lanes",
    "encode_key",
    "open_payload",
    "seal_payload",
    "unwrap_content_key",
    "wrap_content_key",
]

DUMMY_PREFIX = b"\xff"
_ZERO_NONCE = b"\x00" * 12
_WRAP_AAD = b"blindmatch/1 wrap"
_PAYLOAD_AAD = b"blindmatch/1 payload"


def encode_key(key_type: str, value: str) -> bytes:
    """The hash-to-curve input for a key: u8 length of the type, the type, the UTF-8 value.

    Key types are at most 55 ASCII bytes, so a first byte of 0xff never starts a real key:
    dummies use that prefix and can never collide with one.
    """
    encoded = key_type.encode("ascii")
    return bytes([len(encoded)]) + encoded + value.encode("utf-8")


@dataclass(frozen=True, slots=True)
class Account:
    """Records of one party linked by shared keys; what one group of slots stands for."""

    records: tuple[int, ...]
    keys: tuple[tuple[str, str], ...]
    populations: frozenset[str]


def build_accounts(
    records: Sequence[Record], key_types: Sequence[str], shared: Set[str], max_slots: int
) -> tuple[list[Account], int]:
    """Merge records sharing a key; returns the accounts and how many keys did not fit.

    Only records in at least one shared population take part: a record of a hidden
    population must not lend its keys to an account through a key it has in common. An
    account keeps at most ``max_slots`` keys, by key-type priority then value.
    """
    priority = {k: i for i, k in enumerate(key_types)}
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    usable: list[int] = []
    for index, record in enumerate(records):
        if shared.isdisjoint(record.populations):
            continue
        has_key = False
        for key in record.keys:
            if key[0] not in priority:
                continue
            has_key = True
            first = owner.setdefault(key, index)
            if first != index:
                a, b = find(first), find(index)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        if has_key:
            usable.append(index)

    members: dict[int, list[int]] = {}
    for index in usable:
        members.setdefault(find(index), []).append(index)

    accounts: list[Account] = []
    dropped = 0
    for root in sorted(members):
        indices = members[root]
        keys = sorted(
            {k for i in indices for k in records[i].keys if k[0] in priority},
            key=lambda k: (priority[k[0]], k[1]),
        )
        dropped += max(0, len(keys) - max_slots)
        populations = frozenset(p for i in indices for p in records[i].populations if p in shared)
        accounts.append(Account(tuple(indices), tuple(keys[:max_slots]), populations))
    return accounts, dropped


@dataclass(slots=True)
class OwnLane:
    """One of our lanes, in the (shuffled) order it goes on the wire."""

    kind: LaneKind
    populations: tuple[str, ...]
    accounts: list[Account]
    #: messages[i * slots + s]: hash-to-curve input of slot s of account i (dummies included)
    messages: list[bytes]
    #: slot_keys[i][s]: the key in that slot, or None for a dummy
    slot_keys: list[tuple[tuple[str, str] | None, ...]]
    masks: bytes
    payloads: list[bytes] = field(default_factory=list)  # plaintexts, padded
    #: records lane of a party that reveals fields: one content key per account, and random
    #: filler for the wraps of dummy slots, drawn up front (see Session._prepare_lanes)
    content_keys: list[bytes] = field(default_factory=list)
    dummy_wraps: list[bytes] = field(default_factory=list)

    @property
    def mask_width(self) -> int:
        return (len(self.populations) + 7) // 8

    def populations_of(self, i: int) -> set[str]:
        """This lane's populations that account i belongs to (its mask, as names)."""
        account = self.accounts[i]
        return {p for p in self.populations if p in account.populations}


def _lane_populations(terms: Terms, disclosure: Disclosure) -> tuple[str, ...]:
    return tuple(p.name for p in terms.populations if p.disclosure is disclosure)


def reveals_fields(terms: Terms) -> bool:
    """Whether a party's records lane carries sealed payloads (known to both from the terms)."""
    return any(p.disclosure is Disclosure.RECORDS and p.fields for p in terms.populations)


def build_lanes(
    *,
    records: Sequence[Record],
    accounts: Sequence[Account],
    terms: Terms,
    slots: int,
    rng: Rng,
) -> list[OwnLane]:
    """Sort accounts into lanes, shuffle them, lay out slots and padded payloads."""
    lanes: list[OwnLane] = []
    with_payload = reveals_fields(terms)
    for kind, level in (("records", Disclosure.RECORDS), ("counts", Disclosure.COUNTS)):
        names = _lane_populations(terms, level)
        if not names:
            continue
        bit = {name: 1 << i for i, name in enumerate(names)}
        # Lanes follow from the terms alone (an empty lane is still declared), so which
        # lanes exist never says anything about the data.
        chosen = [a for a in accounts if any(p in bit for p in a.populations)]
        shuffle(rng, chosen)
        width = (len(names) + 7) // 8
        masks = bytearray()
        messages: list[bytes] = []
        slot_keys: list[tuple[tuple[str, str] | None, ...]] = []
        payloads: list[bytes] = []
        for account in chosen:
            mask = sum(bit[p] for p in account.populations if p in bit)
            masks += mask.to_bytes(width, "little")
            layout: list[tuple[str, str] | None] = list(account.keys)
            layout += [None] * (slots - len(layout))
            shuffle(rng, layout)
            slot_keys.append(tuple(layout))
            for key in layout:
                messages.append(
                    encode_key(*key) if key is not None else DUMMY_PREFIX + rng(32)
                )
            if kind == "records" and with_payload:
                payloads.append(_payload_plaintext(records, account, terms, names))
        lanes.append(
            OwnLane(
                kind=kind,  # type: ignore[arg-type]
                populations=names,
                accounts=chosen,
                messages=messages,
                slot_keys=slot_keys,
                masks=bytes(masks),
                payloads=payloads,
            )
        )
    return lanes


def _payload_plaintext(
    records: Sequence[Record], account: Account, terms: Terms, names: tuple[str, ...]
) -> bytes:
    """Revealed fields of the account's records-level records, padded to a fixed size."""
    allowed: dict[str, set[str]] = {
        p.name: set(p.fields) for p in terms.populations if p.name in names
    }
    rows: list[dict[str, str]] = []
    for index in account.records:
        record = records[index]
        permitted: set[str] = set()
        for pop in record.populations:
            permitted |= allowed.get(pop, set())
        row = {k: v for k, v in sorted(record.fields.items()) if k in permitted and v}
        if row:
            rows.append(row)
    body: bytes = msgpack.packb(rows, use_bin_type=True)
    limit = terms.payload_bytes - 4
    if len(body) > limit:
        ids = ", ".join(records[i].record_id for i in account.records[:3])
        raise InputError(
            f"revealed fields of account ({ids}) take {len(body)} bytes, more than the "
            f"{limit} that payload_bytes={terms.payload_bytes} allows; raise payload_bytes "
            f"in the policy or reveal fewer fields"
        )
    return struct.pack(">I", len(body)) + body + b"\x00" * (limit - len(body))


def _wrap_key(oprf_point: bytes, agreement_id: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=agreement_id, info=_WRAP_AAD
    ).derive(oprf_point)


def wrap_content_key(content_key: bytes, oprf_point: bytes, agreement_id: bytes) -> bytes:
    """Seal a 32-byte content key under HKDF(H(k)^phi): 48 bytes."""
    aead = ChaCha20Poly1305(_wrap_key(oprf_point, agreement_id))
    return aead.encrypt(_ZERO_NONCE, content_key, _WRAP_AAD)


def unwrap_content_key(wrap: bytes, oprf_point: bytes, agreement_id: bytes) -> bytes | None:
    """The content key, or None if this OPRF value does not open this wrap."""
    from cryptography.exceptions import InvalidTag

    aead = ChaCha20Poly1305(_wrap_key(oprf_point, agreement_id))
    try:
        return aead.decrypt(_ZERO_NONCE, wrap, _WRAP_AAD)
    except InvalidTag:
        return None


def seal_payload(plaintext: bytes, content_key: bytes, agreement_id: bytes) -> bytes:
    return ChaCha20Poly1305(content_key).encrypt(
        _ZERO_NONCE, plaintext, _PAYLOAD_AAD + agreement_id
    )


def open_payload(
    sealed: bytes, content_key: bytes, agreement_id: bytes, *, where: str
) -> tuple[Mapping[str, str], ...]:
    """Decrypt and decode a revealed-fields payload; any defect is the peer's fault."""
    from cryptography.exceptions import InvalidTag

    try:
        plain = ChaCha20Poly1305(content_key).decrypt(
            _ZERO_NONCE, sealed, _PAYLOAD_AAD + agreement_id
        )
    except InvalidTag:
        raise RemoteProtocolError(f"{where}: sealed payload does not authenticate") from None
    (length,) = struct.unpack_from(">I", plain)
    if length > len(plain) - 4:
        raise RemoteProtocolError(f"{where}: payload length field is out of range")
    try:
        rows = msgpack.unpackb(
            plain[4 : 4 + length], raw=False, max_str_len=len(plain), max_array_len=4096
        )
    except (ValueError, msgpack.UnpackException, TypeError):
        raise RemoteProtocolError(f"{where}: payload is not valid msgpack") from None
    if not isinstance(rows, list) or not all(
        isinstance(r, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in r.items())
        for r in rows
    ):
        raise RemoteProtocolError(f"{where}: payload is not a list of field maps")
    return tuple(rows)
