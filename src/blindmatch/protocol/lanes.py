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
from array import array
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, overload

import msgpack  # type: ignore[import-untyped]

from ..crypto import open_sealed_payload
from ..errors import InputError, RemoteProtocolError
from .conflicts import ConflictRule
from .messages import LaneKind
from .model import Disclosure, Record, Terms
from .randomness import Rng, shuffle

__all__ = [
    "Account",
    "Accounts",
    "OwnLane",
    "build_accounts",
    "build_lanes",
    "encode_key",
    "open_payload",
]

DUMMY_PREFIX = b"\xff"


def encode_key(key_type: str, value: str) -> bytes:
    """The hash-to-curve input for a key: u8 length of the type, the type, the UTF-8 value.

    Key types are at most 55 ASCII bytes, so a first byte of 0xff never starts a real key:
    dummies use that prefix and can never collide with one.
    """
    encoded = key_type.encode("ascii")
    return bytes([len(encoded)]) + encoded + value.encode("utf-8")


@dataclass(slots=True)
class Account:
    """Records of one party linked by shared keys; what one group of slots stands for.

    A view: :class:`Accounts` keeps accounts as parallel lists and makes these on request.
    """

    records: tuple[int, ...]
    keys: tuple[tuple[str, str], ...]
    populations: frozenset[str]


class Accounts(Sequence[Account]):
    """A party's accounts, in the order of their first record.

    Kept as parallel lists rather than one object per account: a million accounts then cost
    no million objects to create, to scan for garbage, or to keep in memory. Accounts of one
    record (the usual case) share the record's own keys tuple and an interned populations
    set; only merged accounts store their record indices.
    """

    __slots__ = ("first", "keys", "populations", "merged")

    def __init__(self) -> None:
        #: index of each account's first (smallest) record; machine integers, not a list of
        #: int objects (36 MB at a million accounts, against 8)
        self.first: array[int] = array("q")
        #: each account's keys, by key-type priority then value, at most ``slots``; under a
        #: conflict rule, its wire keys (flavoured names, protocol_spec.md §5.8)
        self.keys: list[tuple[tuple[str, str], ...]] = []
        #: each account's shared populations (equal sets are one object)
        self.populations: list[frozenset[str]] = []
        #: account number -> all its record indices, for accounts of several records
        self.merged: dict[int, tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self.first)

    @overload
    def __getitem__(self, i: int) -> Account: ...

    @overload
    def __getitem__(self, i: slice) -> list[Account]: ...

    def __getitem__(self, i: int | slice) -> Account | list[Account]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        return Account(self.records(i), self.keys[i], self.populations[i])

    def records(self, i: int) -> tuple[int, ...]:
        """The record indices of account i."""
        merged = self.merged.get(i)
        return merged if merged is not None else (self.first[i],)


