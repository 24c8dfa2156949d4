"""Refusing name matches between accounts whose strong keys conflict (protocol_spec.md §5.8).

Two accounts that share a name while each carries a domain (or each a DUNS number) and the
two do not match are almost always different companies with the same name (Delta Air Lines and
Delta Dental). With ``refuse_conflicts`` agreed, a *guarded* key (``name``) of one account
matches the same key of the partner's account only if no *identifying* key type (``domain``,
``duns``) is carried by both accounts. Equal identifying keys still match as always, so the
same company written alike on both sides is never lost.

Matching is equality of blinded points, so the rule is built into the points: a guarded key is
sent with a *flavour*, the set of agreed identifying types its account carries. One party (the
*exact* side) sends each guarded key once, with its account's flavour ``a``; the other (the
*expanding* side, carrying ``b``) sends it once for every flavour ``v`` with ``v ∩ b = ∅``.
The two meet exactly when ``a ∩ b = ∅``.

Whoever sends several flavours of one key learns which of them matched wherever it learns its
own elements one by one: against a records-level lane of the partner. So the expanding side is
the party whose *partner* has no records-level population. When both have one, no encoding of
this kind can hide the partner's flavour (protocol_spec.md §5.8 shows why): the rule then runs
only if both policies said ``refuse_conflicts = true`` explicitly, which makes that disclosure an
agreed term; otherwise (the default, ``auto``) it is off for the session, and the terms say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import Final

from ..errors import AgreementError
from .model import Disclosure, Terms

__all__ = [
    "GUARDED_KEY_TYPES",
    "IDENTIFYING_KEY_TYPES",
    "ConflictRule",
    "agree_conflict_rule",
    "conflict_rule_waived",
    "raw_key",
]

#: Key types whose unequal values on both sides mean different companies, in flavour-bit order.
IDENTIFYING_KEY_TYPES: Final = ("domain", "duns")
#: Key types that match only when the two accounts' identifying keys do not conflict.
GUARDED_KEY_TYPES: Final = ("name",)
#: Separates a guarded type from its flavour on the wire; no real key type contains it.
FLAVOUR_SEPARATOR: Final = "/"

Key = tuple[str, str]


def flavour_tag(carried: frozenset[str] | set[str]) -> str:
    """The flavour as on the wire: one ``0``/``1`` per identifying type, in fixed order."""
    return "".join("1" if t in carried else "0" for t in IDENTIFYING_KEY_TYPES)


def raw_key(key: Key) -> Key:
    """The (key type, value) a wire key stands for: a flavoured ``name/10`` is ``name``."""
    kind = key[0]
    cut = kind.find(FLAVOUR_SEPARATOR)
    return key if cut < 0 else (kind[:cut], key[1])


@dataclass(frozen=True, slots=True)
class ConflictRule:
    """The agreed rule: which identifying types count, and whether we expand or send exact."""

    #: the agreed identifying key types (non-empty), in :data:`IDENTIFYING_KEY_TYPES` order
    identifying: tuple[str, ...]
    #: True when the sender expands, False when the receiver does
    sender_expands: bool
    #: Both sides share records-level populations and both agreed that the expanding side
    #: learns the exact side's flavour of each account matched by a name alone (never values)
    reveals_flavours: bool = False

    def expands(self, is_sender: bool) -> bool:
        """Whether the party in this role sends every compatible flavour of a guarded key."""
        return self.sender_expands is is_sender

    def wire_keys(self, keys: Sequence[Key], expanding: bool) -> tuple[Key, ...]:
        """An account's keys as sent: each guarded key flavoured, in place (so the order stays
        key-type priority, then value, then flavour)."""
        if not any(k[0] in GUARDED_KEY_TYPES for k in keys):
            return tuple(keys)
        carried = frozenset(t for t, _ in keys if t in self.identifying)
        tags = _tags(self.identifying, carried, expanding)
        out: list[Key] = []
        for key in keys:
            if key[0] in GUARDED_KEY_TYPES:
                out.extend((key[0] + FLAVOUR_SEPARATOR + tag, key[1]) for tag in tags)
            else:
                out.append(key)
        return tuple(out)


@lru_cache(maxsize=64)
def _tags(identifying: tuple[str, ...], carried: frozenset[str], expanding: bool) -> list[str]:
    """The flavours a guarded key of an account carrying ``carried`` is sent with: its own
    (exact side), or every one disjoint from it (expanding side), in wire-tag order."""
    if not expanding:
        return [flavour_tag(carried)]
    free = [t for t in identifying if t not in carried]
    return sorted(
        flavour_tag(set(chosen)) for n in range(len(free) + 1) for chosen in combinations(free, n)
    )


def _has_records(terms: Terms) -> bool:
    return any(p.disclosure is Disclosure.RECORDS for p in terms.populations)


def _identifying_in_force(key_types: Sequence[str]) -> tuple[str, ...]:
    """The agreed identifying types if the rule can change anything (a guarded type and an
    identifying one agreed), else ()."""
    if not any(t in key_types for t in GUARDED_KEY_TYPES):
        return ()
    return tuple(t for t in IDENTIFYING_KEY_TYPES if t in key_types)


def _stance(terms: Terms) -> str:
    """What a party's policy said, as far as its terms show (for agreement errors)."""
    if terms.reveal_flavours:
        return "keys.refuse_conflicts = true"
    if terms.refuse_conflicts:
        return 'keys.refuse_conflicts unset or "auto" (the default)'
    return "keys.refuse_conflicts off (false, or unset where its profile's default is off)"


