"""Precision and recall of a normalization profile on tests/data/norm_corpus/pairs.json.

Why: issue 21 asks for profile changes that raise recall without losing precision; this
measures both per class of rule on a hand-built corpus of real company names and domains.
A pair matches when the two records share any key of the offered key types (name, domain,
duns; an e-mail field gives its domain key, as psi-run reads e-mail columns).
Run ``python tools/measure_norm_corpus.py``; ``--refuse-conflicts`` / ``--no-refuse-conflicts``
apply or lift the conflicting-strong-keys rule (protocol_spec.md §5.8; default: the profile's),
through the same flavoured keys a session sends.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from blindmatch.accounts.keytypes import normalize_key
from blindmatch.accounts.normalize import PROFILE, email_domain
from blindmatch.accounts.policy import refuse_conflicts_default
from blindmatch.protocol.conflicts import IDENTIFYING_KEY_TYPES, ConflictRule

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "norm_corpus" / "pairs.json"


def keys(record: dict[str, str]) -> set[tuple[str, str]]:
    """The (key type, key) pairs psi-run would derive from one record."""
    out: set[tuple[str, str]] = set()
    for field, raw in record.items():
        if field == "email":
            got = email_domain(raw)
            key_type = "domain"
        elif field == "domain" and "@" in raw and "/" not in raw:
            got = email_domain(raw)
            key_type = "domain"
        else:
            got = normalize_key(field, raw)
            key_type = field
        if got.value is not None:
            out.add((key_type, got.value))
    return out


def meet(a: set[tuple[str, str]], b: set[tuple[str, str]], refuse_conflicts: bool) -> bool:
    """Whether a session would match the two records: a as the exact side, b expanding."""
    if not refuse_conflicts:
        return bool(a & b)
    rule = ConflictRule(identifying=IDENTIFYING_KEY_TYPES, sender_expands=False)
    exact = set(rule.wire_keys(sorted(a), expanding=False))
    return bool(exact & set(rule.wire_keys(sorted(b), expanding=True)))


def main() -> int:
    classes = json.loads(CORPUS.read_text(encoding="utf-8"))["classes"]
    refuse = refuse_conflicts_default(PROFILE)
    if "--refuse-conflicts" in sys.argv[1:]:
        refuse = True
    if "--no-refuse-conflicts" in sys.argv[1:]:
        refuse = False
    print(f"profile {PROFILE}, refuse_conflicts {'on' if refuse else 'off'}")
    print(
        f"{'class':<28} {'pairs':>5} {'TP':>3} {'FP':>3} {'FN':>3} {'precision':>9} {'recall':>7}"
    )
    for name, pairs in classes.items():
        tp = fp = fn = 0
        for pair in pairs:
            hit = meet(keys(pair["a"]), keys(pair["b"]), refuse)
            tp += hit and pair["same"]
            fp += hit and not pair["same"]
            fn += (not hit) and pair["same"]
        prec = f"{tp / (tp + fp):.2f}" if tp + fp else "-"
        rec = f"{tp / (tp + fn):.2f}" if tp + fn else "-"
        print(f"{name:<28} {len(pairs):>5} {tp:>3} {fp:>3} {fn:>3} {prec:>9} {rec:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
