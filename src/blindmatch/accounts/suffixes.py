"""Public Suffix List lookups for the normalizer: one dict probe per label, walked from the TLD.

The normalizer asks two questions of every host (its registrable domain, and whether the host
is itself a public suffix), a million times per export. ``publicsuffixlist`` answers them by
joining and probing three rule forms at every depth from the longest possible suffix down;
here the same rules (parsed from the same bytes, the pinned list in ``data/``) sit in one dict
keyed by suffix, which also holds every tail of a rule, so the walk from the TLD stops at the
first tail no rule ends with: two probes for ``www.acme.com``.

The answers are those of ``publicsuffixlist.PublicSuffixList(source, accept_unknown=False,
only_icann=...)`` for every ``str`` (the tests compare both on the normalization vectors and on
random hosts built from the list's own suffixes), including its reading of the rules: the most
specific rule wins; an exception rule ``!a.b.c`` makes ``b.c`` public; a wildcard ``*.b.c``
makes ``b.c`` public and, with one more label, ``x.b.c`` too.
"""

from __future__ import annotations

from typing import Final

__all__ = ["SuffixList"]

# Flags of a suffix in the rule table; 0 means "only a tail of some longer rule".
_EXACT: Final = 1
_WILDCARD: Final = 2
_EXCEPTION: Final = 4

_ICANN_BEGIN: Final = "// ===BEGIN ICANN DOMAINS==="
_ICANN_END: Final = "// ===END ICANN DOMAINS==="


def _rules(source: bytes, only_icann: bool) -> set[str]:
    """The rule strings as publicsuffixlist reads them: lowercased, the first word of a line,
    comments skipped, each Unicode rule also in its IDNA 2003 (Python codec) form."""
    rules: set[str] = set()
    in_icann = False
    for raw_line in source.splitlines():
        line = raw_line.decode("utf-8", "surrogateescape")
        if only_icann:
            marker = line.rstrip()
            if marker == _ICANN_BEGIN:
                in_icann = True
                continue
            if marker == _ICANN_END:
                in_icann = False
                continue
            if not in_icann:
                continue
        rule = line.lower().split(" ")[0].rstrip()
        if rule == "" or rule.startswith("//"):
            continue
        rules.add(rule)
        encoded = rule.lstrip("!").encode("idna").decode("ascii")
        rules.add("!" + encoded if rule[0] == "!" else encoded)
    return rules


class SuffixList:
    """The Public Suffix List in ``source`` (bytes of a ``.dat`` file), unknown TLDs not
    public; ``only_icann`` honours the ICANN section alone."""

    __slots__ = ("_table", "_max_depth")

    def __init__(self, source: bytes, *, only_icann: bool = False) -> None:
        rules = _rules(source, only_icann)
        table: dict[str, int] = {}
        for rule in rules:
            table[rule] = table.get(rule, 0) | _EXACT
            if rule.startswith("!"):
                table[rule[1:]] = table.get(rule[1:], 0) | _EXCEPTION
            if rule.startswith("*."):
                table[rule[2:]] = table.get(rule[2:], 0) | _WILDCARD
        for key in list(table):
            dot = key.find(".")
            while dot >= 0:
                table.setdefault(key[dot + 1 :], 0)
                dot = key.find(".", dot + 1)
        self._table = table
        # No rule has more labels than the longest rule (the library's own bound on the walk).
        self._max_depth = max((rule.count(".") + 1 for rule in rules), default=0) + 1

    def _public_depth(self, host: str) -> tuple[str, int, int]:
        """(lowered host, its label count, labels of its public suffix; 0: none, or invalid)."""
        if host[-1:] == ".":
            host = host[:-1]
        host = host.lower()
        if not host or host[0] == "." or host[-1] == "." or ".." in host:
            return host, 0, 0
        labels = host.count(".") + 1
        limit = labels if labels < self._max_depth else self._max_depth
        get = self._table.get
        public = 0
        depth = 1
        dot = host.rfind(".")
        while (flags := get(host[dot + 1 :])) is not None:
            if flags:
                if flags & _EXCEPTION:
                    public = depth - 1
                elif flags & _WILDCARD:
                    public = depth + 1 if depth < labels else depth
                else:
                    public = depth
            if depth == limit:
                break
            depth += 1
            dot = host.rfind(".", 0, dot)
        return host, labels, public

    def privatesuffix(self, host: str) -> str | None:
        """The registrable domain of ``host`` (public suffix plus one label), lowercased;
        None for a public suffix itself, an unknown TLD, or an empty label."""
        host, labels, public = self._public_depth(host)
        if not public or labels <= public:
            return None
        if labels == public + 1:
            return host
        end = len(host)
        for _ in range(public + 1):
            end = host.rfind(".", 0, end)
        return host[end + 1 :]

    def is_public(self, host: str) -> bool:
        """True if ``host`` is itself a public suffix (``co.uk``, ``github.io``)."""
        _, labels, public = self._public_depth(host)
        return bool(public) and public == labels