def agree_conflict_rule(
    sender: Terms, receiver: Terms, key_types: Sequence[str]
) -> ConflictRule | None:
    """The rule both parties will apply, or None; :class:`AgreementError` if they cannot agree.

    The rule is in force only when the agreed key types include a guarded and an identifying
    type (otherwise it changes nothing, and nothing is encoded differently). When at most one
    side shares a records-level population, both must propose the same ``refuse_conflicts``,
    and the side with records-level populations expands (the receiver if neither has one).
    When both do and the rule would be in force, it runs only if both policies set it
    explicitly to true (then the sender expands and learns the receiver's flavours:
    :attr:`ConflictRule.reveals_flavours`); one explicit true against anything else is an
    error, and otherwise the rule is off.
    """
    identifying = _identifying_in_force(key_types)
    sender_records, receiver_records = _has_records(sender), _has_records(receiver)
    if sender_records and receiver_records:
        if not identifying:
            return None  # nothing would be flavoured or refused, so nothing to disagree on
        if sender.reveal_flavours != receiver.reveal_flavours:
            off = receiver if sender.reveal_flavours else sender
            on_role, off_role = (
                ("sender", "receiver") if sender.reveal_flavours else ("receiver", "sender")
            )
            raise AgreementError(
                f"the {on_role} set keys.refuse_conflicts = true, which with records-level "
                "populations on both sides runs the conflicting-names rule and tells the sender "
                "which identifying key types (domain, DUNS) the receiver's accounts matched by a "
                f"name alone carry; the {off_role} has {_stance(off)}; both must set "
                "keys.refuse_conflicts = true to run it, or neither"
            )
        if not sender.reveal_flavours:
            return None
        return ConflictRule(identifying=identifying, sender_expands=True, reveals_flavours=True)
    if sender.refuse_conflicts != receiver.refuse_conflicts:
        on_role, off_role = (
            ("sender", "receiver") if sender.refuse_conflicts else ("receiver", "sender")
        )
        raise AgreementError(
            f"the {on_role} refuses name matches between conflicting strong keys "
            f"(refuse_conflicts) and the {off_role} does not; both must set "
            "keys.refuse_conflicts the same in their policies"
        )
    if not sender.refuse_conflicts or not identifying:
        return None
    # The expanding side must never learn its own elements one by one, so its partner (the
    # exact side) has no records-level lane: the side with records-level populations expands.
    # With no records lane anywhere, the receiver expands.
    return ConflictRule(identifying=identifying, sender_expands=sender_records)


def conflict_rule_waived(
    sender: Terms, receiver: Terms, key_types: Sequence[str], rule: ConflictRule | None
) -> bool:
    """Whether the rule is off only because both sides share records-level populations: some
    side proposed it by default, it would be in force, and not both set it explicitly."""
    return (
        rule is None
        and bool(_identifying_in_force(key_types))
        and _has_records(sender)
        and _has_records(receiver)
        and (sender.refuse_conflicts or receiver.refuse_conflicts)
    )
