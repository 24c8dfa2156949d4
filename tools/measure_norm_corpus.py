"""Precision and recall of the normalization profiles on tests/data/norm_corpus/pairs.json.

Why: issue 21 asks for profile changes that raise recall without losing precision; this
measures both per class of rule on a hand-built corpus of real company names and domains, for
every profile side by side. A record's keys are what psi-run derives with the recommended
policy (domain, name, duns; phone when the corpus gives one): each field through the
profile's normalizer (an e-mail field, or a website cell holding an address, gives its domain
key, as psi-run reads e-mail columns), every name of a cell (bm-norm/2 aliases), then
:func:`~blindmatch.accounts.normalize.record_keys` (bm-norm/2 brand keys and free-mail
websites). Two matching rules are reported:

- ``any key``: the pair matches when the records share any key (what the engine does today);
- ``+conflict``: the conflicting-strong-keys rule (protocol_spec.md §5.8) applied through the
  same flavoured keys a session sends: a pair sharing only a name is refused when both records
  carry a domain, or both a DUNS.

Run ``python tools/measure_norm_corpus.py [--markdown]``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from blindmatch.accounts.keytypes import normalize_key
from blindmatch.accounts.normalize import PROFILES, email_domain, record_keys
from blindmatch.protocol.conflicts import IDENTIFYING_KEY_TYPES, ConflictRule

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "norm_corpus" / "pairs.json"

Key = tuple[str, str]


def keys(record: dict[str, str], profile: str) -> list[Key]:
    """The (key type, key) pairs psi-run would derive from one record under ``profile``."""
    out: list[Key] = []
    for field, raw in record.items():
        if field == "email" or (field == "domain" and "@" in raw and "/" not in raw):
            got = email_domain(raw, profile=profile)
            key_type = "domain"
        else:
            region = "US" if field == "phone" else None
            got = normalize_key(field, raw, region=region, profile=profile)
            key_type = field
        for value in got.values:
            if (key_type, value) not in out:
                out.append((key_type, value))
    return record_keys(out, profile)


def matches(a: list[Key], b: list[Key], conflict_rule: bool) -> bool:
    """Whether a session would match the two records: a as the exact side, b expanding."""
    if not conflict_rule:
        return bool(set(a) & set(b))
    rule = ConflictRule(identifying=IDENTIFYING_KEY_TYPES, sender_expands=False)
    exact = set(rule.wire_keys(sorted(a), expanding=False))
    return bool(exact & set(rule.wire_keys(sorted(b), expanding=True)))


def measure(
    classes: dict[str, list[dict[str, object]]], profile: str, conflict_rule: bool
) -> dict[str, tuple[int, int, int, int]]:
    """Per class: (pairs, true positives, false positives, false negatives)."""
    out: dict[str, tuple[int, int, int, int]] = {}
    for name, pairs in classes.items():
        tp = fp = fn = 0
        for pair in pairs:
            a, b = pair["a"], pair["b"]
            assert isinstance(a, dict) and isinstance(b, dict)
            hit = matches(keys(a, profile), keys(b, profile), conflict_rule)
            tp += hit and bool(pair["same"])
            fp += hit and not pair["same"]
            fn += (not hit) and bool(pair["same"])
        out[name] = (len(pairs), tp, fp, fn)
    return out


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.3f}" if den else "-"


def main(argv: list[str]) -> int:
    classes = json.loads(CORPUS.read_text(encoding="utf-8"))["classes"]
    markdown = "--markdown" in argv
    for conflict_rule in (False, True):
        rule = "+conflict" if conflict_rule else "any key"
        results = {p: measure(classes, p, conflict_rule) for p in PROFILES}
        head = ["class", "pairs"] + [
            f"{p} {col}" for p in PROFILES for col in ("TP/FP/FN", "precision", "recall")
        ]
        rows = []
        totals = {p: [0, 0, 0, 0] for p in PROFILES}
        for name in classes:
            row = [name, str(results[PROFILES[0]][name][0])]
            for p in PROFILES:
                n, tp, fp, fn = results[p][name]
                totals[p] = [t + v for t, v in zip(totals[p], (n, tp, fp, fn), strict=True)]
                row += [f"{tp}/{fp}/{fn}", _ratio(tp, tp + fp), _ratio(tp, tp + fn)]
            rows.append(row)
        row = ["all", str(totals[PROFILES[0]][0])]
        for p in PROFILES:
            _, tp, fp, fn = totals[p]
            row += [f"{tp}/{fp}/{fn}", _ratio(tp, tp + fp), _ratio(tp, tp + fn)]
        rows.append(row)
        print(f"\nmatching rule: {rule}\n")
        if markdown:
            print("| " + " | ".join(head) + " |")
            print("|" + "---|" * len(head))
            for r in rows:
                print("| " + " | ".join(r) + " |")
        else:
            widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
            for r in [head, *rows]:
                print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