def build_accounts(
    records: Sequence[Record],
    key_types: Sequence[str],
    shared: Set[str],
    max_slots: int,
    *,
    conflicts: ConflictRule | None = None,
    expanding: bool = False,
) -> tuple[Accounts, int]:
    """Merge records sharing a key; returns the accounts and how many keys did not fit.

    Only records in at least one shared population take part: a record of a hidden
    population must not lend its keys to an account through a key it has in common. An
    account keeps at most ``max_slots`` keys, by key-type priority then value. Accounts come
    in the order of their first record.

    With a conflict rule (protocol_spec.md §5.8) records still merge on their plain keys, and
    then each account's guarded keys are flavoured (several times when ``expanding``): the
    keys kept are the wire keys, and :func:`~.conflicts.raw_key` maps them back.
    """
    priority = {k: i for i, k in enumerate(key_types)}
    #: union-find over record indices, sparse: only records that share a key get an entry
    parent: dict[int, int] = {}

    def find(i: int) -> int:
        root = i
        while (up := parent.get(root, root)) != root:
            root = up
        while i != root:  # path compression
            parent[i], i = root, parent[i]
        return root

    owner: dict[tuple[str, str], int] = {}
    setdefault = owner.setdefault
    usable: list[int] = []
    keep = usable.append
    isdisjoint = shared.isdisjoint
    for index, record in enumerate(records):
        if isdisjoint(record.populations):
            continue
        has_key = False
        for key in record.keys:
            if key[0] not in priority:
                continue
            has_key = True
            first = setdefault(key, index)
            if first != index:
                a, b = find(first), find(index)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        if has_key:
            keep(index)
    del owner

    # Components of more than one record, keyed by their root (the smallest index).
    members: dict[int, list[int]] = {}
    for index in sorted(parent):
        members.setdefault(find(index), []).append(index)

    def sort_key(k: tuple[str, str]) -> tuple[int, str]:
        return priority[k[0]], k[1]

    # Equal population sets share one frozenset object.
    interned: dict[frozenset[str], frozenset[str]] = {}
    accounts = Accounts()
    push_first = accounts.first.append
    push_keys = accounts.keys.append
    push_pops = accounts.populations.append
    merged = accounts.merged
    dropped = 0
    for index in usable:
        if index in parent:
            continue  # merged into an account with a smaller first record
        group = members.get(index)
        if group is None:
            record = records[index]
            keys = record.keys
            if len(keys) != 1 or type(keys) is not tuple:
                # (One key in a tuple is already the answer: the record is usable, so it is
                # of an agreed type.)
                keys = tuple(sorted({k for k in keys if k[0] in priority}, key=sort_key))
            pops = record.populations
            if type(pops) is not frozenset:
                pops = frozenset(pops)
        else:
            indices = (index, *group)
            merged[len(accounts.first)] = indices
            keys = tuple(
                sorted(
                    {k for i in indices for k in records[i].keys if k[0] in priority},
                    key=sort_key,
                )
            )
            pops = frozenset(p for i in indices for p in records[i].populations)
        populations = interned.get(pops)
        if populations is None:
            populations = interned[pops] = frozenset(p for p in pops if p in shared)
        if conflicts is not None:
            keys = conflicts.wire_keys(keys, expanding)
        if len(keys) > max_slots:
            dropped += len(keys) - max_slots
            keys = keys[:max_slots]
        push_first(index)
        push_keys(keys)
        push_pops(populations)
    return accounts, dropped


class _Prefixes(dict[str, bytes]):
    """key type -> the start of its hash-to-curve input (:func:`encode_key` with no value)."""

    def __missing__(self, key_type: str) -> bytes:
        prefix = self[key_type] = encode_key(key_type, "")
        return prefix


class _OneSlot(Sequence[Any]):
    """A lane's per-account values in lane order, computed on request from the account
    number (lanes of one slot: nothing to lay out or draw)."""

    __slots__ = ("_members", "_get")

    def __init__(self, members: Sequence[int], get: Callable[[int], Any]) -> None:
        self._members = members
        self._get = get

    def __len__(self) -> int:
        return len(self._members)

    @overload
    def __getitem__(self, i: int) -> Any: ...

    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return list(map(self._get, self._members[i]))
        return self._get(self._members[i])


@dataclass(slots=True)
class OwnLane:
    """One of our lanes, in the (shuffled) order it goes on the wire."""

    kind: LaneKind
    populations: tuple[str, ...]
    #: all our accounts, and the numbers of this lane's, in lane order
    book: Accounts
    members: Sequence[int]
    #: messages[i * slots + s]: hash-to-curve input of slot s of account i (dummies included)
    messages: Sequence[bytes]
    #: slot_keys[i][s]: the key in that slot, or None for a dummy
    slot_keys: Sequence[tuple[tuple[str, str] | None, ...]]
    masks: bytes
    payloads: list[bytes] = field(default_factory=list)  # plaintexts, padded
    #: records lane of a party that reveals fields: one content key per account, and random
    #: filler for the wraps of dummy slots, drawn up front (see Session._prepare_lanes)
    content_keys: list[bytes] = field(default_factory=list)
    dummy_wraps: list[bytes] = field(default_factory=list)

    @property
    def mask_width(self) -> int:
        return (len(self.populations) + 7) // 8

    @property
    def size(self) -> int:
        """Accounts in this lane."""
        return len(self.members)

    def records_of(self, i: int) -> tuple[int, ...]:
        """Record indices of the lane's account i."""
        return self.book.records(self.members[i])

    def populations_of(self, i: int) -> set[str]:
        """This lane's populations that account i belongs to (its mask, as names)."""
        account = self.book.populations[self.members[i]]
        return {p for p in self.populations if p in account}


def _lane_populations(terms: Terms, disclosure: Disclosure) -> tuple[str, ...]:
    return tuple(p.name for p in terms.populations if p.disclosure is disclosure)


def reveals_fields(terms: Terms) -> bool:
    """Whether a party's records lane carries sealed payloads (known to both from the terms)."""
    return any(p.disclosure is Disclosure.RECORDS and p.fields for p in terms.populations)


def build_lanes(
    *,
    records: Sequence[Record],
    accounts: Accounts,
    terms: Terms,
    slots: int,
    rng: Rng,
) -> list[OwnLane]:
    """Sort accounts into lanes, shuffle them, lay out slots and padded payloads."""
    lanes: list[OwnLane] = []
    with_payload = reveals_fields(terms)
    prefixes = _Prefixes()
    account_keys = accounts.keys
    account_pops = accounts.populations
    one_slot_messages: list[bytes] | None = None
    for kind, level in (("records", Disclosure.RECORDS), ("counts", Disclosure.COUNTS)):
        names = _lane_populations(terms, level)
        if not names:
            continue
        bit = {name: 1 << i for i, name in enumerate(names)}
        width = (len(names) + 7) // 8
        # Accounts share their population sets (build_accounts interns them): one mask each.
        encoded: dict[frozenset[str], bytes] = {}
        distinct = set(account_pops)
        for pops in distinct:
            mask = sum(bit[p] for p in pops if p in bit)
            if mask:
                encoded[pops] = mask.to_bytes(width, "little")
        # Lanes follow from the terms alone (an empty lane is still declared), so which
        # lanes exist never says anything about the data.
        # Account numbers in lane order, as machine integers (a list of a million int
        # objects would cost 36 MB through the whole session; this costs 8).
        if len(encoded) == len(distinct):
            chosen = array("q", range(len(accounts)))
        else:
            chosen = array("q", (a for a, pops in enumerate(account_pops) if pops in encoded))
        shuffle(rng, chosen)
        masks = b"".join(map(encoded.__getitem__, map(account_pops.__getitem__, chosen)))
        messages: Sequence[bytes]
        slot_keys: Sequence[tuple[tuple[str, str] | None, ...]]
        payloads: list[bytes] = []
        if slots == 1:
            # One slot: every account has exactly one key, no dummy and nothing to shuffle
            # (a one-item shuffle draws nothing). Messages are encoded in account order (the
            # order the keys sit in memory) and picked in lane order when they are hashed.
            if one_slot_messages is None:
                one_slot_messages = [
                    prefixes[key_type] + value.encode("utf-8")
                    for ((key_type, value),) in account_keys
                ]
            messages = _OneSlot(chosen, one_slot_messages.__getitem__)
            slot_keys = _OneSlot(chosen, account_keys.__getitem__)
        else:
            laid: list[bytes] = []
            layouts: list[tuple[tuple[str, str] | None, ...]] = []
            for a in chosen:
                layout: list[tuple[str, str] | None] = list(account_keys[a])
                layout += [None] * (slots - len(layout))
                shuffle(rng, layout)
                layouts.append(tuple(layout))
                for key in layout:
                    laid.append(encode_key(*key) if key is not None else DUMMY_PREFIX + rng(32))
            messages, slot_keys = laid, layouts
        if kind == "records" and with_payload:
            payloads = [
                _payload_plaintext(records, accounts.records(a), terms, names) for a in chosen
            ]
        lanes.append(
            OwnLane(
                kind=kind,  # type: ignore[arg-type]
                populations=names,
                book=accounts,
                members=chosen,
                messages=messages,
                slot_keys=slot_keys,
                masks=masks,
                payloads=payloads,
            )
        )
    return lanes


def _payload_plaintext(
    records: Sequence[Record], indices: tuple[int, ...], terms: Terms, names: tuple[str, ...]
) -> bytes:
    """Revealed fields of the account's records-level records, padded to a fixed size."""
    allowed: dict[str, set[str]] = {
        p.name: set(p.fields) for p in terms.populations if p.name in names
    }
    rows: list[dict[str, str]] = []
    for index in indices:
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
        ids = ", ".join(records[i].record_id for i in indices[:3])
        raise InputError(
            f"revealed fields of account ({ids}) take {len(body)} bytes, more than the "
            f"{limit} that payload_bytes={terms.payload_bytes} allows; raise payload_bytes "
            f"in the policy or reveal fewer fields"
        )
    return struct.pack(">I", len(body)) + body + b"\x00" * (limit - len(body))


def open_payload(
    sealed: bytes, content_key: bytes, agreement_id: bytes, *, where: str
) -> tuple[Mapping[str, str], ...]:
    """Decrypt and decode a revealed-fields payload; any defect is the peer's fault."""
    plain = open_sealed_payload(sealed, content_key, agreement_id)
    if plain is None:
        raise RemoteProtocolError(f"{where}: sealed payload does not authenticate")
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
